#if canImport(Glibc)
import Glibc
#endif

/// A reusable byte buffer that one compact JSON value is formatted into
/// with plain stores: the caller reserves room for what it writes next, and
/// nothing is checked per byte. `-j prog show` formats each program's object
/// here and hands it to the JSONWriter in one append (through the writer,
/// each key and value cost a uniqueness and a capacity check on its array,
/// ~9,000 instructions a program).
final class CompactJSONBuffer {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func reset() { count = 0 }

    /// Makes room for `n` more bytes.
    @inline(__always)
    func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private func grow(_ needed: Int) {
        var c = capacity * 2
        while c < needed { c *= 2 }
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        b.update(from: base, count: count)
        base.deallocate()
        base = b
        capacity = c
    }

    /// A literal (a key with its quotes and colon: `,"id":`), reserving its room.
    @inline(__always)
    func literal(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        reserve(n)
        (base + count).update(from: s.utf8Start, count: n)
        count += n
    }

    @inline(__always)
    func byte(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    func bool(_ b: Bool) {
        if b { literal("true") } else { literal("false") }
    }

    func decimal(_ v: UInt64) {
        reserve(20)
        if v < 10 {
            base[count] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v)
            count += 1
            return
        }
        // Digits from the end of the reserved room backwards, then moved
        // to the front (one division loop).
        let end = base + count + 20
        var p = end
        var t = v
        while t > 0 {
            p -= 1
            p.pointee = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: t % 10)
            t /= 10
        }
        let n = end - p
        memmove(base + count, p, n)
        count += n
    }

    func decimal(signed v: Int64) {
        if v < 0 { byte(UInt8(ascii: "-")) }
        decimal(v.magnitude)
    }

    /// The bytes of `bits` (in memory order) as hex digits in quotes.
    func hexString(bits: UInt64) {
        withUnsafeBytes(of: bits) { hexString($0) }
    }

    private var typeKey: UInt32?
    private var typeJSON: [UInt8] = []

    /// A program type's value: its name as a string, or the number when
    /// `name` has none. Formatted once per run of programs of one type
    /// (they come in groups): the name is a String made from libbpf's C
    /// string each time it is asked for.
    func typeValue(_ type: UInt32, _ name: () -> String?) {
        if typeKey == type {
            append(typeJSON)
            return
        }
        let start = count
        if let t = name() { string(t) } else { decimal(UInt64(type)) }
        typeJSON = Array(UnsafeBufferPointer(start: base + start, count: count - start))
        typeKey = type
    }

    /// `raw` as lower-case hex digits in quotes (a program's tag).
    func hexString(_ raw: UnsafeRawBufferPointer) {
        reserve(2 * raw.count + 2)
        base[count] = UInt8(ascii: "\"")
        var i = count + 1
        for b in raw {
            let hi = b >> 4, lo = b & 15
            base[i] = hi < 10 ? 48 + hi : 87 + hi
            base[i + 1] = lo < 10 ? 48 + lo : 87 + lo
            i += 2
        }
        base[i] = UInt8(ascii: "\"")
        count = i + 1
    }

    /// `s` as a JSON string, escaped as JSONWriter escapes (bpftool's
    /// json_writer: the C escapes, other control bytes as \u00XX, the rest
    /// as is).
    func string(_ s: String) {
        var str = s
        str.withUTF8 { u in
            reserve(6 * u.count + 2)
            base[count] = UInt8(ascii: "\"")
            var i = count + 1
            for c in u {
                if c >= 0x20 && c != 0x22 && c != 0x5c {
                    base[i] = c
                    i += 1
                    continue
                }
                base[i] = 92
                switch c {
                case 0x22: base[i + 1] = 34; i += 2
                case 0x5c: base[i + 1] = 92; i += 2
                case 0x08: base[i + 1] = UInt8(ascii: "b"); i += 2
                case 0x0c: base[i + 1] = UInt8(ascii: "f"); i += 2
                case 0x0a: base[i + 1] = UInt8(ascii: "n"); i += 2
                case 0x0d: base[i + 1] = UInt8(ascii: "r"); i += 2
                case 0x09: base[i + 1] = UInt8(ascii: "t"); i += 2
                default:
                    let hex: StaticString = "0123456789abcdef"
                    let h = hex.utf8Start
                    base[i + 1] = UInt8(ascii: "u")
                    base[i + 2] = 48
                    base[i + 3] = 48
                    base[i + 4] = h[Int(c >> 4)]
                    base[i + 5] = h[Int(c & 15)]
                    i += 6
                }
            }
            base[i] = UInt8(ascii: "\"")
            count = i + 1
        }
    }

    /// Bytes already formatted (a shared metadata object).
    func append(_ b: [UInt8]) {
        b.withUnsafeBytes { raw in
            reserve(raw.count)
            if raw.count > 0 { UnsafeMutableRawPointer(base + count).copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
            count += raw.count
        }
    }
}
