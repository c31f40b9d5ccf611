#if canImport(Glibc)
import Glibc
#endif

/// A Swift value that lives in BPF memory (a global variable, a map key or
/// value) with the C layout its BTF type describes. Generated skeleton types
/// conform to it: they read and write each member at its BTF offset, so the
/// Swift layout of the type never matters.
public protocol BTFCodable {
    /// The size of the C type in bytes (BTF's resolved size).
    static var btfSize: Int { get }
    /// Reads a value from `btfBytes` (at least `btfSize` bytes, C layout).
    init(btfBytes: UnsafeRawBufferPointer)
    /// Writes the value into `btfBytes` (at least `btfSize` bytes, C layout).
    func encode(btfBytes: UnsafeMutableRawBufferPointer)
}

extension BTFCodable {
    /// The codec of this type, for arrays and generic accessors.
    public static var btfCodec: BTFCodec<Self> {
        BTFCodec(size: btfSize, decode: { Self(btfBytes: $0) }, encode: { $0.encode(btfBytes: $1) })
    }

    /// The value's bytes in its C layout.
    public var btfBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.btfSize)
        out.withUnsafeMutableBytes { encode(btfBytes: $0) }
        return out
    }

    /// Decodes a value from `bytes` (exactly `btfSize` bytes, else nil).
    public init?(btfBytes bytes: [UInt8]) {
        guard bytes.count == Self.btfSize else { return nil }
        self = bytes.withUnsafeBytes { Self(btfBytes: $0) }
    }
}

/// Integers and floating-point numbers are stored as the machine stores them
/// (BPF runs on the same host, so the byte order is the host's).
public protocol BTFScalar: BTFCodable, BitwiseCopyable {}

extension BTFScalar {
    public static var btfSize: Int { MemoryLayout<Self>.size }
    public init(btfBytes b: UnsafeRawBufferPointer) {
        precondition(b.count >= MemoryLayout<Self>.size, "BTF value of \(Self.self) needs \(MemoryLayout<Self>.size) bytes")
        self = b.loadUnaligned(as: Self.self)
    }
    public func encode(btfBytes b: UnsafeMutableRawBufferPointer) {
        precondition(b.count >= MemoryLayout<Self>.size, "BTF value of \(Self.self) needs \(MemoryLayout<Self>.size) bytes")
        b.storeBytes(of: self, as: Self.self)
    }
}

extension Int8: BTFScalar {}
extension Int16: BTFScalar {}
extension Int32: BTFScalar {}
extension Int64: BTFScalar {}
extension UInt8: BTFScalar {}
extension UInt16: BTFScalar {}
extension UInt32: BTFScalar {}
extension UInt64: BTFScalar {}
extension Int128: BTFScalar {}
extension UInt128: BTFScalar {}
extension Float: BTFScalar {}
extension Double: BTFScalar {}

/// C `bool`/`_Bool`: one byte, any non-zero value reads as true.
extension Bool: BTFCodable {
    public static var btfSize: Int { 1 }
    public init(btfBytes b: UnsafeRawBufferPointer) {
        precondition(b.count >= 1, "BTF value of Bool needs 1 byte")
        self = b[0] != 0
    }
    public func encode(btfBytes b: UnsafeMutableRawBufferPointer) {
        precondition(b.count >= 1, "BTF value of Bool needs 1 byte")
        b[0] = self ? 1 : 0
    }
}

/// How to read and write one value of a C type: its size and two functions.
/// Codecs compose (an array of arrays of structs), which is how skeletons
/// handle C arrays, whose length Swift types do not carry.
public struct BTFCodec<Value>: @unchecked Sendable {
    /// The size of the C type in bytes.
    public let size: Int
    private let decodeFn: (UnsafeRawBufferPointer) -> Value
    private let encodeFn: (Value, UnsafeMutableRawBufferPointer) -> Void

    public init(size: Int, decode: @escaping (UnsafeRawBufferPointer) -> Value,
                encode: @escaping (Value, UnsafeMutableRawBufferPointer) -> Void) {
        self.size = size
        decodeFn = decode
        encodeFn = encode
    }

    /// Reads the value at `offset` of `bytes`.
    public func load(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Value {
        precondition(offset >= 0 && offset + size <= bytes.count,
                     "BTF value at \(offset) (\(size) bytes) lies outside \(bytes.count) bytes")
        return decodeFn(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size]))
    }

    /// Writes `value` at `offset` of `bytes`.
    public func store(_ value: Value, _ bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + size <= bytes.count,
                     "BTF value at \(offset) (\(size) bytes) lies outside \(bytes.count) bytes")
        encodeFn(value, UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<offset + size]))
    }

    /// The value's bytes.
    public func encode(_ value: Value) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        out.withUnsafeMutableBytes { encodeFn(value, $0) }
        return out
    }

    /// Decodes `bytes` (exactly `size` of them, else nil).
    public func decode(_ bytes: [UInt8]) -> Value? {
        guard bytes.count == size else { return nil }
        return bytes.withUnsafeBytes { decodeFn($0) }
    }

    /// The value whose bytes are all zero (what C's `= {}` gives).
    public var zero: Value {
        let z = [UInt8](repeating: 0, count: size)
        return z.withUnsafeBytes { decodeFn($0) }
    }
}

/// Helpers the generated code calls to lay values out as BTF says.
public enum BTFLayout {
    /// A C array `T x[count]` as a Swift array of exactly `count` elements.
    /// Writing a shorter array zero-fills the rest; a longer one is a
    /// programming error (it would not fit the C type).
    public static func array<E>(_ element: BTFCodec<E>, count: Int) -> BTFCodec<[E]> {
        let stride = element.size
        return BTFCodec<[E]>(size: stride * count, decode: { b in
            var out: [E] = []
            out.reserveCapacity(count)
            for i in 0..<count { out.append(element.load(b, at: i * stride)) }
            return out
        }, encode: { v, b in
            precondition(v.count <= count, "C array holds \(count) elements, got \(v.count)")
            for (i, e) in v.enumerated() { element.store(e, b, at: i * stride) }
            if v.count < count {
                let from = v.count * stride
                UnsafeMutableRawBufferPointer(rebasing: b[from..<stride * count]).initializeMemory(as: UInt8.self, repeating: 0)
            }
        })
    }

    /// A value the generator cannot type (a pointer, an opaque member): its raw bytes.
    public static func opaque(size: Int) -> BTFCodec<[UInt8]> {
        BTFCodec<[UInt8]>(size: size, decode: { Array($0.prefix(size)) }, encode: { v, b in
            precondition(v.count <= size, "opaque value holds \(size) bytes, got \(v.count)")
            for (i, x) in v.enumerated() { b[i] = x }
            for i in v.count..<size { b[i] = 0 }
        })
    }

    /// Reads a bitfield: `bitSize` bits starting `bitOffset` bits into
    /// `bytes` (little-endian bit numbering, as BTF records it on this
    /// host), sign-extended when `signed`. Returns the bit pattern.
    public static func loadBits(_ bytes: UnsafeRawBufferPointer, bitOffset: Int, bitSize: Int, signed: Bool) -> UInt64 {
        precondition(bitSize > 0 && bitSize <= 64 && (bitOffset + bitSize + 7) / 8 <= bytes.count,
                     "bitfield at bit \(bitOffset) (\(bitSize) bits) lies outside \(bytes.count) bytes")
        var v: UInt64 = 0
        for i in 0..<bitSize {
            let bit = bitOffset + i
            if bytes[bit / 8] & (1 << UInt8(bit % 8)) != 0 { v |= 1 << UInt64(i) }
        }
        if signed && bitSize < 64 && v & (1 << UInt64(bitSize - 1)) != 0 {
            v |= ~UInt64(0) << UInt64(bitSize)
        }
        return v
    }

    /// Writes the low `bitSize` bits of `value` as a bitfield (see `loadBits`).
    public static func storeBits(_ value: UInt64, _ bytes: UnsafeMutableRawBufferPointer, bitOffset: Int, bitSize: Int) {
        precondition(bitSize > 0 && bitSize <= 64 && (bitOffset + bitSize + 7) / 8 <= bytes.count,
                     "bitfield at bit \(bitOffset) (\(bitSize) bits) lies outside \(bytes.count) bytes")
        for i in 0..<bitSize {
            let bit = bitOffset + i
            let mask = UInt8(1) << UInt8(bit % 8)
            if value & (1 << UInt64(i)) != 0 { bytes[bit / 8] |= mask } else { bytes[bit / 8] &= ~mask }
        }
    }

    /// Zeroes the first `count` bytes (padding of a struct before its members are written).
    public static func zero(_ bytes: UnsafeMutableRawBufferPointer, count: Int) {
        precondition(count <= bytes.count, "BTF value of \(count) bytes lies outside \(bytes.count) bytes")
        UnsafeMutableRawBufferPointer(rebasing: bytes[0..<count]).initializeMemory(as: UInt8.self, repeating: 0)
    }

    /// Copies `source` to the start of `bytes` (a union's bytes into its place).
    public static func copy(_ source: [UInt8], into bytes: UnsafeMutableRawBufferPointer) {
        precondition(source.count <= bytes.count, "\(source.count) bytes do not fit in \(bytes.count)")
        for (i, x) in source.enumerated() { bytes[i] = x }
    }

    /// The text of a C char array up to its first NUL (e.g. a
    /// `bpf_metadata_*` string or a struct_ops `name`).
    public static func string(_ chars: [Int8]) -> String {
        let bytes = chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A C char array of `count` elements holding `text` and a NUL
    /// (truncated to fit, as strncpy into a fixed array would).
    public static func chars(_ text: String, count: Int) -> [Int8] {
        var out = text.utf8.prefix(max(0, count - 1)).map { Int8(bitPattern: $0) }
        out.append(contentsOf: repeatElement(0, count: count - out.count))
        return out
    }
}

/// A C array `T x[N]` is `InlineArray<N, T>`: its memory layout is C's (N
/// elements, `stride` apart), so generated types holding arrays keep the C
/// layout. Its BTF bytes are its elements' bytes, one after another.
extension InlineArray: BTFCodable where Element: BTFCodable {
    public static var btfSize: Int { count * Element.btfSize }

    public init(btfBytes b: UnsafeRawBufferPointer) {
        precondition(b.count >= Self.btfSize, "BTF value of \(Self.self) needs \(Self.btfSize) bytes, got \(b.count)")
        let size = Element.btfSize
        self.init { i in Element(btfBytes: UnsafeRawBufferPointer(rebasing: b[i * size..<(i + 1) * size])) }
    }

    public func encode(btfBytes b: UnsafeMutableRawBufferPointer) {
        precondition(b.count >= Self.btfSize, "BTF value of \(Self.self) needs \(Self.btfSize) bytes, got \(b.count)")
        let size = Element.btfSize
        for i in indices {
            self[i].encode(btfBytes: UnsafeMutableRawBufferPointer(rebasing: b[i * size..<(i + 1) * size]))
        }
    }
}

extension BTFLayout {
    /// A value of a layout-exact type (a generated `Types.<name>`, whose
    /// `MemoryLayout` is its C layout) read from the first
    /// `MemoryLayout<T>.size` bytes of `bytes`, at any alignment: one copy.
    /// `bools` are the byte offsets of C `bool`s in it; each becomes 0 or 1
    /// first, since C allows any non-zero byte and Swift's `Bool` does not.
    @inlinable
    public static func load<T: BitwiseCopyable>(_ bytes: UnsafeRawBufferPointer, as type: T.Type, bools: [Int] = []) -> T {
        precondition(bytes.count >= MemoryLayout<T>.size,
                     "BTF value of \(T.self) needs \(MemoryLayout<T>.size) bytes, got \(bytes.count)")
        if bools.isEmpty { return bytes.loadUnaligned(as: T.self) }
        return withUnsafeTemporaryAllocation(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment) { tmp in
            tmp.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<MemoryLayout<T>.size]))
            for o in bools where tmp[o] > 1 { tmp[o] = 1 }
            return tmp.load(as: T.self)
        }
    }

    /// Writes a layout-exact value into the first `MemoryLayout<T>.size` bytes of `bytes`, at any alignment.
    @inlinable
    public static func store<T: BitwiseCopyable>(_ value: T, _ bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= MemoryLayout<T>.size,
                     "BTF value of \(T.self) needs \(MemoryLayout<T>.size) bytes, got \(bytes.count)")
        bytes.storeBytes(of: value, as: T.self)
    }

    /// Whether two values hold the same bytes (C arrays and raw storage of
    /// generated types, for `==`: `InlineArray` is not `Equatable`).
    @inlinable
    public static func bytesEqual<T: BitwiseCopyable>(_ a: T, _ b: T) -> Bool {
        withUnsafeBytes(of: a) { x in withUnsafeBytes(of: b) { y in x.elementsEqual(y) } }
    }

    /// Feeds a value's bytes to `hasher` (the `hash(into:)` that goes with `bytesEqual`).
    @inlinable
    public static func hashBytes<T: BitwiseCopyable>(_ a: T, into hasher: inout Hasher) {
        withUnsafeBytes(of: a) { hasher.combine(bytes: $0) }
    }

    /// The text of a C char array up to its first NUL.
    public static func string<let n: Int>(_ chars: InlineArray<n, Int8>) -> String { chars.string }

    /// The text of a C unsigned char array up to its first NUL.
    public static func string<let n: Int>(_ chars: InlineArray<n, UInt8>) -> String { chars.string }
}

extension Array {
    /// The elements of a C array (`InlineArray`), for `map`, `==` and printing:
    /// `Array(e.path).map(\.y)`.
    public init<let n: Int>(_ inline: InlineArray<n, Element>) {
        self.init()
        reserveCapacity(n)
        for i in inline.indices { append(inline[i]) }
    }
}
