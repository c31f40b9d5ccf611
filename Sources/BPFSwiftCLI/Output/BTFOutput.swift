import BPFCore

/// bpftool's `btf show` and `btf dump ... format raw` output, text and JSON.
enum BTFOutput {
    // MARK: show

    static func showText(_ b: BTFInfo, _ users: BTFUsers) -> String {
        var s = "\(b.id.rawValue): "
        if b.isKernel { s += "name [\(b.name)]  " }
        else if !b.name.isEmpty { s += "name \(b.name)  " }
        else { s += "name <anon>  " }
        s += "size \(b.size)B"
        if let p = users.programs[b.id.rawValue], !p.isEmpty {
            s += "  prog_ids " + p.map(String.init).joined(separator: ",")
        }
        if let m = users.maps[b.id.rawValue], !m.isEmpty {
            s += "  map_ids " + m.map(String.init).joined(separator: ",")
        }
        return s + "\n"
    }

    static func showJSON(_ b: BTFInfo, _ users: BTFUsers, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", b.id.rawValue)
        w.field("size", b.size)
        w.key("prog_ids"); w.beginArray()
        for p in users.programs[b.id.rawValue] ?? [] { w.int(p) }
        w.endArray()
        w.key("map_ids"); w.beginArray()
        for m in users.maps[b.id.rawValue] ?? [] { w.int(m) }
        w.endArray()
        w.field("kernel", b.isKernel)
        if !b.name.isEmpty { w.field("name", b.name) }
        w.endObject()
    }

    // MARK: raw dump

    static let kindNames = ["UNKNOWN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
                            "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT",
                            "DECL_TAG", "TYPE_TAG", "ENUM64"]

    static func kindName(_ k: UInt16) -> String { Int(k) < kindNames.count ? kindNames[Int(k)] : "UNKNOWN" }

    static func intEncoding(_ e: UInt8) -> String {
        switch e {
        case 0: return "(none)"
        case 1: return "SIGNED"
        case 2: return "CHAR"
        case 4: return "BOOL"
        default: return "UNKN"
        }
    }

    static func varLinkage(_ l: UInt32) -> String {
        switch l {
        case 0: return "static"
        case 1: return "global"
        case 2: return "extern"
        default: return "(unknown)"
        }
    }

    static func funcLinkage(_ l: Int) -> String {
        switch l {
        case 0: return "static"
        case 1: return "global"
        case 2: return "extern"
        default: return "(unknown)"
        }
    }

    /// One type as bpftool's dump_btf_type prints it in plain text.
    static func rawText(_ t: BTFRawType) -> String {
        var s = "[\(t.id)] \(kindName(t.kind)) '\(t.name)'"
        switch t.kind {
        case 1: // INT
            s += " size=\(t.sizeOrType) bits_offset=\(t.intOffset) nr_bits=\(t.intBits) encoding=\(intEncoding(t.intEncoding))"
        case 2, 8, 9, 10, 11, 18: // PTR TYPEDEF VOLATILE CONST RESTRICT TYPE_TAG
            s += " type_id=\(t.sizeOrType)"
        case 3:
            s += " type_id=\(t.arrayType) index_type_id=\(t.arrayIndexType) nr_elems=\(t.arrayCount)"
        case 4, 5:
            s += " size=\(t.sizeOrType) vlen=\(t.vlen)"
            for m in t.members {
                s += "\n\t'\(m.name)' type_id=\(m.typeID) bits_offset=\(m.bitOffset)"
                if m.bitfieldSize != 0 { s += " bitfield_size=\(m.bitfieldSize)" }
            }
        case 6:
            s += " encoding=\(t.kindFlag ? "SIGNED" : "UNSIGNED") size=\(t.sizeOrType) vlen=\(t.vlen)"
            for e in t.enumerators {
                let v = t.kindFlag ? String(Int32(truncatingIfNeeded: e.value)) : String(UInt32(truncatingIfNeeded: e.value))
                s += "\n\t'\(e.name)' val=\(v)"
            }
        case 19:
            s += " encoding=\(t.kindFlag ? "SIGNED" : "UNSIGNED") size=\(t.sizeOrType) vlen=\(t.vlen)"
            for e in t.enumerators {
                s += t.kindFlag ? "\n\t'\(e.name)' val=\(Int64(bitPattern: e.value))LL" : "\n\t'\(e.name)' val=\(e.value)ULL"
            }
        case 7:
            s += " fwd_kind=\(t.kindFlag ? "union" : "struct")"
        case 12:
            s += " type_id=\(t.sizeOrType) linkage=\(funcLinkage(t.vlen))"
        case 13:
            s += " ret_type_id=\(t.sizeOrType) vlen=\(t.vlen)"
            for p in t.members { s += "\n\t'\(p.name)' type_id=\(p.typeID)" }
        case 14:
            s += " type_id=\(t.sizeOrType), linkage=\(varLinkage(t.linkage))"
        case 15:
            s += " size=\(t.sizeOrType) vlen=\(t.vlen)"
            for v in t.sectionVariables {
                s += "\n\ttype_id=\(v.typeID) offset=\(v.offset) size=\(v.size)"
                if let k = v.kind, let n = v.name { s += " (\(kindName(k)) '\(n)')" }
            }
        case 16:
            s += " size=\(t.sizeOrType)"
        case 17:
            s += " type_id=\(t.sizeOrType) component_idx=\(t.componentIndex)"
        default:
            break
        }
        return s + "\n"
    }

    /// One type as bpftool's dump_btf_type writes it in JSON.
    static func rawJSON(_ t: BTFRawType, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", t.id)
        w.field("kind", kindName(t.kind))
        w.field("name", t.name)
        switch t.kind {
        case 1:
            w.field("size", t.sizeOrType)
            w.field("bits_offset", t.intOffset)
            w.field("nr_bits", t.intBits)
            w.field("encoding", intEncoding(t.intEncoding))
        case 2, 8, 9, 10, 11, 18:
            w.field("type_id", t.sizeOrType)
        case 3:
            w.field("type_id", t.arrayType)
            w.field("index_type_id", t.arrayIndexType)
            w.field("nr_elems", t.arrayCount)
        case 4, 5:
            w.field("size", t.sizeOrType)
            w.field("vlen", t.vlen)
            w.key("members"); w.beginArray()
            for m in t.members {
                w.beginObject()
                w.field("name", m.name)
                w.field("type_id", m.typeID)
                w.field("bits_offset", m.bitOffset)
                if m.bitfieldSize != 0 { w.field("bitfield_size", m.bitfieldSize) }
                w.endObject()
            }
            w.endArray()
        case 6, 19:
            w.field("encoding", t.kindFlag ? "SIGNED" : "UNSIGNED")
            w.field("size", t.sizeOrType)
            w.field("vlen", t.vlen)
            w.key("values"); w.beginArray()
            for e in t.enumerators {
                w.beginObject()
                w.field("name", e.name)
                // bpftool widens ENUM's signed 32-bit value to 64 bits either way.
                if t.kindFlag { w.field("val", Int64(bitPattern: e.value)) } else { w.field("val", e.value) }
                w.endObject()
            }
            w.endArray()
        case 7:
            w.field("fwd_kind", t.kindFlag ? "union" : "struct")
        case 12:
            w.field("type_id", t.sizeOrType)
            w.field("linkage", funcLinkage(t.vlen))
        case 13:
            w.field("ret_type_id", t.sizeOrType)
            w.field("vlen", t.vlen)
            w.key("params"); w.beginArray()
            for p in t.members {
                w.beginObject(); w.field("name", p.name); w.field("type_id", p.typeID); w.endObject()
            }
            w.endArray()
        case 14:
            w.field("type_id", t.sizeOrType)
            w.field("linkage", varLinkage(t.linkage))
        case 15:
            w.field("size", t.sizeOrType)
            w.field("vlen", t.vlen)
            w.key("vars"); w.beginArray()
            for v in t.sectionVariables {
                w.beginObject(); w.field("type_id", v.typeID); w.field("offset", v.offset); w.field("size", v.size); w.endObject()
            }
            w.endArray()
        case 16:
            w.field("size", t.sizeOrType)
        case 17:
            w.field("type_id", t.sizeOrType)
            w.field("component_idx", t.componentIndex)
        default:
            break
        }
        w.endObject()
    }
}
