import BPFCore

/// `map show` renderers for one MapInfo: bpftool's show_map_close_plain and
/// show_map_close_json (and the headers `map dump` prints per map).
enum MapShowOutput {
    /// The type as bpftool names it: libbpf's name, or "type N" in text / N in JSON.
    static func typeText(_ t: MapType) -> String { t.name ?? "type \(t.rawValue)" }

    /// bpftool prints flags with "%d".
    static func flagsJSON(_ flags: UInt32) -> Int32 { Int32(bitPattern: flags) }

    /// `ID: TYPE  name NAME  flags 0xF[  offloaded_to DEV]` and a newline.
    static func headerText(_ info: MapInfo) -> String {
        var s = "\(info.id): " + typeText(info.type) + "  "
        if !info.name.isEmpty { s += "name \(shown(info.name))  " }
        s += "flags 0x" + String(info.flags, radix: 16)
        s += offloadText(info)
        return s + "\n"
    }

    static func offloadText(_ info: MapInfo) -> String {
        guard info.ifindex != 0 else { return "" }
        if let dev = info.offloadDeviceName { return "  offloaded_to " + dev }
        return "  offloaded_to ifindex \(info.ifindex) ns_dev \(info.netnsDev) ns_ino \(info.netnsIno)"
    }

    /// id, type, name, flags: the keys the header of a multi-map dump has.
    static func headerJSON(_ info: MapInfo, _ w: inout JSONWriter) {
        w.field("id", info.id.rawValue)
        if let n = info.type.name { w.field("type", n) } else { w.field("type", info.type.rawValue) }
        if !info.name.isEmpty { w.field("name", info.name) }
        w.field("flags", flagsJSON(info.flags))
    }

    /// The whole `show` text of one map. `pinned` is nil without -f.
    static func text(_ info: MapInfo, pinned: [String]?) -> String {
        var s = headerText(info)
        s += "\tkey \(info.keySize)B  value \(info.valueSize)B  max_entries \(info.maxEntries)"
        if let m = info.memlock { s += "  memlock \(m)B" }
        if info.type == .progArray && (info.ownerProgType != nil || info.ownerJited != nil) {
            s += "\n\t"
            if let t = info.ownerProgType {
                s += "owner_prog_type " + (programTypeName(t) ?? String(Int32(bitPattern: t))) + "  "
            }
            if let j = info.ownerJited { s += j ? "owner jited" : "owner not jited" }
        }
        for p in pinned ?? [] { s += "\n\tpinned " + shown(p) }
        if info.btfID != 0 || info.frozen != 0 { s += "\n\t" }
        if info.btfID != 0 { s += "btf_id \(info.btfID)" }
        if info.frozen != 0 { s += (info.btfID != 0 ? "  " : "") + "frozen" }
        return s + "\n"
    }

    /// The whole `show` JSON object of one map. `pinned` is nil unless -f found
    /// pinned maps (bpftool then prints the key for every map, maybe empty).
    static func json(_ info: MapInfo, pinned: [String]?, _ w: inout JSONWriter) {
        w.beginObject()
        headerJSON(info, &w)
        if info.ifindex != 0 {
            w.key("dev")
            w.beginObject()
            w.field("ifindex", info.ifindex)
            w.field("ns_dev", info.netnsDev)
            w.field("ns_inode", info.netnsIno)
            if let dev = info.offloadDeviceName { w.field("ifname", dev) }
            w.endObject()
        }
        w.field("bytes_key", info.keySize)
        w.field("bytes_value", info.valueSize)
        w.field("max_entries", info.maxEntries)
        if let m = info.memlock { w.field("bytes_memlock", m) }
        if info.type == .progArray {
            if let t = info.ownerProgType {
                if let n = programTypeName(t) { w.field("owner_prog_type", n) } else { w.field("owner_prog_type", t) }
            }
            if let j = info.ownerJited { w.field("owner_jited", j) }
        }
        w.field("frozen", info.frozen)
        if info.btfID != 0 { w.field("btf_id", info.btfID) }
        if let pinned {
            w.key("pinned")
            w.beginArray()
            for p in pinned { w.string(p) }
            w.endArray()
        }
        w.endObject()
    }
}
