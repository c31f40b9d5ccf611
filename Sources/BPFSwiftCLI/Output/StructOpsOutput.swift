import BPFCore

/// One struct_ops map as `struct_ops show` prints it.
struct StructOpsShowRow {
    var id: MapID
    var name: String
    /// The kernel struct it implements ("tcp_congestion_ops").
    var kernelStructOps: String
}

/// One struct_ops map as `struct_ops dump` prints it: its info and value,
/// each with the BTF that decodes it.
struct StructOpsDumpEntry {
    var mapInfo: [UInt8]
    var mapInfoTypeID: UInt32
    var mapInfoDumper: BTFDumper
    /// `bpf_struct_ops_<struct>`: the value type's name, the key bpftool prints it under.
    var valueTypeName: String
    var valueTypeID: UInt32
    var value: [UInt8]
    var valueDumper: BTFDumper
}

/// Renderers of the struct_ops commands, with bpftool 7.5's text and JSON.
enum StructOpsOutput {
    // MARK: show

    /// `{"id":…,"name":…,"kernel_struct_ops":…}`.
    static func json(_ row: StructOpsShowRow, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", row.id.rawValue)
        w.field("name", row.name)
        w.field("kernel_struct_ops", row.kernelStructOps)
        w.endObject()
    }

    /// bpftool's `"%u: %-15s %-32s\n"`.
    static func text(_ row: StructOpsShowRow) -> String {
        "\(row.id): " + padded(shown(row.name), 15) + " " + padded(shown(row.kernelStructOps), 32) + "\n"
    }

    /// printf's `%-Ns`: padded with spaces to N bytes, never cut.
    static func padded(_ s: String, _ width: Int) -> String {
        let n = s.utf8.count
        return n >= width ? s : s + String(repeating: " ", count: width - n)
    }

    // MARK: dump

    /// The JSON array bpftool prints: two objects per map,
    /// `{"bpf_map_info": …}` and `{"bpf_struct_ops_<struct>": …}`.
    static func json(_ entries: [StructOpsDumpEntry], _ w: inout JSONWriter) throws {
        w.beginArray()
        for e in entries {
            w.beginObject()
            w.key("bpf_map_info")
            try e.mapInfo.withUnsafeBytes { try e.mapInfoDumper.writeJSON(typeID: e.mapInfoTypeID, data: $0, to: &w) }
            w.endObject()
            w.beginObject()
            w.key(e.valueTypeName)
            try e.value.withUnsafeBytes { try e.valueDumper.writeJSON(typeID: e.valueTypeID, data: $0, to: &w) }
            w.endObject()
        }
        w.endArray()
    }

    /// The plain-text dump: the same array through bpftool's pretty
    /// json_writer on stdout (4 spaces a level, objects opening on the line
    /// of the bracket before them, a newline at the end), with values in
    /// btf_dumper's plain-text forms.
    static func text(_ entries: [StructOpsDumpEntry]) throws -> String {
        var s = "["
        for (i, e) in entries.enumerated() {
            s += i == 0 ? "{" : ",{"
            s += "\n        " + quoted("bpf_map_info") + ": "
            try e.mapInfo.withUnsafeBytes { try e.mapInfoDumper.writeText(typeID: e.mapInfoTypeID, data: $0, indent: 2, to: &s) }
            s += "\n    },{"
            s += "\n        " + quoted(e.valueTypeName) + ": "
            try e.value.withUnsafeBytes { try e.valueDumper.writeText(typeID: e.valueTypeID, data: $0, indent: 2, to: &s) }
            s += "\n    }"
        }
        s += entries.isEmpty ? "]\n" : "\n]\n"
        return s
    }

    private static func quoted(_ s: String) -> String {
        var w = JSONWriter()
        w.string(s)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    // MARK: register, unregister

    /// bpftool's p_info lines after registering.
    static func registered(_ r: StructOpsRegistration) -> String {
        if let link = r.linkID {
            return "Registered \(shown(r.structName)) \(shown(r.kernelMapName)) map id \(r.mapID) link id \(link)"
        }
        return "Registered \(shown(r.structName)) \(shown(r.kernelMapName)) id \(r.mapID)"
    }

    static func unregistered(structName: String, _ info: StructOpsMapInfo) -> String {
        "Unregistered \(shown(structName)) \(shown(info.name)) id \(info.id)"
    }
}
