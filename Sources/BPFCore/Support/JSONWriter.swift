/// A streaming JSON writer in the manner of bpftool's json_writer: the
/// caller opens objects and arrays and writes keys and values; commas and
/// (with `pretty`) indentation are handled here.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    public let pretty: Bool
    // Per open container, whether it already has an element and whether it
    // is an array: the first 64 levels as bits of `levelBits`/`arrayBits`
    // (bit i: the container at depth i), deeper ones in `deepLevels`/
    // `deepArrays`. Arrays of Bool cost a uniqueness check and a bounds check
    // on every value.
    private var openCount = 0
    private var levelBits: UInt64 = 0
    private var arrayBits: UInt64 = 0
    private var deepLevels: [Bool] = []
    private var deepArrays: [Bool] = []
    private var afterKey = false

    /// `pretty` indents by four spaces, one key a line, as bpftool's `-p`
    /// (json_writer.c): array elements follow each other on the line
    /// (`[{`, `},{`, `[1,2`), a non-empty container closes on its own line.
    public init(pretty: Bool = false) {
        self.pretty = pretty
        bytes.reserveCapacity(4096)
    }

    /// A writer for a small value: `capacity` bytes reserved, not 4 KiB.
    public init(pretty: Bool = false, capacity: Int) {
        self.pretty = pretty
        bytes.reserveCapacity(capacity)
    }

    /// Takes what was written so far (for flushing a long stream).
    public mutating func take() -> [UInt8] {
        let b = bytes
        bytes.removeAll(keepingCapacity: true)
        return b
    }

    public var depth: Int { openCount }

    private mutating func newline() {
        guard pretty else { return }
        bytes.append(UInt8(ascii: "\n"))
        for _ in 0..<openCount { bytes.append(contentsOf: [32, 32, 32, 32]) }
    }

    /// Where to hand the bytes written so far once they pass `spillThreshold`
    /// (checked before each value): a value of many megabytes streams out in
    /// pieces instead of being held whole. Nil keeps everything in `bytes`.
    public var spill: ((UnsafeBufferPointer<UInt8>) -> Void)?
    public static let spillThreshold = 1 << 16

    private mutating func beforeValue() {
        if bytes.count >= JSONWriter.spillThreshold, let spill {
            bytes.withUnsafeBufferPointer(spill)
            bytes.removeAll(keepingCapacity: true)
        }
        if afterKey { afterKey = false; return }
        guard openCount > 0 else { return }
        let level = openCount - 1
        let inArray: Bool
        if level < 64 {
            let bit: UInt64 = 1 << UInt64(level)
            if levelBits & bit != 0 { bytes.append(UInt8(ascii: ",")) }
            levelBits |= bit
            inArray = arrayBits & bit != 0
        } else {
            if deepLevels[level - 64] { bytes.append(UInt8(ascii: ",")) }
            deepLevels[level - 64] = true
            inArray = deepArrays[level - 64]
        }
        // bpftool's -p puts array elements one after the other on the line.
        if !inArray { newline() }
    }

    /// Opens a container: it has no element yet.
    private mutating func push(array: Bool) {
        let level = openCount
        if level < 64 {
            let bit: UInt64 = 1 << UInt64(level)
            levelBits &= ~bit
            if array { arrayBits |= bit } else { arrayBits &= ~bit }
        } else {
            deepLevels.append(false)
            deepArrays.append(array)
        }
        openCount += 1
    }

    /// Closes the innermost container; whether it had an element.
    private mutating func pop() -> Bool {
        openCount -= 1
        let level = openCount
        if level < 64 { return levelBits & (1 << UInt64(level)) != 0 }
        deepArrays.removeLast()
        return deepLevels.removeLast()
    }

    public mutating func beginObject() {
        beforeValue(); bytes.append(UInt8(ascii: "{")); push(array: false)
    }

    public mutating func endObject() {
        if pop() { newline() }
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray() {
        beforeValue(); bytes.append(UInt8(ascii: "[")); push(array: true)
    }

    public mutating func endArray() {
        if pop() { newline() }
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func key(_ k: String) {
        beforeValue()
        appendQuoted(k)
        bytes.append(UInt8(ascii: ":"))
        if pretty { bytes.append(32) }
        afterKey = true
    }

    /// A key written as is, without escaping: for the literal keys of
    /// bpftool's output (`"id"`, `"map_ids"`), which need none. Escaping a
    /// String key cost ~350 instructions, thousands of times per `prog show`.
    public mutating func plainKey(_ k: StaticString) {
        beforeValue()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        if pretty { bytes.append(32) }
        afterKey = true
    }

    /// A value already formatted as compact JSON (a fragment built once and
    /// written many times), copied as is.
    public mutating func rawValue(_ json: [UInt8]) { beforeValue(); bytes.append(contentsOf: json) }
    /// The same from a caller's buffer (a value formatted in place, as
    /// `prog show` does with each program's object).
    public mutating func rawValue(_ json: UnsafeRawBufferPointer) { beforeValue(); bytes.append(contentsOf: json) }

    public mutating func string(_ s: String) { beforeValue(); appendQuoted(s) }
    /// `bytes` as a string of lower-case hex digits (a program's tag),
    /// written straight into the output: no String in between.
    public mutating func hexString(_ raw: [UInt8]) {
        beforeValue()
        bytes.append(UInt8(ascii: "\""))
        for b in raw {
            let hi = b >> 4, lo = b & 15
            bytes.append(hi < 10 ? 48 + hi : 87 + hi)
            bytes.append(lo < 10 ? 48 + lo : 87 + lo)
        }
        bytes.append(UInt8(ascii: "\""))
    }
    public mutating func bool(_ b: Bool) { beforeValue(); bytes.append(contentsOf: (b ? "true" : "false").utf8) }
    public mutating func null() { beforeValue(); bytes.append(contentsOf: "null".utf8) }
    /// Inlined into the caller so that the conversion below is specialized
    /// for the concrete type: the generic digit loop, called across the
    /// module boundary, went through witness tables for every `%` and `/`
    /// (a quarter of a 600-program `-j prog show`'s instructions).
    @inlinable
    public mutating func int<T: BinaryInteger>(_ v: T) {
        if let u = UInt64(exactly: v) {
            uint64(u)
        } else if let i = Int64(exactly: v) {
            int64(i)
        } else {
            genericInt(v)
        }
    }

    public mutating func uint64(_ v: UInt64) { beforeValue(); appendDecimal(v, negative: false) }
    public mutating func int64(_ v: Int64) { beforeValue(); appendDecimal(v.magnitude, negative: v < 0) }
    /// Integers wider than 64 bits (rare: 128-bit BTF values go through their own formatter).
    @usableFromInline
    mutating func genericInt<T: BinaryInteger>(_ v: T) { beforeValue(); bytes.append(contentsOf: String(v).utf8) }
    /// A number or other JSON literal already formatted.
    public mutating func raw(_ literal: String) { beforeValue(); bytes.append(contentsOf: literal.utf8) }
    public mutating func double(_ v: Double) {
        beforeValue()
        if v.isFinite { bytes.append(contentsOf: formatDouble(v).utf8) } else { bytes.append(contentsOf: "null".utf8) }
    }

    // Convenience: key + value.
    public mutating func field(_ k: String, _ s: String) { key(k); string(s) }
    @inlinable
    public mutating func field<T: BinaryInteger>(_ k: String, _ v: T) { key(k); int(v) }
    public mutating func field(_ k: String, _ b: Bool) { key(k); bool(b) }
    // The same with a literal key (plainKey).
    public mutating func plainField(_ k: StaticString, _ s: String) { plainKey(k); string(s) }
    @inlinable
    public mutating func plainField<T: BinaryInteger>(_ k: StaticString, _ v: T) { plainKey(k); int(v) }
    public mutating func plainField(_ k: StaticString, _ b: Bool) { plainKey(k); bool(b) }

    private mutating func appendDecimal(_ magnitude: UInt64, negative: Bool) {
        if negative { bytes.append(UInt8(ascii: "-")) }
        if magnitude < 10 { bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude)); return }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes: UInt64.max has 20 digits
        var mag = magnitude
        var n = 0
        withUnsafeMutableBytes(of: &digits) { buf in
            while mag > 0 {
                buf[23 - n] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: mag % 10)
                mag /= 10
                n += 1
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[(24 - n)...]))
        }
    }

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var str = s
        str.withUTF8 { u in appendEscaped(u) }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `u` escaped for a JSON string: runs of bytes that need no
    /// escape are copied at once (most keys and values are plain ASCII).
    private mutating func appendEscaped(_ u: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        var i = 0
        let n = u.count
        while i < n {
            let c = u[i]
            if c >= 0x20 && c != 0x22 && c != 0x5c { i += 1; continue }
            if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<i])) }
            switch c {
            case 0x22: bytes.append(contentsOf: [92, 34])
            case 0x5c: bytes.append(contentsOf: [92, 92])
            case 0x08: bytes.append(contentsOf: [92, UInt8(ascii: "b")])
            case 0x0c: bytes.append(contentsOf: [92, UInt8(ascii: "f")])
            case 0x0a: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0d: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            default:
                let hex: StaticString = "0123456789abcdef"
                let h = hex.utf8Start
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, h[Int(c >> 4)], h[Int(c & 15)]])
            }
            i += 1
            runStart = i
        }
        if runStart < n { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<n])) }
    }
}

/// Formats a double the way C's "%g"-ish output reads in JSON: shortest round-trip form.
public func formatDouble(_ v: Double) -> String {
    var s = "\(v)"
    if s.hasSuffix(".0") { s.removeLast(2) }
    return s
}
