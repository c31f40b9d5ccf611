import BPFCore

/// JSON for map elements, written straight into a MapByteBuffer with the
/// same layout as JSONWriter (compact, or 4-space pretty with `-p`).
/// JSONWriter stays the writer for small documents; this one exists because
/// a dump writes a few hundred million bytes of `"0x..."`.
final class MapJSONEmitter {
    let out: MapByteBuffer
    let pretty: Bool
    private var hasElement: [Bool] = []
    private var afterKey = false

    init(out: MapByteBuffer, pretty: Bool) {
        self.out = out
        self.pretty = pretty
        hasElement.reserveCapacity(16)
    }

    var depth: Int { hasElement.count }

    @inline(__always)
    private func newline() {
        guard pretty else { return }
        out.reserve(1 + 4 * hasElement.count)
        out.put(10)
        out.putSpaces(4 * hasElement.count)
    }

    @inline(__always)
    private func beforeValue() {
        if afterKey { afterKey = false; return }
        if !hasElement.isEmpty {
            if hasElement[hasElement.count - 1] { out.reserve(1); out.put(UInt8(ascii: ",")) }
            hasElement[hasElement.count - 1] = true
            newline()
        }
    }

    func beginObject() { beforeValue(); out.reserve(1); out.put(UInt8(ascii: "{")); hasElement.append(false) }
    func beginArray() { beforeValue(); out.reserve(1); out.put(UInt8(ascii: "[")); hasElement.append(false) }

    func endObject() {
        if hasElement.removeLast() { newline() }
        out.reserve(1); out.put(UInt8(ascii: "}"))
    }

    func endArray() {
        if hasElement.removeLast() { newline() }
        out.reserve(1); out.put(UInt8(ascii: "]"))
    }

    /// A key known to need no escaping.
    func key(_ k: StaticString) {
        beforeValue()
        out.reserve(k.utf8CodeUnitCount + 4)
        out.put(UInt8(ascii: "\""))
        out.put(k)
        out.put(UInt8(ascii: "\""))
        out.put(UInt8(ascii: ":"))
        if pretty { out.put(32) }
        afterKey = true
    }

    func null() { beforeValue(); out.reserve(4); out.put("null") }

    func uint(_ v: UInt64) { beforeValue(); out.reserve(20); out.putDecimal(v) }

    func int(_ v: Int64) {
        beforeValue()
        out.reserve(21)
        if v < 0 { out.put(UInt8(ascii: "-")) }
        out.putDecimal(v.magnitude)
    }

    func string(_ s: String) {
        beforeValue()
        var w = JSONWriter()
        w.string(s)
        out.write(w.bytes)
    }

    /// `["0x01","0x02",...]`, as bpftool's print_hex_data_json.
    func hexArray(_ bytes: UnsafeRawBufferPointer) {
        beforeValue()
        let n = bytes.count
        if n == 0 { out.reserve(2); out.put(UInt8(ascii: "[")); out.put(UInt8(ascii: "]")); return }
        // Room is reserved per element, not for the whole array: a 16 MiB
        // value would otherwise grow the buffer to over 100 MB at once.
        if !pretty {
            out.reserve(1)
            out.put(UInt8(ascii: "["))
            for i in 0..<n {
                out.reserve(8)
                if i > 0 { out.put(UInt8(ascii: ",")) }
                out.put(UInt8(ascii: "\"")); out.put(UInt8(ascii: "0")); out.put(UInt8(ascii: "x"))
                out.putHex(bytes[i])
                out.put(UInt8(ascii: "\""))
            }
            out.reserve(1)
            out.put(UInt8(ascii: "]"))
            return
        }
        let indent = 4 * (hasElement.count + 1)
        out.reserve(1)
        out.put(UInt8(ascii: "["))
        for i in 0..<n {
            out.reserve(9 + indent)
            if i > 0 { out.put(UInt8(ascii: ",")) }
            out.put(10); out.putSpaces(indent)
            out.put(UInt8(ascii: "\"")); out.put(UInt8(ascii: "0")); out.put(UInt8(ascii: "x"))
            out.putHex(bytes[i])
            out.put(UInt8(ascii: "\""))
        }
        out.reserve(2 + indent)
        out.put(10); out.putSpaces(indent - 4)
        out.put(UInt8(ascii: "]"))
    }

    /// A complete JSON value produced by a JSONWriter (of the same prettiness),
    /// re-indented to the current depth.
    func splice(_ bytes: [UInt8]) {
        beginSplice()
        bytes.withUnsafeBufferPointer { spliceChunk($0) }
    }

    /// splice in pieces, for a value too large to hold whole: beginSplice,
    /// then spliceChunk for each piece in order.
    func beginSplice() { beforeValue() }

    func spliceChunk(_ bytes: UnsafeBufferPointer<UInt8>) {
        if !pretty || hasElement.isEmpty { out.write(bytes); return }
        let pad = 4 * hasElement.count
        for b in bytes {
            out.reserve(1 + pad)
            out.put(b)
            if b == 10 { out.putSpaces(pad) }
        }
    }

    /// Ends the document (one per command output).
    func endDocument() { out.reserve(1); out.put(10) }
}

/// bpftool's json_writer in pretty mode, byte for byte: bpftool prints
/// BTF-formatted map elements in text mode through it, so its layout is the
/// text output (`[{` on one line, names indented, `},{` between elements).
final class BpftoolPrettyWriter {
    let out: MapByteBuffer
    private(set) var depth = 0
    private var separator: UInt8 = 0

    init(out: MapByteBuffer) { self.out = out }

    /// jsonw_eor: the comma before a value, if one is due.
    @inline(__always)
    func separate() {
        if separator != 0 { out.reserve(1); out.put(separator) }
        separator = UInt8(ascii: ",")
    }

    private func endOfLine() {
        out.reserve(1 + 4 * depth)
        out.put(10)
        out.putSpaces(4 * depth)
    }

    private func begin(_ c: UInt8) {
        separate()
        out.reserve(1); out.put(c)
        depth += 1
        separator = 0
    }

    private func end(_ c: UInt8) {
        depth -= 1
        if separator != 0 { endOfLine() }
        out.reserve(1); out.put(c)
        separator = UInt8(ascii: ",")
    }

    func beginObject() { begin(UInt8(ascii: "{")) }
    func endObject() { end(UInt8(ascii: "}")) }
    func beginArray() { begin(UInt8(ascii: "[")) }
    func endArray() { end(UInt8(ascii: "]")) }

    func name(_ n: String) {
        separate()
        endOfLine()
        separator = 0
        var w = JSONWriter()
        w.string(n)
        out.write(w.bytes)
        out.reserve(2)
        out.put(UInt8(ascii: ":"))
        out.put(32)
    }

    /// A value already formatted (number, quoted string, ...).
    func raw(_ text: String) {
        separate()
        out.write(text)
    }

    func uintField(_ n: String, _ v: UInt64) { name(n); raw(String(v)) }
    func stringField(_ n: String, _ v: String) {
        name(n)
        var w = JSONWriter()
        w.string(v)
        separate()
        out.write(w.bytes)
    }

    /// jsonw_destroy: the newline that ends the document.
    func finish() { out.reserve(1); out.put(10) }
}
