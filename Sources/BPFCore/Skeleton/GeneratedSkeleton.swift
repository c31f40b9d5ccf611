/// What every generated skeleton class does, written once here rather than
/// in each generated file (which should stay near the size of the object it
/// embeds): the object, `load()`, `attach()`, `detach()`, `pin(at:)`.
public protocol GeneratedSkeleton: AnyObject {
    /// The runtime: the object, its sections, its links.
    var skeleton: BPFSkeleton { get }
}

extension GeneratedSkeleton {
    /// The object (maps, programs, BTF).
    public var object: BPFObject { skeleton.object }

    /// Creates the maps and loads the programs; global variables become live.
    public func load() throws(BPFError) { try skeleton.load() }

    /// Attaches the programs that attach by section name and registers the struct_ops maps.
    public func attach() throws(BPFError) { try skeleton.attach() }

    /// Detaches what `attach()` attached.
    public func detach() { skeleton.detach() }

    /// Publishes the loaded object at `path` on bpffs as `bpfswift object pin` does (with links/
    /// after `attach()`, as with --attach); the pins then hold it after this process exits.
    /// `replace` as `object pin --replace`.
    public func pin(at path: String, replace: Bool = false) throws(BPFError) { try skeleton.pin(at: path, replace: replace) }
}

/// A C struct or union a skeleton's `Types` names without spelling out its
/// members: one that the object reaches only through pointers or CO-RE
/// relocations (`task_struct` in an object built against vmlinux.h), whose
/// layout no map, global or program argument needs. `count` units of
/// `Unit` give its C size and alignment:
/// `typealias task_struct = BPFOpaque<1184, UInt64>` is 9472 bytes aligned
/// to 8. Its bytes are kept as they are (`gen skeleton OBJ types all`
/// declares every member instead).
public struct BPFOpaque<let count: Int, Unit: FixedWidthInteger & BitwiseCopyable & Sendable>:
    BTFCodable, Hashable, Sendable, BitwiseCopyable {
    /// The value's bytes, in `Unit`s.
    public var units: InlineArray<count, Unit>

    public init() { units = InlineArray(repeating: 0) }

    public static var btfSize: Int { count * MemoryLayout<Unit>.size }

    public init(btfBytes b: UnsafeRawBufferPointer) { self = BTFLayout.load(b, as: Self.self) }

    public func encode(btfBytes b: UnsafeMutableRawBufferPointer) { BTFLayout.store(self, b) }

    /// The value's bytes in its C layout.
    public var bytes: [UInt8] { btfBytes }

    public static func == (lhs: Self, rhs: Self) -> Bool { BTFLayout.bytesEqual(lhs, rhs) }

    public func hash(into hasher: inout Hasher) { BTFLayout.hashBytes(self, into: &hasher) }
}

/// A generated `Types` struct or union: layout-exact (its `MemoryLayout`
/// is the C layout), so its BTF bytes are its memory, read in one copy.
/// `btfBools`: byte offsets of C `bool`s, which become 0 or 1 on reading.
public protocol BTFRecord: BTFCodable, BitwiseCopyable {
    static var btfBools: [Int] { get }
}

extension BTFRecord {
    public static var btfBools: [Int] { [] }
    public static var btfSize: Int { MemoryLayout<Self>.size }
    public init(btfBytes b: UnsafeRawBufferPointer) { self = BTFLayout.load(b, as: Self.self, bools: Self.btfBools) }
    public func encode(btfBytes b: UnsafeMutableRawBufferPointer) { BTFLayout.store(self, b) }

    /// The value whose bytes, padding included, are all zero (C's `= {}`):
    /// what a generated initializer starts from.
    @inlinable
    public static var btfZero: Self {
        // At least one byte, so that an empty C struct (size 0) has storage to load from.
        withUnsafeTemporaryAllocation(byteCount: Swift.max(1, MemoryLayout<Self>.size), alignment: MemoryLayout<Self>.alignment) {
            $0.initializeMemory(as: UInt8.self, repeating: 0)
            return $0.load(as: Self.self)
        }
    }
}

/// A generated `Types` struct or union whose `==` and `hash(into:)` are
/// over its bytes, padding left out: C leaves padding undefined, so two
/// records the kernel wrote with equal members are equal. Written once
/// here rather than member by member in each skeleton. The generator uses
/// it for types without floating-point members (those compare by value:
/// `-0.0 == 0.0`, NaN is unequal to itself), whose `==` it writes out; a
/// C `bool` is 0 or 1 once read (`btfBools`), so its byte compares right.
public protocol BTFBytesHashable: BTFRecord, Hashable {
    /// Byte ranges of padding, nested types' included: not compared, not hashed.
    static var btfPadding: [Range<Int>] { get }
}

extension BTFBytesHashable {
    public static var btfPadding: [Range<Int>] { [] }

    @inlinable
    public static func == (lhs: Self, rhs: Self) -> Bool {
        let padding = btfPadding
        return Swift.withUnsafeBytes(of: lhs) { a in
            Swift.withUnsafeBytes(of: rhs) { b in
                var from = 0
                for r in padding + [a.count..<a.count] {
                    let end = Swift.min(r.lowerBound, a.count)
                    if end > from && !a[from..<end].elementsEqual(b[from..<end]) { return false }
                    from = Swift.max(from, r.upperBound)
                }
                return true
            }
        }
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        let padding = Self.btfPadding
        Swift.withUnsafeBytes(of: self) { a in
            var from = 0
            for r in padding + [a.count..<a.count] {
                let end = Swift.min(r.lowerBound, a.count)
                if end > from { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: a[from..<end])) }
                from = Swift.max(from, r.upperBound)
            }
        }
    }
}

// Accessors of the members a generated type cannot store at their C offset
// (union members, bitfields, members a packed struct does not align): over
// the value's own bytes, written once here so that each is one line in a
// skeleton.
extension BTFRecord {
    /// The member of type `V` at byte `offset`.
    @inlinable
    public func btfMember<V: BTFCodable>(at offset: Int) -> V {
        Swift.withUnsafeBytes(of: self) { V(btfBytes: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + V.btfSize])) }
    }

    /// Writes the member of type `V` at byte `offset`.
    @inlinable
    public mutating func setBTFMember<V: BTFCodable>(_ value: V, at offset: Int) {
        Swift.withUnsafeMutableBytes(of: &self) {
            value.encode(btfBytes: UnsafeMutableRawBufferPointer(rebasing: $0[offset..<offset + V.btfSize]))
        }
    }

    /// The integer bitfield at bits `bitOffset..<bitOffset + bitSize` (sign-extended when `V` is signed).
    @inlinable
    public func btfBits<V: FixedWidthInteger>(_ bitOffset: Int, _ bitSize: Int) -> V {
        Swift.withUnsafeBytes(of: self) {
            V(truncatingIfNeeded: BTFLayout.loadBits($0, bitOffset: bitOffset, bitSize: bitSize, signed: V.isSigned))
        }
    }

    /// A `bool` bitfield.
    @inlinable
    public func btfBits(_ bitOffset: Int, _ bitSize: Int) -> Bool {
        Swift.withUnsafeBytes(of: self) { BTFLayout.loadBits($0, bitOffset: bitOffset, bitSize: bitSize, signed: false) != 0 }
    }

    /// An enum bitfield.
    @inlinable
    public func btfBits<V: BTFEnum>(_ bitOffset: Int, _ bitSize: Int) -> V {
        let raw: V.RawValue = btfBits(bitOffset, bitSize)
        return V(rawValue: raw)
    }

    /// Writes an integer bitfield (its low `bitSize` bits).
    @inlinable
    public mutating func setBTFBits<V: FixedWidthInteger>(_ value: V, _ bitOffset: Int, _ bitSize: Int) {
        Swift.withUnsafeMutableBytes(of: &self) {
            BTFLayout.storeBits(UInt64(truncatingIfNeeded: value), $0, bitOffset: bitOffset, bitSize: bitSize)
        }
    }

    /// Writes a `bool` bitfield.
    @inlinable
    public mutating func setBTFBits(_ value: Bool, _ bitOffset: Int, _ bitSize: Int) {
        setBTFBits(UInt64(value ? 1 : 0), bitOffset, bitSize)
    }

    /// Writes an enum bitfield.
    @inlinable
    public mutating func setBTFBits<V: BTFEnum>(_ value: V, _ bitOffset: Int, _ bitSize: Int) {
        setBTFBits(value.rawValue, bitOffset, bitSize)
    }
}

/// A generated `Types` union: raw storage of the union's size and
/// alignment, each member a computed property over it.
public protocol BTFUnion: BTFBytesHashable {}

extension BTFUnion {
    /// The union's bytes, which the members read and write.
    public var bytes: [UInt8] {
        get { Swift.withUnsafeBytes(of: self) { [UInt8]($0) } }
        set { Swift.withUnsafeMutableBytes(of: &self) { BTFLayout.copy(newValue, into: $0) } }
    }
}

/// A generated `Types` enum: a struct of the C enum's size whose every raw
/// value is valid, as in C (so reading one from memory cannot fail).
public protocol BTFEnum: RawRepresentable where RawValue: FixedWidthInteger {
    init(rawValue: RawValue)
}

// What every generated enum has, written once here: its size, zero value
// and bytes (its one stored property is the raw value, so its memory is C's).
extension BTFEnum where Self: BTFCodable & BitwiseCopyable {
    public static var btfSize: Int { MemoryLayout<Self>.size }
    public init() { self.init(rawValue: 0) }
    public init(btfBytes b: UnsafeRawBufferPointer) { self = BTFLayout.load(b, as: Self.self) }
    public func encode(btfBytes b: UnsafeMutableRawBufferPointer) { BTFLayout.store(self, b) }
}
