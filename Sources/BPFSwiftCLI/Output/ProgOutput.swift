import BPFCore

/// What `prog show` prints for one program: bpftool's print_prog_json /
/// print_prog_plain, from one view model.
struct ProgView {
    let info: ProgramInfo
    /// Pinned paths; nil when `-f` is off or nothing of this kind is pinned
    /// anywhere (bpftool then prints no `pinned` key).
    let pinned: [String]?
    let metadata: ProgramMetadata?
    /// How many metadata entries can be printed (bpftool stops at the first
    /// value it cannot format), and why it stopped.
    let metadataCount: Int
    let metadataError: BPFError?

    /// `json`: the view is for JSON output, whose metadata is formatted
    /// (and its printable entries counted) once per metadata map.
    init(info: ProgramInfo, pinned: [String]?, metadata: ProgramMetadata?, json: Bool = false) {
        self.info = info
        self.pinned = pinned
        self.metadata = metadata
        var count = 0
        var failure: BPFError?
        if let metadata, json {
            let f = metadata.compactJSON()
            count = f.count
            failure = f.error
        } else if let metadata {
            for i in metadata.entries.indices {
                do {
                    _ = try metadata.text(i)
                    count += 1
                } catch {
                    failure = error
                    break
                }
            }
        }
        metadataCount = count
        metadataError = failure
    }

    func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.plainField("id", info.id.rawValue)
        if let t = info.typeName { w.plainField("type", t) } else { w.plainField("type", info.type) }
        if !info.kernelName.isEmpty { w.plainField("name", info.name) }
        w.plainKey("tag")
        w.hexString(info.tag)
        w.plainField("gpl_compatible", info.gplCompatible)
        if info.runTimeNanoseconds != 0 {
            w.plainField("run_time_ns", info.runTimeNanoseconds)
            w.plainField("run_cnt", info.runCount)
        }
        if info.recursionMisses != 0 { w.plainField("recursion_misses", info.recursionMisses) }
        if info.ifindex != 0 {
            w.plainKey("dev")
            w.beginObject()
            w.plainField("ifindex", info.ifindex)
            w.plainField("ns_dev", info.netnsDevice)
            w.plainField("ns_inode", info.netnsInode)
            if let name = info.deviceName { w.plainField("ifname", name) }
            w.endObject()
        }
        if info.loadTime != 0 {
            w.plainField("loaded_at", info.loadedAt)
            w.plainField("uid", info.createdByUID)
        }
        w.plainField("orphaned", info.orphaned)
        w.plainField("bytes_xlated", info.xlatedLength)
        w.plainField("jited", info.jitedLength != 0)
        if info.jitedLength != 0 { w.plainField("bytes_jited", info.jitedLength) }
        if let m = info.memlockBytes { w.plainField("bytes_memlock", m) }
        if !info.mapIDs.isEmpty {
            w.plainKey("map_ids")
            w.beginArray()
            for id in info.mapIDs { w.int(id.rawValue) }
            w.endArray()
        }
        if let btf = info.btfID { w.plainField("btf_id", btf.rawValue) }
        if let pinned {
            w.plainKey("pinned")
            w.beginArray()
            for p in pinned { w.string(p) }
            w.endArray()
        }
        if let metadata, metadataCount > 0 {
            w.plainKey("metadata")
            // Compact output: the object as formatted once for all the
            // programs that share this metadata.
            if !w.pretty {
                w.rawValue(metadata.compactJSON().bytes)
                w.endObject()
                return
            }
            w.beginObject()
            for e in metadata.entries.prefix(metadataCount) {
                w.key(e.name)
                // Formatted once already (init): cannot fail now.
                try? metadata.writeJSON(e, to: &w)
            }
            w.endObject()
        }
        w.endObject()
    }

    /// `writeJSON`'s compact form (no `-p`), formatted into `b` with plain
    /// stores: the same bytes, for a program not offloaded to a device
    /// (`canWriteCompactJSON`; the others go through `writeJSON`).
    func writeCompactJSON(to b: CompactJSONBuffer) {
        b.literal("{\"id\":")
        b.decimal(UInt64(info.id.rawValue))
        b.literal(",\"type\":")
        b.typeValue(info.type) { info.typeName }
        if !info.kernelName.isEmpty {
            b.literal(",\"name\":")
            b.string(info.name)
        }
        b.literal(",\"tag\":")
        b.hexString(bits: info.tagBits)
        b.literal(",\"gpl_compatible\":")
        b.bool(info.gplCompatible)
        if info.runTimeNanoseconds != 0 {
            b.literal(",\"run_time_ns\":")
            b.decimal(info.runTimeNanoseconds)
            b.literal(",\"run_cnt\":")
            b.decimal(info.runCount)
        }
        if info.recursionMisses != 0 {
            b.literal(",\"recursion_misses\":")
            b.decimal(info.recursionMisses)
        }
        if info.loadTime != 0 {
            b.literal(",\"loaded_at\":")
            b.decimal(signed: info.loadedAt)
            b.literal(",\"uid\":")
            b.decimal(UInt64(info.createdByUID))
        }
        b.literal(",\"orphaned\":")
        b.bool(info.orphaned)
        b.literal(",\"bytes_xlated\":")
        b.decimal(UInt64(info.xlatedLength))
        b.literal(",\"jited\":")
        b.bool(info.jitedLength != 0)
        if info.jitedLength != 0 {
            b.literal(",\"bytes_jited\":")
            b.decimal(UInt64(info.jitedLength))
        }
        if let m = info.memlockBytes {
            b.literal(",\"bytes_memlock\":")
            b.decimal(signed: m)
        }
        if !info.mapIDs.isEmpty {
            b.literal(",\"map_ids\":[")
            for (i, id) in info.mapIDs.enumerated() {
                if i > 0 { b.byte(UInt8(ascii: ",")) }
                b.decimal(UInt64(id.rawValue))
            }
            b.byte(UInt8(ascii: "]"))
        }
        if let btf = info.btfID {
            b.literal(",\"btf_id\":")
            b.decimal(UInt64(btf.rawValue))
        }
        if let pinned {
            b.literal(",\"pinned\":[")
            for (i, p) in pinned.enumerated() {
                if i > 0 { b.byte(UInt8(ascii: ",")) }
                b.string(p)
            }
            b.byte(UInt8(ascii: "]"))
        }
        if let metadata, metadataCount > 0 {
            b.literal(",\"metadata\":")
            b.append(metadata.compactJSON().bytes)
        }
        b.byte(UInt8(ascii: "}"))
    }

    /// Whether `writeCompactJSON` covers this program: not offloaded (the
    /// `dev` object asks the network namespace for the device's name).
    var canWriteCompactJSON: Bool { info.ifindex == 0 }

    /// bpftool's print_prog_header_json: the keys `prog dump` prints for
    /// each of several programs (the caller adds "insns" and closes the object).
    func writeHeaderJSON(to w: inout JSONWriter) {
        w.field("id", info.id.rawValue)
        if let t = info.typeName { w.field("type", t) } else { w.field("type", info.type) }
        if !info.kernelName.isEmpty { w.field("name", info.name) }
        w.field("tag", info.tagHex)
        w.field("gpl_compatible", info.gplCompatible)
        if info.runTimeNanoseconds != 0 {
            w.field("run_time_ns", info.runTimeNanoseconds)
            w.field("run_cnt", info.runCount)
        }
        if info.recursionMisses != 0 { w.field("recursion_misses", info.recursionMisses) }
    }

    /// bpftool's print_prog_header_plain: the first line of `prog show`,
    /// which `prog dump` prints before each of several programs.
    func headerText() -> String {
        var s = "\(info.id): "
        if let t = info.typeName { s += t + "  " } else { s += "type \(info.type)  " }
        if !info.kernelName.isEmpty { s += "name \(shown(info.name))  " }
        s += "tag " + info.tagHex
        if info.ifindex != 0 {
            s += "  offloaded_to "
            if let name = info.deviceName {
                s += name
            } else {
                s += "ifindex \(info.ifindex) ns_dev \(info.netnsDevice) ns_ino \(info.netnsInode)"
            }
        }
        if info.gplCompatible { s += "  gpl" }
        if info.runTimeNanoseconds != 0 { s += " run_time_ns \(info.runTimeNanoseconds) run_cnt \(info.runCount)" }
        if info.recursionMisses != 0 { s += " recursion_misses \(info.recursionMisses)" }
        s += "\n"
        return s
    }

    func text() -> String {
        var s = headerText()
        if info.loadTime != 0 {
            s += "\tloaded_at \(formatLocalTime(info.loadedAt))  uid \(info.createdByUID)\n"
        }
        s += "\txlated \(info.xlatedLength)B"
        s += info.jitedLength != 0 ? "  jited \(info.jitedLength)B" : "  not jited"
        if let m = info.memlock { s += "  memlock \(m)B" }
        if info.orphaned { s += "  orphaned" }
        if !info.mapIDs.isEmpty {
            s += "  map_ids " + info.mapIDs.map { String($0.rawValue) }.joined(separator: ",")
        }
        for p in pinned ?? [] { s += "\n\tpinned " + shown(p) }
        if let btf = info.btfID { s += "\n\tbtf_id \(btf.rawValue)" }
        s += "\n"
        if let metadata, metadataCount > 0 {
            s += "\tmetadata:"
            for (i, e) in metadata.entries.prefix(metadataCount).enumerated() {
                s += "\n\t\t\(shown(e.name)) = "
                s += shown((try? metadata.text(i)) ?? "")
            }
            s += "\n"
        }
        return s
    }
}
