import BPFCore

/// The view model of `object inspect`: one object file read offline. Keys
/// are documented in Docs/object-json.md and kept stable.
struct ObjectInspectView {
    let info: ObjectInspection

    init(_ info: ObjectInspection) { self.info = info }

    func writeJSON(to w: inout JSONWriter) throws {
        w.beginObject()
        w.field("file", info.file)
        w.field("name", info.objectName)
        w.field("size", info.size)
        w.field("sha256", info.sha256)
        w.key("license"); if let l = info.license { w.string(l) } else { w.null() }
        w.key("kernel_version"); if let v = info.kernelVersion { w.int(v) } else { w.null() }

        w.key("sections"); w.beginArray()
        for s in info.sections {
            w.beginObject()
            w.field("index", s.index)
            w.field("name", s.name)
            w.field("type", s.type)
            w.field("size", s.size)
            w.endObject()
        }
        w.endArray()

        w.key("maps"); w.beginArray()
        for m in info.maps {
            w.beginObject()
            w.field("name", m.name)
            w.field("pin_name", m.pinName)
            w.field("type", m.type)
            w.field("key_size", m.keySize)
            w.field("value_size", m.valueSize)
            w.field("max_entries", m.maxEntries)
            w.field("flags", m.flags)
            w.field("pinning", m.pinning)
            w.key("pin_path"); if let p = m.pinPath { w.string(p) } else { w.null() }
            w.field("internal", m.isInternal)
            w.field("autocreate", m.autocreate)
            w.endObject()
        }
        w.endArray()

        w.key("programs"); w.beginArray()
        for p in info.programs {
            w.beginObject()
            w.field("name", p.name)
            w.field("section", p.section)
            w.field("type", p.type)
            w.key("expected_attach_type"); if let a = p.expectedAttachType { w.string(a) } else { w.null() }
            w.field("insns", p.instructions)
            w.field("autoload", p.autoload)
            w.endObject()
        }
        w.endArray()

        w.key("metadata")
        if let md = info.metadata { try md.writeJSONObject(to: &w) } else { w.beginObject(); w.endObject() }

        w.key("struct_ops"); w.beginArray()
        for s in info.structOps {
            w.beginObject()
            w.field("map", s.map)
            w.field("type", s.type)
            w.field("section", s.section)
            w.field("link", s.usesLink)
            w.field("autocreate", s.autocreate)
            w.key("members"); w.beginObject()
            for m in s.members { w.field(m.member, m.program) }
            w.endObject()
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    func text() throws -> String {
        var out = "object \(shown(info.objectName))  file \(shown(info.file))  size \(info.size)\n"
        out += "\tsha256 \(info.sha256)\n"
        if let l = info.license { out += "\tlicense \(shown(l))\n" }
        if let v = info.kernelVersion { out += "\tkernel_version \(v)\n" }
        out += "sections:\n"
        for s in info.sections {
            out += "\t\(s.index): \(shown(s.name))  \(shown(s.type))  size \(s.size)\n"
        }
        out += "maps:\n"
        for m in info.maps {
            var line = "\t\(shown(m.name))  \(shown(m.type))  key \(m.keySize)B  value \(m.valueSize)B  max_entries \(m.maxEntries)  flags 0x\(hex(m.flags))"
            if let p = m.pinPath { line += "  pinned by name at \(shown(p))" }
            if m.isInternal { line += "  internal" }
            if !m.autocreate { line += "  not created unless enabled" }
            out += line + "\n"
        }
        out += "programs:\n"
        for p in info.programs {
            var line = "\t\(shown(p.name))  \(shown(p.type))  section \(shown(p.section))  insns \(p.instructions)"
            if let a = p.expectedAttachType { line += "  attach_type \(shown(a))" }
            if !p.autoload { line += "  not loaded" }
            out += line + "\n"
        }
        if let md = info.metadata {
            out += "metadata:\n"
            for (i, e) in md.entries.enumerated() { out += "\t\(shown(e.name)) = \(shown(try md.text(i)))\n" }
        }
        if !info.structOps.isEmpty {
            out += "struct_ops:\n"
            for s in info.structOps {
                var line = "\t\(shown(s.map))  \(shown(s.type))  section \(shown(s.section))"
                line += s.usesLink ? "  link" : ""
                if !s.autocreate { line += "  not created unless enabled" }
                out += line + "\n"
                for m in s.members { out += "\t\t\(shown(m.member)) = \(shown(m.program))\n" }
            }
        }
        return out
    }
}
