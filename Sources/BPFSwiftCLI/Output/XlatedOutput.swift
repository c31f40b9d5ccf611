import BPFCore

/// bpftool's `prog dump xlated` listing (xlated_dumper.c), text and JSON.
enum XlatedOutput {
    static func hexByte(_ b: UInt8) -> String {
        let s = String(b, radix: 16)
        return s.count < 2 ? "0" + s : s
    }

    static func text(_ entries: [XlatedEntry], opcodes: Bool, linum: Bool) -> String {
        var s = ""
        for e in entries {
            if let sig = e.signature { s += sig + ":\n" }
            if let src = e.source, let line = src.text {
                s += "; " + line
                if linum { s += " [file:\(src.file ?? "") line_num:\(src.line) line_col:\(src.column)]" }
                s += "\n"
            }
            let index = String(e.index)
            s += String(repeating: " ", count: max(0, 4 - index.count)) + index + ": " + e.text + "\n"
            if opcodes {
                s += "       " + e.bytes.prefix(8).map(hexByte).joined(separator: " ")
                if e.bytes.count > 8 { s += " " + e.bytes.dropFirst(8).map(hexByte).joined(separator: " ") }
                s += "\n"
            }
        }
        return s
    }

    static func json(_ entries: [XlatedEntry], opcodes: Bool, linum: Bool, _ w: inout JSONWriter) {
        w.beginArray()
        for e in entries {
            w.beginObject()
            if let sig = e.signature { w.field("proto", sig) }
            if let src = e.source {
                if let line = src.text { w.field("src", line) }
                if linum {
                    if let f = src.file { w.field("file", f) }
                    if src.line != 0 { w.field("line_num", src.line) }
                    if src.column != 0 { w.field("line_col", src.column) }
                }
            }
            w.field("disasm", e.text)
            if opcodes {
                let b = e.bytes
                w.key("opcodes"); w.beginObject()
                w.field("code", "0x" + hexByte(b[0]))
                w.field("src_reg", "0x" + String(b[1] >> 4, radix: 16))
                w.field("dst_reg", "0x" + String(b[1] & 0x0f, radix: 16))
                w.key("off"); w.beginArray(); for x in b[2..<4] { w.string("0x" + hexByte(x)) }; w.endArray()
                w.key("imm"); w.beginArray(); for x in b[4..<(e.isWide && b.count == 16 ? 16 : 8)] { w.string("0x" + hexByte(x)) }; w.endArray()
                w.endObject()
            }
            w.endObject()
        }
        w.endArray()
    }
}
