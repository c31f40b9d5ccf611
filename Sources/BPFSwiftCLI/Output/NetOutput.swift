import BPFCore

/// `net show` as bpftool 7.5 prints it: four sections (xdp, tc,
/// flow_dissector, netfilter), text with bpftool's spacing and JSON with its keys.
enum NetOutput {
    static func text(_ a: NetAttachments) -> String {
        var s = "xdp:\n"
        for d in a.devices {
            guard let xdp = d.xdp else { continue }
            s += "\(d.name)(\(d.index))"
            switch xdp {
            case .single(let mode, let id): s += " \(mode) id \(id)"
            case .multi(let modes): for m in modes { s += " \(m.mode) id \(m.programID)" }
            }
            s += "\n"
        }
        s += "\n"
        s += "tc:\n"
        for e in a.tc {
            switch e {
            case .multiProg(let m):
                s += "\(m.device.name)(\(UInt32(bitPattern: m.device.index))) \(m.location)"
                if let n = m.programName { s += " \(n)" }
                s += " prog_id \(m.programID) "
                if m.programFlags != 0 { s += "prog_flags " + bits(m.programFlags).map { "\($0) " }.joined() }
                if m.linkID != 0 {
                    s += "link_id \(m.linkID) "
                    if m.linkFlags != 0 { s += "link_flags " + bits(m.linkFlags).map { "\($0) " }.joined() }
                }
            case .filter(let f):
                if !f.device.name.isEmpty { s += f.device.name }
                s += "(\(UInt32(bitPattern: f.device.index))) \(f.parentKind)"
                if let n = f.name { s += " \(n)" }
                if let id = f.programID { s += " id \(id)" }
                if let acts = f.actions {
                    s += " act ["
                    for act in acts {
                        s += "{" + (act.name ?? "")
                        if let id = act.programID { s += " id \(id)" }
                        s += "}"
                    }
                    s += "] "
                }
            }
            s += "\n"
        }
        s += "\n"
        s += "flow_dissector:\n"
        if let id = a.flowDissectorProgramID, id > 0 { s += "id \(id)" }
        s += "\n"
        s += "netfilter:\n"
        for nf in a.netfilter {
            let h = nf.hook
            s += h.familyName.map { "\n\t\($0)" } ?? "\n\tpf: \(h.protocolFamily)"
            s += h.hookName.map { " \($0)" } ?? ", hook \(h.hook),"
            s += " prio \(h.priority)"
            if h.flags != 0 { s += " flags 0x" + String(h.flags, radix: 16) }
            s += " prog_id \(nf.programID)"
        }
        s += "\n"
        return s
    }

    /// bpftool's JSON, but for the flow dissector: bpftool 7.5 writes
    /// `"flow_dissector":["id":N]`, which no JSON parser reads; we write the
    /// object it meant, `[{"id":N}]`.
    static func json(_ a: NetAttachments, _ w: inout JSONWriter) {
        w.beginArray()
        w.beginObject()
        w.key("xdp")
        w.beginArray()
        for d in a.devices {
            guard let xdp = d.xdp else { continue }
            w.beginObject()
            w.field("devname", d.name)
            w.field("ifindex", d.index)
            switch xdp {
            case .single(let mode, let id):
                w.field("mode", mode)
                w.field("id", id)
            case .multi(let modes):
                w.key("multi_attachments")
                w.beginArray()
                for m in modes {
                    w.beginObject(); w.field("mode", m.mode); w.field("id", m.programID); w.endObject()
                }
                w.endArray()
            }
            w.endObject()
        }
        w.endArray()
        w.key("tc")
        w.beginArray()
        for e in a.tc {
            w.beginObject()
            switch e {
            case .multiProg(let m):
                w.field("devname", m.device.name)
                w.field("ifindex", UInt32(bitPattern: m.device.index))
                w.field("kind", m.location)
                if let n = m.programName { w.field("name", n) }
                w.field("prog_id", m.programID)
                w.key("prog_flags"); w.beginArray(); for b in bits(m.programFlags) { w.int(b) }; w.endArray()
                w.field("link_id", m.linkID)
                w.key("link_flags"); w.beginArray(); for b in bits(m.linkFlags) { w.int(b) }; w.endArray()
            case .filter(let f):
                if !f.device.name.isEmpty { w.field("devname", f.device.name) }
                w.field("ifindex", UInt32(bitPattern: f.device.index))
                w.field("kind", f.parentKind)
                if let n = f.name { w.field("name", n) }
                if let id = f.programID { w.field("id", id) }
                if let acts = f.actions {
                    w.key("act")
                    w.beginArray()
                    for act in acts {
                        w.beginObject()
                        if let n = act.name { w.field("name", n) }
                        if let id = act.programID { w.field("id", id) }
                        w.endObject()
                    }
                    w.endArray()
                }
            }
            w.endObject()
        }
        w.endArray()
        w.key("flow_dissector")
        w.beginArray()
        if let id = a.flowDissectorProgramID, id > 0 { w.beginObject(); w.field("id", id); w.endObject() }
        w.endArray()
        w.key("netfilter")
        w.beginArray()
        for nf in a.netfilter {
            w.beginObject()
            w.field("pf", nf.hook.protocolFamily)
            w.field("hook", nf.hook.hook)
            w.field("prio", nf.hook.priority)
            w.field("flags", nf.hook.flags)
            w.field("id", nf.programID)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        w.endArray()
    }

    /// The set bits of `flags`, lowest first, each as its value (1 << n).
    private static func bits(_ flags: UInt32) -> [UInt32] {
        (0..<32).compactMap { flags & (1 << $0) != 0 ? UInt32(1) << UInt32($0) : nil }
    }
}
