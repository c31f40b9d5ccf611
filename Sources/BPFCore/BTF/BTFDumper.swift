#if canImport(Glibc)
import Glibc
#endif

/// Formats values by their BTF type the way bpftool's btf_dumper does:
/// for `map dump` ("formatted" in JSON, the pretty text form in plain
/// output) and for program metadata.
///
/// What bpftool prints, by kind:
/// - INT: decimal by size and signedness; `char` encoding as a one-character
///   string (`"\u00XX"` in JSON, `0xXX` in text when not printable); `bool`
///   as true/false; bitfields, odd sizes and 128-bit integers as hex strings
///   ("0x1f"; unquoted in text).
/// - ARRAY of `char` holding a printable NUL-terminated string: a string;
///   any other array: a list.
/// - ENUM/ENUM64: the enumerator's name, or the value (signed) when none matches.
/// - STRUCT/UNION: an object by member name (bitfields included), nested.
/// - PTR: the address (decimal in JSON, `"0x…"`/`"(nil)"` in text).
/// - TYPEDEF and modifiers: the type they name. VAR: `{name: value}`.
///   DATASEC: `{section: [{var: value}, …]}`.
/// - FLOAT: bpftool cannot dump floats (it fails); we print the number.
///
/// Create one dumper per BTF and reuse it: each type is compiled once into a
/// small plan and formatting a value then walks that plan without allocating
/// (apart from the strings of char arrays longer than 15 bytes). Copies share
/// the compiled plan; like `BTF`, a dumper is not for use from several threads
/// at once.
public struct BTFDumper {
    public let btf: BTF
    let plan: DumpPlan

    /// A dumper for types of `btf`; formatting plans are built on first use and shared by copies.
    public init(btf: BTF) {
        self.btf = btf
        self.plan = DumpPlan(btf: btf)
    }

    /// Formats a pointer to a function: given the FUNC_PROTO type id and the
    /// pointer's value, the string to print, or nil to print the pointer as
    /// any other. (bpftool's `prog_id_as_func_ptr`: a struct_ops value holds
    /// program ids where the kernel struct has function pointers.)
    public typealias FunctionPointerFormatter = (_ functionProtoID: UInt32, _ value: UInt64) -> String?

    /// A dumper that prints pointers to functions through `functionPointers`.
    public init(btf: BTF, functionPointers: @escaping FunctionPointerFormatter) {
        self.btf = btf
        self.plan = DumpPlan(btf: btf, functionPointers: functionPointers)
    }

    /// Writes the value of type `typeID` held in `data` as JSON (bpftool's
    /// `formatted` values and `metadata`).
    public func writeJSON(typeID: UInt32, data: UnsafeRawBufferPointer, to w: inout JSONWriter) throws(BPFError) {
        let node = try plan.root(typeID, dataCount: data.count)
        guard let base = data.baseAddress else { throw plan.tooShort(typeID, data.count) }
        var budget = DumpWalker.budget(forBytes: data.count)
        try DumpWalker.write(node, base, base + data.count, 0, &w, &budget)
    }

    /// Appends the value as bpftool's plain-text `map dump` prints it: its
    /// pretty JSON-like form, where `indent` is the nesting depth the value
    /// starts at (nested lines are indented by 4 spaces per level; `map dump`
    /// writes values at depth 2, inside `[{`). Nothing is appended after the
    /// value (no newline).
    public func writeText(typeID: UInt32, data: UnsafeRawBufferPointer, indent: Int, to s: inout String) throws(BPFError) {
        try writeText(typeID: typeID, data: data, pretty: true, depth: indent, to: &s)
    }

    /// writeText(typeID:data:indent:to:) for values of any size: the text is
    /// handed to `chunk` in pieces of about 64 KiB as it is formatted, and
    /// never held whole (a 16 MiB `.bss` formats to hundreds of megabytes).
    public func writeText(typeID: UInt32, data: UnsafeRawBufferPointer, indent: Int,
                          chunk: @escaping (UnsafeBufferPointer<UInt8>) -> Void) throws(BPFError) {
        let node = try plan.root(typeID, dataCount: data.count)
        guard let base = data.baseAddress else { throw plan.tooShort(typeID, data.count) }
        var sink = TextSink(buffer: plan.takeScratch(), pretty: true, depth: max(indent, 0))
        sink.spill = chunk
        defer { plan.returnScratch(sink.out) }
        var budget = DumpWalker.budget(forBytes: data.count)
        try DumpWalker.write(node, base, base + data.count, 0, &sink, &budget)
        sink.out.withUnsafeBufferPointer(chunk)
        sink.out.removeAll(keepingCapacity: true)
    }

    /// Appends the value on one line, as bpftool prints program metadata in
    /// plain text (`commit = "abc"`, `pair = {"x":1,"y":[1,2]}`).
    public func writeCompactText(typeID: UInt32, data: UnsafeRawBufferPointer, to s: inout String) throws(BPFError) {
        try writeText(typeID: typeID, data: data, pretty: false, depth: 0, to: &s)
    }

    private func writeText(typeID: UInt32, data: UnsafeRawBufferPointer, pretty: Bool, depth: Int,
                           to s: inout String) throws(BPFError) {
        let node = try plan.root(typeID, dataCount: data.count)
        guard let base = data.baseAddress else { throw plan.tooShort(typeID, data.count) }
        // One scratch buffer per dumper, reused: no allocation per value but the
        // String appended.
        var sink = TextSink(buffer: plan.takeScratch(), pretty: pretty, depth: max(depth, 0))
        defer { plan.returnScratch(sink.out) }
        var budget = DumpWalker.budget(forBytes: data.count)
        try DumpWalker.write(node, base, base + data.count, 0, &sink, &budget)
        s.append(String(decoding: sink.out, as: UTF8.self))
    }
}

// MARK: - the compiled plan

/// One type, compiled for formatting: typedefs and modifiers resolved away,
/// struct members, array element sizes and enumerators laid out.
final class DumpNode {
    struct Member {
        let name: String
        let node: DumpNode?      // nil for a bitfield (printed from its bits)
        let byteOffset: Int
        let bitInByte: UInt8
        let bitfieldSize: UInt32
    }

    enum Kind {
        /// INT with encoding 0/SIGNED of 8/16/32/64 bits at no bit offset.
        case int(bits: UInt8, signed: Bool)
        /// INT whose bits are not a whole 8/16/32/64 (or at a bit offset, or 128-bit).
        case intBits(bits: UInt8, bitOffset: UInt8)
        case int128
        case char
        case bool
        case enumeration(size: Int, values: [Int64], names: [String])
        case enum64(values: [UInt64], names: [String])
        case pointer
        /// A pointer to a FUNC_PROTO, with a formatter for its value.
        case functionPointer(proto: UInt32, format: BTFDumper.FunctionPointerFormatter)
        case array(element: DumpNode, count: Int, elementSize: Int, charLike: Bool)
        case composite([Member])
        case variable(name: String, value: DumpNode)
        case section(name: String, variables: [(offset: Int, node: DumpNode)])
        case float(size: Int)
        case unknown
        case forward
        case unsupported(BTFKind)
    }

    var kind: Kind = .unknown
}

final class DumpPlan {
    let btf: BTF
    private var nodes: TypeIDTable<DumpNode>
    private var sizes: TypeIDTable<Int>

    let functionPointers: BTFDumper.FunctionPointerFormatter?

    // The last root asked for: map dump asks for the same two types a million times.
    private var lastRootID: UInt32 = 0
    private var lastRootNode: DumpNode?
    private var lastRootSize = 0
    private var scratch: [UInt8] = []

    init(btf: BTF, functionPointers: BTFDumper.FunctionPointerFormatter? = nil) {
        self.btf = btf
        self.functionPointers = functionPointers
        let count = Int(btf.typeCount)
        nodes = TypeIDTable(typeCount: count, denseLimit: 1 << 16)
        sizes = TypeIDTable(typeCount: count, denseLimit: 1 << 16)
    }

    func takeScratch() -> [UInt8] {
        var b: [UInt8] = []
        swap(&b, &scratch)
        b.removeAll(keepingCapacity: true)
        return b
    }

    func returnScratch(_ b: [UInt8]) {
        if b.capacity > scratch.capacity && b.capacity <= 1 << 20 { scratch = b }
    }

    func tooShort(_ id: UInt32, _ count: Int) -> BPFError {
        BPFError("format value of BTF type \(id): \(count) bytes is shorter than the type", errno: EINVAL)
    }

    /// The node for a value of `id`, checking that `dataCount` bytes hold it.
    func root(_ id: UInt32, dataCount: Int) throws(BPFError) -> DumpNode {
        if id == lastRootID, let n = lastRootNode {
            if dataCount < lastRootSize { throw tooShort(id, dataCount) }
            return n
        }
        let size: Int
        if let s = sizes[id] {
            size = s
        } else {
            guard let s = btf.sizeOf(id) else {
                throw BPFError("format value of BTF type \(id): cannot resolve its size", errno: EINVAL)
            }
            sizes[id] = s
            size = s
        }
        if dataCount < size { throw tooShort(id, dataCount) }
        let n = try node(id, depth: 0)
        lastRootID = id
        lastRootNode = n
        lastRootSize = size
        return n
    }

    private func fail(_ id: UInt32, _ why: String) -> BPFError {
        BPFError("format value of BTF type \(id): \(why)", errno: EINVAL)
    }

    /// btf__resolve_type: skip typedefs, modifiers, type tags and VAR.
    private func resolve(_ id: UInt32) throws(BPFError) -> UInt32 {
        var cur = id
        for _ in 0..<32 {
            guard let t = btf.type(cur) else { throw fail(id, "it resolves to void") }
            switch t.kind {
            case .typedef, .volatile, .const, .restrict, .typeTag, .variable:
                cur = t.referencedType
            default:
                return cur
            }
        }
        throw fail(id, "too many typedefs or modifiers")
    }

    /// Types being compiled: meeting one again means the type holds itself.
    /// (At most 64 deep: a short array searched linearly, no hashing.)
    private var compiling: [UInt32] = []

    func node(_ id: UInt32, depth: Int) throws(BPFError) -> DumpNode {
        if let n = nodes[id] { return n }
        guard depth < 64 else { throw fail(id, "types nested too deeply") }
        // Malformed BTF can make a struct contain itself (not through a pointer):
        // a plan with that cycle would make the walk recurse forever.
        guard !compiling.contains(id) else { throw fail(id, "it contains itself") }
        guard let t = btf.type(id) else {
            // Type 0 (void): bpftool prints "(unknown)".
            let n = DumpNode(); n.kind = .unknown; nodes[id] = n; return n
        }
        switch t.kind {
        case .typedef, .volatile, .const, .restrict, .typeTag:
            // The same node as the type they name.
            let r = try node(resolve(id), depth: depth + 1)
            nodes[id] = r
            return r
        default:
            break
        }
        let n = DumpNode()
        compiling.append(id)
        defer { compiling.removeLast() }
        n.kind = try compile(t, depth: depth)
        nodes[id] = n
        return n
    }

    private func compile(_ t: BTFType, depth: Int) throws(BPFError) -> DumpNode.Kind {
        switch t.kind {
        case .int:
            let bits = t.intBits
            if t.intBitOffset != 0 || bits % 8 != 0 { return .intBits(bits: bits, bitOffset: t.intBitOffset) }
            if bits == 128 { return .int128 }
            switch t.intEncoding {
            case 0, 1:
                if bits == 8 || bits == 16 || bits == 32 || bits == 64 {
                    return .int(bits: bits, signed: t.intEncoding == 1)
                }
                return .intBits(bits: bits, bitOffset: 0)
            case 2: return .char
            case 4: return .bool
            default: throw fail(t.id, "integer encoding \(t.intEncoding) is unknown")
            }
        case .structure, .union:
            var members: [DumpNode.Member] = []
            members.reserveCapacity(t.members.count)
            for m in t.members {
                let byteOffset = Int(m.bitOffset >> 3)
                let bit = UInt8(m.bitOffset & 7)
                if m.bitfieldSize != 0 {
                    members.append(.init(name: m.name, node: nil, byteOffset: byteOffset, bitInByte: bit,
                                         bitfieldSize: m.bitfieldSize))
                } else {
                    let child = try node(m.typeID, depth: depth + 1)
                    members.append(.init(name: m.name, node: child, byteOffset: byteOffset, bitInByte: bit,
                                         bitfieldSize: 0))
                }
            }
            return .composite(members)
        case .array:
            guard let elemSize = btf.sizeOf(t.arrayElementType) else {
                throw fail(t.id, "cannot resolve the size of its elements")
            }
            let element = try node(t.arrayElementType, depth: depth + 1)
            return .array(element: element, count: Int(t.arrayCount), elementSize: elemSize,
                          charLike: isCharElement(t.arrayElementType))
        case .enumeration:
            guard [1, 2, 4, 8].contains(t.size) else { throw fail(t.id, "enum of \(t.size) bytes") }
            return .enumeration(size: Int(t.size), values: t.enumerators.map { Int64(bitPattern: $0.rawValue) },
                                names: t.enumerators.map(\.name))
        case .enum64:
            return .enum64(values: t.enumerators.map(\.rawValue), names: t.enumerators.map(\.name))
        case .ptr:
            if let format = functionPointers, let target = try? resolve(t.referencedType),
               btf.type(target)?.kind == .functionProto {
                return .functionPointer(proto: target, format: format)
            }
            return .pointer
        case .variable:
            return .variable(name: t.name, value: try node(t.referencedType, depth: depth + 1))
        case .dataSection:
            var vars: [(offset: Int, node: DumpNode)] = []
            for v in t.sectionVariables {
                vars.append((Int(v.offset), try node(v.typeID, depth: depth + 1)))
            }
            return .section(name: t.name, variables: vars)
        case .float:
            return .float(size: Int(t.size))
        case .fwd:
            return .forward
        case .unknown:
            return .unknown
        default:
            return .unsupported(t.kind)
        }
    }

    /// bpftool's is_str_array element test: modifiers (not typedefs) skipped,
    /// a 1-byte INT with the char encoding or named "char".
    private func isCharElement(_ id: UInt32) -> Bool {
        var cur = id
        for _ in 0..<32 {
            guard let t = btf.type(cur) else { return false }
            switch t.kind {
            case .volatile, .const, .restrict, .typeTag:
                cur = t.referencedType
            case .int:
                return t.size == 1 && (t.intEncoding == 2 || t.name == "char")
            default:
                return false
            }
        }
        return false
    }
}

// MARK: - output sinks

/// What the walker writes: bpftool's json_writer calls, plus the few values
/// that bpftool formats differently in JSON and in text.
protocol DumpSink {
    mutating func beginObject()
    mutating func endObject()
    mutating func beginArray()
    mutating func endArray()
    mutating func key(_ k: String)
    mutating func unsignedValue(_ v: UInt64)
    mutating func signedValue(_ v: Int64)
    mutating func boolValue(_ v: Bool)
    mutating func stringValue(_ s: String)
    /// A printable ASCII string (a char array up to its NUL).
    mutating func asciiString(_ bytes: UnsafeRawBufferPointer)
    /// Bitfields and 128-bit integers: "0x…" (quoted in JSON only).
    mutating func hexValue(high: UInt64, low: UInt64)
    mutating func charValue(_ c: UInt8)
    mutating func pointerValue(_ v: UInt64)
    mutating func floatValue(_ text: String, finite: Bool)
    mutating func literal(_ text: String)
}

@inline(__always)
private func appendHex(_ v: UInt64, width: Int, to out: inout [UInt8]) {
    let digits: StaticString = "0123456789abcdef"
    var n = 0
    var x = v
    repeat { n += 1; x >>= 4 } while x != 0
    if n < width { for _ in n..<width { out.append(48) } }
    var shift = (n - 1) * 4
    digits.withUTF8Buffer { d in
        while shift >= 0 {
            out.append(d[Int((v >> UInt64(shift)) & 15)])
            shift -= 4
        }
    }
}

/// "0x1f" / "0x1" + 16 hex digits, as bpftool's btf_int128_print.
func hexText(high: UInt64, low: UInt64) -> String {
    var b: [UInt8] = [48, 120]
    if high == 0 {
        appendHex(low, width: 0, to: &b)
    } else {
        appendHex(high, width: 0, to: &b)
        appendHex(low, width: 16, to: &b)
    }
    return String(decoding: b, as: UTF8.self)
}

extension JSONWriter: DumpSink {
    mutating func unsignedValue(_ v: UInt64) { int(v) }
    mutating func signedValue(_ v: Int64) { int(v) }
    mutating func boolValue(_ v: Bool) { bool(v) }
    mutating func stringValue(_ s: String) { string(s) }
    mutating func asciiString(_ bytes: UnsafeRawBufferPointer) { string(String(decoding: bytes, as: UTF8.self)) }
    mutating func hexValue(high: UInt64, low: UInt64) { string(hexText(high: high, low: low)) }
    mutating func charValue(_ c: UInt8) {
        if c >= 0x20 && c < 0x7f {
            string(String(UnicodeScalar(c)))
        } else {
            // bpftool: "\u00XX"
            var b: [UInt8] = Array("\"\\u00".utf8)
            appendHex(UInt64(c), width: 2, to: &b)
            b.append(34)
            raw(String(decoding: b, as: UTF8.self))
        }
    }
    mutating func pointerValue(_ v: UInt64) { int(v) }
    mutating func floatValue(_ text: String, finite: Bool) { if finite { raw(text) } else { null() } }
    mutating func literal(_ text: String) { raw(text) }
}

/// bpftool's json_writer as its plain-text output uses it (a `jsonw_new`
/// on stdout, pretty for `map dump`, compact for metadata). Writes UTF-8
/// bytes; the caller turns them into a String once per value.
struct TextSink: DumpSink {
    var out: [UInt8]
    let pretty: Bool
    var depth: Int
    var separator = false

    init(buffer: [UInt8], pretty: Bool, depth: Int) {
        self.out = buffer
        self.pretty = pretty
        self.depth = depth
    }

    /// As JSONWriter.spill: bytes handed on once they pass 64 KiB (checked
    /// before each value), so that a large value is never held whole.
    var spill: ((UnsafeBufferPointer<UInt8>) -> Void)?

    @inline(__always) private mutating func eor() {
        if out.count >= JSONWriter.spillThreshold, let spill {
            out.withUnsafeBufferPointer(spill)
            out.removeAll(keepingCapacity: true)
        }
        if separator { out.append(44) }
        separator = true
    }

    @inline(__always) private mutating func eol() {
        guard pretty else { return }
        out.append(10)
        for _ in 0..<depth { out.append(contentsOf: [32, 32, 32, 32] as [UInt8]) }
    }

    private mutating func begin(_ c: UInt8) {
        eor(); out.append(c); depth += 1; separator = false
    }

    private mutating func end(_ c: UInt8) {
        depth -= 1
        if separator { eol() }
        out.append(c)
        separator = true
    }

    /// jsonw_puts: C escapes only.
    private mutating func quoted(_ bytes: UnsafeBufferPointer<UInt8>) {
        out.append(34)
        var start = 0
        for i in 0..<bytes.count {
            let c = bytes[i]
            let esc: UInt8
            switch c {
            case 9: esc = UInt8(ascii: "t")
            case 10: esc = UInt8(ascii: "n")
            case 13: esc = UInt8(ascii: "r")
            case 12: esc = UInt8(ascii: "f")
            case 8: esc = UInt8(ascii: "b")
            case 92: esc = 92
            case 34: esc = 34
            default: continue
            }
            if start < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i])) }
            out.append(92)
            out.append(esc)
            start = i + 1
        }
        if start < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...])) }
        out.append(34)
    }

    private mutating func quoted(_ s: String) {
        var s = s
        s.withUTF8 { quoted($0) }
    }

    private mutating func decimal(_ magnitude: UInt64, negative: Bool) {
        if negative { out.append(45) }
        if magnitude < 10 { out.append(48 + UInt8(magnitude)); return }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch
        var n = 0
        var v = magnitude
        withUnsafeMutableBytes(of: &digits) { buf in
            while v > 0 {
                buf[23 - n] = 48 + UInt8(v % 10)
                v /= 10
                n += 1
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[(24 - n)...]))
        }
    }

    mutating func beginObject() { begin(123) }
    mutating func endObject() { end(125) }
    mutating func beginArray() { begin(91) }
    mutating func endArray() { end(93) }

    mutating func key(_ k: String) {
        eor(); eol(); separator = false
        quoted(k)
        out.append(58)
        if pretty { out.append(32) }
    }

    mutating func unsignedValue(_ v: UInt64) { eor(); decimal(v, negative: false) }
    mutating func signedValue(_ v: Int64) { eor(); decimal(v.magnitude, negative: v < 0) }
    mutating func boolValue(_ v: Bool) { eor(); out.append(contentsOf: v ? Self.trueBytes : Self.falseBytes) }
    mutating func stringValue(_ s: String) { eor(); quoted(s) }
    mutating func asciiString(_ bytes: UnsafeRawBufferPointer) { eor(); quoted(bytes.bindMemory(to: UInt8.self)) }
    mutating func hexValue(high: UInt64, low: UInt64) {
        eor()
        out.append(48); out.append(120)
        if high == 0 {
            appendHex(low, width: 0, to: &out)
        } else {
            appendHex(high, width: 0, to: &out)
            appendHex(low, width: 16, to: &out)
        }
    }

    mutating func charValue(_ c: UInt8) {
        eor()
        if c >= 0x20 && c < 0x7f {
            // bpftool prints the character between quotes as is (no escaping).
            out.append(34); out.append(c); out.append(34)
        } else {
            out.append(48); out.append(120)
            appendHex(UInt64(c), width: 0, to: &out)
        }
    }

    mutating func pointerValue(_ v: UInt64) {
        eor()
        // glibc's "%p", between quotes.
        if v == 0 {
            out.append(contentsOf: Self.nilBytes)
        } else {
            out.append(34); out.append(48); out.append(120)
            appendHex(v, width: 0, to: &out)
            out.append(34)
        }
    }

    mutating func floatValue(_ text: String, finite: Bool) { eor(); out.append(contentsOf: text.utf8) }
    mutating func literal(_ text: String) { eor(); out.append(contentsOf: text.utf8) }

    static let trueBytes: [UInt8] = Array("true".utf8)
    static let falseBytes: [UInt8] = Array("false".utf8)
    static let nilBytes: [UInt8] = Array("\"(nil)\"".utf8)
}

// MARK: - the walk

enum DumpWalker {
    private static func overrun() -> BPFError {
        BPFError("format BTF value: the type runs past the end of the data", errno: EINVAL)
    }

    @inline(__always)
    private static func load<T: FixedWidthInteger>(_ p: UnsafeRawPointer, _ end: UnsafeRawPointer,
                                                  as: T.Type) throws(BPFError) -> T {
        guard p + MemoryLayout<T>.size <= end else { throw overrun() }
        return p.loadUnaligned(as: T.self)
    }

    /// bpftool's btf_dumper_bitfield: `bits` bits starting `bitOffset` bits into `p`
    /// (little endian), as an unsigned 128-bit number.
    private static func bitfield(_ p: UnsafeRawPointer, _ end: UnsafeRawPointer, bits: Int,
                                 bitOffset: Int) -> (high: UInt64, low: UInt64) {
        let total = bitOffset + bits
        let bytes = min((total + 7) / 8, 16, max(end - p, 0))
        var low: UInt64 = 0, high: UInt64 = 0
        for i in 0..<bytes {
            let b = UInt64(p.load(fromByteOffset: i, as: UInt8.self))
            if i < 8 { low |= b << UInt64(i * 8) } else { high |= b << UInt64((i - 8) * 8) }
        }
        // Shift right by bitOffset, then keep `bits` bits.
        if bitOffset > 0 {
            if bitOffset >= 64 {
                low = high >> UInt64(bitOffset - 64); high = 0
            } else {
                low = (low >> UInt64(bitOffset)) | (high << UInt64(64 - bitOffset))
                high >>= UInt64(bitOffset)
            }
        }
        if bits < 128 {
            if bits >= 64 {
                high &= bits == 64 ? 0 : (UInt64.max >> UInt64(128 - bits))
            } else {
                high = 0
                low &= bits == 0 ? 0 : (UInt64.max >> UInt64(64 - bits))
            }
        }
        return (high, low)
    }

    /// How many values a value of `bytes` bytes may be formatted as. Real
    /// layouts stay far below (a value per bit, unions of a few members);
    /// malformed BTF can describe a layout that expands without end (members
    /// overlapping level after level, arrays of billions of empty structs).
    static func budget(forBytes bytes: Int) -> Int { 4096 + 64 * bytes }

    private static func tooLarge() -> BPFError {
        BPFError("format BTF value: its type expands to more values than its bytes can hold", errno: E2BIG)
    }

    static func write<S: DumpSink>(_ node: DumpNode, _ p: UnsafeRawPointer, _ end: UnsafeRawPointer,
                                   _ bitOffset: UInt8, _ s: inout S, _ budget: inout Int) throws(BPFError) {
        budget -= 1
        if budget < 0 { throw tooLarge() }
        switch node.kind {
        case let .int(bits, signed):
            if bitOffset != 0 {
                guard p + Int((bitOffset + bits + 7) / 8) <= end else { throw overrun() }
                let v = bitfield(p, end, bits: Int(bits), bitOffset: Int(bitOffset))
                s.hexValue(high: v.high, low: v.low)
                return
            }
            switch (bits, signed) {
            case (8, false): s.unsignedValue(UInt64(try load(p, end, as: UInt8.self)))
            case (16, false): s.unsignedValue(UInt64(try load(p, end, as: UInt16.self)))
            case (32, false): s.unsignedValue(UInt64(try load(p, end, as: UInt32.self)))
            case (64, false): s.unsignedValue(try load(p, end, as: UInt64.self))
            case (8, true): s.signedValue(Int64(try load(p, end, as: Int8.self)))
            case (16, true): s.signedValue(Int64(try load(p, end, as: Int16.self)))
            case (32, true): s.signedValue(Int64(try load(p, end, as: Int32.self)))
            default: s.signedValue(try load(p, end, as: Int64.self))
            }
        case let .intBits(bits, intOffset):
            let total = Int(bitOffset) + Int(intOffset)
            let q = p + total / 8
            guard q + (total % 8 + Int(bits) + 7) / 8 <= end else { throw overrun() }
            let v = bitfield(q, end, bits: Int(bits), bitOffset: total % 8)
            s.hexValue(high: v.high, low: v.low)
        case .int128:
            if bitOffset != 0 {
                let v = bitfield(p, end, bits: 128, bitOffset: Int(bitOffset))
                s.hexValue(high: v.high, low: v.low)
                return
            }
            let low = try load(p, end, as: UInt64.self)
            let high = try load(p + 8, end, as: UInt64.self)
            s.hexValue(high: high, low: low)
        case .char:
            if bitOffset != 0 {
                let v = bitfield(p, end, bits: 8, bitOffset: Int(bitOffset))
                s.hexValue(high: v.high, low: v.low)
                return
            }
            s.charValue(try load(p, end, as: UInt8.self))
        case .bool:
            if bitOffset != 0 {
                let v = bitfield(p, end, bits: 8, bitOffset: Int(bitOffset))
                s.hexValue(high: v.high, low: v.low)
                return
            }
            s.boolValue(try load(p, end, as: UInt8.self) != 0)
        case let .enumeration(size, values, names):
            let v: Int64
            switch size {
            case 1: v = Int64(try load(p, end, as: Int8.self))
            case 2: v = Int64(try load(p, end, as: Int16.self))
            case 4: v = Int64(try load(p, end, as: Int32.self))
            default: v = try load(p, end, as: Int64.self)
            }
            if let i = values.firstIndex(of: v) { s.stringValue(names[i]) } else { s.signedValue(v) }
        case let .enum64(values, names):
            let v = try load(p, end, as: UInt64.self)
            if let i = values.firstIndex(of: v) { s.stringValue(names[i]) } else { s.signedValue(Int64(bitPattern: v)) }
        case .pointer:
            s.pointerValue(try load(p, end, as: UInt64.self))
        case let .functionPointer(proto, format):
            let v = try load(p, end, as: UInt64.self)
            if let text = format(proto, v) { s.stringValue(text) } else { s.pointerValue(v) }
        case let .array(element, count, elementSize, charLike):
            if charLike && count > 0 {
                guard p + count <= end else { throw overrun() }
                // A printable string ended by a NUL within the array.
                var n = 0
                var isString = false
                while n < count {
                    let c = p.load(fromByteOffset: n, as: UInt8.self)
                    if c == 0 { isString = true; break }
                    if c <= 0x1f || c >= 0x7f { break }
                    n += 1
                }
                if isString {
                    s.asciiString(UnsafeRawBufferPointer(start: p, count: n))
                    return
                }
            }
            guard p + count * elementSize <= end else { throw overrun() }
            s.beginArray()
            var q = p
            for _ in 0..<count {
                try write(element, q, end, 0, &s, &budget)
                q += elementSize
            }
            s.endArray()
        case let .composite(members):
            s.beginObject()
            for m in members {
                s.key(m.name)
                let q = p + m.byteOffset
                if let child = m.node {
                    try write(child, q, end, m.bitInByte, &s, &budget)
                } else {
                    guard q + (Int(m.bitInByte) + Int(m.bitfieldSize) + 7) / 8 <= end else { throw overrun() }
                    let v = bitfield(q, end, bits: Int(m.bitfieldSize), bitOffset: Int(m.bitInByte))
                    s.hexValue(high: v.high, low: v.low)
                }
            }
            s.endObject()
        case let .variable(name, value):
            s.beginObject()
            s.key(name)
            try write(value, p, end, bitOffset, &s, &budget)
            s.endObject()
        case let .section(name, variables):
            s.beginObject()
            s.key(name)
            s.beginArray()
            for v in variables {
                try write(v.node, p + v.offset, end, 0, &s, &budget)
            }
            s.endArray()
            s.endObject()
        case let .float(size):
            switch size {
            case 4:
                let f = Float(bitPattern: try load(p, end, as: UInt32.self))
                s.floatValue(formatFloat(f), finite: f.isFinite)
            case 8:
                let d = Double(bitPattern: try load(p, end, as: UInt64.self))
                s.floatValue(formatDouble(d), finite: d.isFinite)
            default:
                // No Swift type for long double here: its bytes, as a hex number.
                guard size <= 16, p + size <= end else { throw overrun() }
                let v = bitfield(p, end, bits: size * 8, bitOffset: 0)
                s.hexValue(high: v.high, low: v.low)
            }
        case .unknown:
            s.literal("(unknown)")
        case .forward:
            throw BPFError("format BTF value: a forward declaration has no value", errno: EINVAL)
        case let .unsupported(kind):
            throw BPFError("format BTF value: BTF kind \(kind) cannot be formatted", errno: EINVAL)
        }
    }

    private static func formatFloat(_ f: Float) -> String {
        var s = "\(f)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }
}
