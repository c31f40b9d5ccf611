import BPFCore

/// The two renderings of a `LinkInfo`: bpftool 7.5's JSON keys and values,
/// and its text lines (trailing double spaces included).
enum LinkOutput {
    /// One link as a JSON object. `pinned` is nil when `-f` is off or no link
    /// is pinned anywhere (bpftool then omits the key), else this link's pins.
    static func json(_ info: LinkInfo, pinned: [String]?, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", info.id.rawValue)
        if let name = info.type.name { w.field("type", name) } else { w.field("type", info.type.rawValue) }
        w.field("prog_id", info.programID.rawValue)

        switch info.details {
        case .rawTracepoint(let name):
            w.field("tp_name", name)
        case .tracing(let programType, let attachType, let objectID, let btfID):
            if let name = programType.name { w.field("prog_type", name) } else { w.field("prog_type", programType.rawValue) }
            attach(attachType, &w)
            w.field("target_obj_id", objectID)
            w.field("target_btf_id", btfID)
        case .cgroup(let cgroupID, let attachType):
            w.field("cgroup_id", cgroupID)
            attach(attachType, &w)
        case .iterator(let it):
            w.field("target_name", it.targetName)
            switch it.parameter {
            case .map(let id):
                w.field("map_id", id.rawValue)
            case .task(let tid, let pid):
                if tid != 0 { w.field("tid", tid) } else if pid != 0 { w.field("pid", pid) }
            case .cgroup(let id, let order):
                w.field("cgroup_id", id)
                w.field("order", order.name)
            case .none:
                break
            }
        case .netns(let inode, let attachType):
            w.field("netns_ino", inode)
            attach(attachType, &w)
        case .netfilter(let nf):
            w.field("pf", nf.protocolFamily)
            w.field("hook", nf.hook)
            w.field("prio", nf.priority)
            w.field("flags", nf.flags)
        case .tcx(let dev, let attachType), .netkit(let dev, let attachType):
            interface(dev, &w)
            attach(attachType, &w)
        case .sockmap(let mapID, let attachType):
            w.field("map_id", mapID.rawValue)
            attach(attachType, &w)
        case .xdp(let dev):
            interface(dev, &w)
        case .structOps(let mapID):
            w.field("map_id", mapID.rawValue)
        case .kprobeMulti(let k):
            w.field("retprobe", k.isReturnProbe)
            w.field("func_cnt", k.count)
            w.field("missed", k.missed)
            w.key("funcs")
            w.beginArray()
            for f in k.functions ?? [] {
                w.beginObject()
                w.field("addr", f.address)
                w.field("func", f.name)
                w.key("module")
                if let m = f.module { w.string(m) } else { w.null() }
                w.field("cookie", f.cookie)
                w.endObject()
            }
            w.endArray()
        case .uprobeMulti(let u):
            w.field("retprobe", u.isReturnProbe)
            w.field("path", u.path)
            w.field("func_cnt", u.count)
            w.field("pid", Int32(bitPattern: u.pid))
            w.key("funcs")
            w.beginArray()
            for p in u.probes {
                w.beginObject()
                w.field("offset", p.offset)
                w.field("ref_ctr_offset", p.refCounterOffset)
                w.field("cookie", p.cookie)
                w.endObject()
            }
            w.endArray()
        case .perfEvent(let pe):
            switch pe {
            case .tracepoint(let name, let cookie):
                w.field("tracepoint", name)
                w.field("cookie", cookie)
            case .kprobe(let isReturn, let function, let address, let offset, let missed, let cookie):
                w.field("retprobe", isReturn)
                w.field("addr", address)
                w.field("func", function)
                w.field("offset", offset)
                w.field("missed", missed)
                w.field("cookie", cookie)
            case .uprobe(let isReturn, let file, let offset, let cookie):
                w.field("retprobe", isReturn)
                w.field("file", file)
                w.field("offset", offset)
                w.field("cookie", cookie)
            case .event(let event, let cookie):
                if let t = event.typeName { w.field("event_type", t) } else { w.field("event_type", event.type) }
                if let c = event.configName { w.field("event_config", c) } else { w.field("event_config", event.config) }
                w.field("cookie", cookie)
            case .unknown:
                break
            }
        case .none:
            break
        }

        if let pinned {
            w.key("pinned")
            w.beginArray()
            for p in pinned { w.string(p) }
            w.endArray()
        }
        w.endObject()
    }

    private static func attach(_ t: AttachType, _ w: inout JSONWriter) {
        if let name = t.name { w.field("attach_type", name) } else { w.field("attach_type", t.rawValue) }
    }

    private static func interface(_ dev: NetworkInterface, _ w: inout JSONWriter) {
        w.field("devname", dev.index == 0 ? "(detached)" : dev.name ?? "(unknown)")
        w.field("ifindex", dev.index)
    }

    /// One link as bpftool's text: a header line and detail lines, ending in a newline.
    static func text(_ info: LinkInfo, pinned: [String]) -> String {
        var s = "\(info.id.rawValue): "
        s += info.type.name.map { "\($0)  " } ?? "type \(info.type.rawValue)  "
        if case .structOps(let mapID) = info.details {
            s += "map \(mapID.rawValue)  "
        } else {
            s += "prog \(info.programID.rawValue)  "
        }

        switch info.details {
        case .rawTracepoint(let name):
            s += "\n\ttp '\(shown(name))'  "
        case .tracing(let programType, let attachType, let objectID, let btfID):
            s += "\n\tprog_type \(programType.name ?? String(programType.rawValue))  "
            s += attach(attachType)
            if objectID != 0 || btfID != 0 {
                s += "\n\ttarget_obj_id \(objectID)  target_btf_id \(btfID)  "
            }
        case .cgroup(let cgroupID, let attachType):
            s += "\n\tcgroup_id \(cgroupID)  " + attach(attachType)
        case .iterator(let it):
            s += "target_name \(shown(it.targetName))  "
            switch it.parameter {
            case .map(let id):
                s += "map_id \(id.rawValue)  "
            case .task(let tid, let pid):
                if tid != 0 { s += "tid \(tid) " } else if pid != 0 { s += "pid \(pid) " }
            case .cgroup(let id, let order):
                s += "cgroup_id \(id)  order \(order.name)  "
            case .none:
                break
            }
        case .netns(let inode, let attachType):
            s += "\n\tnetns_ino \(inode)  " + attach(attachType)
        case .netfilter(let nf):
            s += nf.familyName.map { "\n\t\($0)" } ?? "\n\tpf: \(nf.protocolFamily)"
            s += nf.hookName.map { " \($0)" } ?? ", hook \(nf.hook),"
            s += " prio \(nf.priority)"
            if nf.flags != 0 { s += " flags 0x" + hex(nf.flags) }
        case .tcx(let dev, let attachType), .netkit(let dev, let attachType):
            s += "\n\t" + interface(dev) + attach(attachType)
        case .sockmap(let mapID, let attachType):
            s += "\n\tmap_id \(mapID.rawValue)  " + attach(attachType)
        case .xdp(let dev):
            s += "\n\t" + interface(dev)
        case .structOps:
            break
        case .kprobeMulti(let k):
            guard k.count != 0 else { break }
            s += k.isReturnProbe ? "\n\tkretprobe.multi  " : "\n\tkprobe.multi  "
            s += "func_cnt \(k.count)  "
            if k.missed != 0 { s += "missed \(k.missed)  " }
            guard let functions = k.functions else { break }
            s += "\n\t" + pad("addr", 16) + " " + pad("cookie", 16) + " func [module]"
            for f in functions {
                s += "\n\t" + hex(f.address, width: 16) + " " + pad(hex(f.cookie), 16) + " " + f.name
                s += f.module.map { " [\($0)]  " } ?? "  "
            }
        case .uprobeMulti(let u):
            guard u.count != 0 else { break }
            s += u.isReturnProbe ? "\n\turetprobe.multi  " : "\n\tuprobe.multi  "
            s += "path \(shown(u.path))  func_cnt \(u.count)  "
            if u.pid != 0 { s += "pid \(Int32(bitPattern: u.pid))  " }
            s += "\n\t" + pad("offset", 16) + "   " + pad("ref_ctr_offset", 16) + "   " + pad("cookies", 16)
            for p in u.probes {
                s += "\n\t0x" + pad(hex(p.offset), 16) + " 0x" + pad(hex(p.refCounterOffset), 16)
                    + " 0x" + pad(hex(p.cookie), 16)
            }
        case .perfEvent(let pe):
            switch pe {
            case .tracepoint(let name, let cookie):
                guard !name.isEmpty else { break }
                s += "\n\ttracepoint \(shown(name))  "
                if cookie != 0 { s += "cookie \(cookie)  " }
            case .kprobe(let isReturn, let function, let address, let offset, let missed, let cookie):
                guard !function.isEmpty || address != 0 else { break }
                s += isReturn ? "\n\tkretprobe " : "\n\tkprobe "
                if address != 0 { s += hex(address) + " " }
                s += function
                if offset != 0 { s += "+0x" + hex(offset) }
                if missed != 0 { s += "  missed \(missed)" }
                if cookie != 0 { s += "  cookie \(cookie)" }
                s += "  "
            case .uprobe(let isReturn, let file, let offset, let cookie):
                guard !file.isEmpty else { break }
                s += isReturn ? "\n\turetprobe " : "\n\tuprobe "
                // C's "%#x" prints 0 without the 0x prefix.
                s += file + "+" + (offset == 0 ? "0" : "0x" + hex(offset)) + "  "
                if cookie != 0 { s += "cookie \(cookie)  " }
            case .event(let event, let cookie):
                s += "\n\tevent "
                s += event.typeName.map { "\($0):" } ?? "\(event.type) :"
                s += (event.configName ?? String(event.config)) + "  "
                if cookie != 0 { s += "cookie \(cookie)  " }
            case .unknown:
                break
            }
        case .none:
            break
        }

        for p in pinned { s += "\n\tpinned \(shown(p))" }
        return s + "\n"
    }

    private static func attach(_ t: AttachType) -> String {
        "attach_type \(t.name ?? String(t.rawValue))  "
    }

    private static func interface(_ dev: NetworkInterface) -> String {
        if dev.index == 0 { return "ifindex (detached)  " }
        guard let name = dev.name else { return "ifindex (unknown)  " }
        return "ifindex \(name)(\(Int32(bitPattern: dev.index)))  "
    }

    /// Left-justified in `width` columns (C's "%-Ns").
    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}
