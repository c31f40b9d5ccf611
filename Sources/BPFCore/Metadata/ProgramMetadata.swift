#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// The prefix of metadata variables in `.rodata` (`bpf_metadata_commit`).
public let metadataPrefix = "bpf_metadata_"

/// One metadata variable: its name without the prefix, and where its value lies.
public struct MetadataEntry: Sendable {
    /// The name without `bpf_metadata_` ("commit").
    public let name: String
    /// The variable's type (what the VAR refers to).
    public let typeID: UInt32
    public let offset: Int
    public let size: Int
}

/// The metadata of a program: the `bpf_metadata_*` variables of a `.rodata`
/// map bound to it, with the map's value and the BTF that describes it.
/// Shared by every program bound to the same map.
public final class ProgramMetadata {
    public let mapID: MapID
    public let btf: BTF
    /// The formatter of values this file cannot format from the raw types
    /// itself (see `fastValue`); made on first use.
    public var dumper: BTFDumper {
        if let d = madeDumper { return d }
        let d = BTFDumper(btf: btf)
        madeDumper = d
        return d
    }
    private var madeDumper: BTFDumper?
    /// The map's value (its only entry).
    public let value: [UInt8]
    /// The metadata variables, in DATASEC order.
    public let entries: [MetadataEntry]
    private var compactCache: [Int: String] = [:]

    init(mapID: MapID, btf: BTF, dumper: BTFDumper?, value: [UInt8], entries: [MetadataEntry]) {
        self.mapID = mapID
        self.btf = btf
        self.madeDumper = dumper
        self.value = value
        self.entries = entries
    }

    /// Builds metadata from a `.rodata` DATASEC and its bytes (for an object
    /// file read offline). Nil when the section holds no metadata variable.
    public static func fromSection(btf: BTF, sectionTypeID: UInt32, value: [UInt8]) -> ProgramMetadata? {
        let entries = metadataEntries(btf: btf, sectionTypeID: sectionTypeID, valueSize: value.count)
        guard !entries.isEmpty else { return nil }
        return ProgramMetadata(mapID: MapID(0), btf: btf, dumper: nil, value: value, entries: entries)
    }

    /// The variables of the DATASEC whose names start with `bpf_metadata_`
    /// (bpftool's show_prog_metadata) that lie within `valueSize` bytes.
    /// Reads libbpf's raw types: a Swift name is made only for the metadata
    /// variables, and no other type of the section is decoded (`prog show`
    /// does this once per object).
    static func metadataEntries(btf: BTF, sectionTypeID: UInt32, valueSize: Int) -> [MetadataEntry] {
        let h = btf.handle
        guard let sec = btf__type_by_id(h, sectionTypeID), btf_kind(sec) == BTFKind.dataSection.rawValue,
              let vars = btf_var_secinfos(sec) else { return [] }
        var out: [MetadataEntry] = []
        for i in 0..<Int(btf_vlen(sec)) {
            let v = vars[i]
            guard let t = btf__type_by_id(h, v.type),
                  let name = btf__name_by_offset(h, t.pointee.name_off),
                  strncmp(name, "bpf_metadata_", 13) == 0 else { continue }
            guard Int(v.offset) + Int(v.size) <= valueSize else { continue }
            out.append(MetadataEntry(name: String(cString: name + 13), typeID: t.pointee.type,
                                     offset: Int(v.offset), size: Int(v.size)))
        }
        return out
    }

    /// A value `fastValue` read from the raw types.
    enum FastValue {
        case unsigned(UInt64)
        case signed(Int64)
        /// A printable string: `count` bytes at `offset` of `value`.
        case string(offset: Int, count: Int)
    }

    /// The value of `entry` when its type is one metadata variables almost
    /// always have, read from libbpf's raw `btf_type`s: an integer of 1, 2,
    /// 4 or 8 bytes (not a char, bool or bitfield) or a `char` array holding
    /// a printable NUL-terminated string, under any typedefs and modifiers.
    /// The result is what the dumper prints for it; nil for every other type
    /// or value (the dumper formats those, and reports their errors): no
    /// dump plan and no Swift type values for the usual `bpf_metadata_`
    /// variables (`prog show` formats one `.rodata` per object).
    func fastValue(_ entry: MetadataEntry) -> FastValue? {
        let h = btf.handle
        var id = entry.typeID
        var t: UnsafePointer<btf_type>?
        for _ in 0..<32 {
            guard id != 0, let p = btf__type_by_id(h, id) else { return nil }
            switch BTFKind(rawValue: btf_kind(p)) ?? .unknown {
            case .typedef, .volatile, .const, .restrict, .typeTag:
                id = p.pointee.type
                continue
            default:
                t = p
            }
            break
        }
        guard let t else { return nil }
        // The dumper's first check: the type fits in the variable's bytes.
        let size = btf__resolve_size(h, id)
        guard size >= 0, Int(size) <= entry.size, entry.offset + entry.size <= value.count else { return nil }
        switch BTFKind(rawValue: btf_kind(t)) ?? .unknown {
        case .int:
            let enc = btf_int_encoding(t), bits = Int(btf_int_bits(t))
            guard btf_int_offset(t) == 0, enc == 0 || enc == 1, bits / 8 <= entry.size else { return nil }
            return value.withUnsafeBytes { raw -> FastValue? in
                let p = raw.baseAddress! + entry.offset
                switch (bits, enc == 1) {
                case (8, false): return .unsigned(UInt64(p.loadUnaligned(as: UInt8.self)))
                case (16, false): return .unsigned(UInt64(p.loadUnaligned(as: UInt16.self)))
                case (32, false): return .unsigned(UInt64(p.loadUnaligned(as: UInt32.self)))
                case (64, false): return .unsigned(p.loadUnaligned(as: UInt64.self))
                case (8, true): return .signed(Int64(p.loadUnaligned(as: Int8.self)))
                case (16, true): return .signed(Int64(p.loadUnaligned(as: Int16.self)))
                case (32, true): return .signed(Int64(p.loadUnaligned(as: Int32.self)))
                case (64, true): return .signed(p.loadUnaligned(as: Int64.self))
                default: return nil
                }
            }
        case .array:
            guard let a = btf_array(t) else { return nil }
            let count = Int(a.pointee.nelems)
            guard count > 0, count <= entry.size, isCharElement(a.pointee.type) else { return nil }
            return value.withUnsafeBytes { raw -> FastValue? in
                let p = raw.baseAddress! + entry.offset
                var n = 0
                while n < count {
                    let c = p.load(fromByteOffset: n, as: UInt8.self)
                    if c == 0 { return .string(offset: entry.offset, count: n) }
                    if c <= 0x1f || c >= 0x7f { return nil }
                    n += 1
                }
                return nil
            }
        default:
            return nil
        }
    }

    /// The dumper's test for an array printed as a string: modifiers (not
    /// typedefs) skipped, a 1-byte INT with the char encoding or named
    /// "char", of an encoding the dumper accepts.
    private func isCharElement(_ id: UInt32) -> Bool {
        let h = btf.handle
        var cur = id
        for _ in 0..<32 {
            guard cur != 0, let p = btf__type_by_id(h, cur) else { return false }
            switch BTFKind(rawValue: btf_kind(p)) ?? .unknown {
            case .volatile, .const, .restrict, .typeTag:
                cur = p.pointee.type
            case .int:
                // Encodings: 0, BTF_INT_SIGNED 1, BTF_INT_CHAR 2, BTF_INT_BOOL 4.
                let enc = btf_int_encoding(p)
                guard enc == 0 || enc == 1 || enc == 2 || enc == 4 else { return false }
                guard p.pointee.size == 1 else { return false }
                if enc == 2 { return true }
                guard let name = btf__name_by_offset(h, p.pointee.name_off) else { return false }
                return strcmp(name, "char") == 0
            default:
                return false
            }
        }
        return false
    }

    private func write(_ v: FastValue, to w: inout JSONWriter) {
        switch v {
        case .unsigned(let u): w.uint64(u)
        case .signed(let i): w.int64(i)
        case .string(let offset, let count):
            value.withUnsafeBytes { raw in
                w.string(String(decoding: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + count]), as: UTF8.self))
            }
        }
    }

    /// Writes `entry`'s value as JSON.
    public func writeJSON(_ entry: MetadataEntry, to w: inout JSONWriter) throws(BPFError) {
        if let v = fastValue(entry) {
            write(v, to: &w)
            return
        }
        let r: Result<Void, BPFError> = value.withUnsafeBytes { raw in
            Result { () throws(BPFError) in
                try dumper.writeJSON(typeID: entry.typeID,
                                     data: UnsafeRawBufferPointer(rebasing: raw[entry.offset..<entry.offset + entry.size]),
                                     to: &w)
            }
        }
        try r.get()
    }

    /// Writes the `metadata` object: `{"commit": "abc", ...}`. Stops at the
    /// first value that cannot be formatted (bpftool does too) and throws.
    public func writeJSONObject(to w: inout JSONWriter) throws(BPFError) {
        w.beginObject()
        defer { w.endObject() }
        for e in entries {
            w.key(e.name)
            try writeJSON(e, to: &w)
        }
    }

    private var compactJSONCache: (bytes: [UInt8], count: Int, error: BPFError?)?

    /// The `metadata` object as compact JSON, built once for all the programs
    /// that share this map: the entries up to the first value that cannot be
    /// formatted (bpftool stops there), how many that is, and why it stopped.
    public func compactJSON() -> (bytes: [UInt8], count: Int, error: BPFError?) {
        if let c = compactJSONCache { return c }
        var out = JSONWriter(capacity: 256)
        out.beginObject()
        var count = 0
        var failure: BPFError?
        for e in entries {
            if let f = fastValue(e) {
                out.key(e.name)
                write(f, to: &out)
                count += 1
                continue
            }
            var v = JSONWriter()
            do {
                try writeJSON(e, to: &v)
            } catch {
                failure = error
                break
            }
            out.key(e.name)
            out.rawValue(v.bytes)
            count += 1
        }
        out.endObject()
        // Small (the last 64 maps' metadata stay cached, `MetadataReader`):
        // a larger object is copied to its size.
        let c = (bytes: out.bytes.count <= 256 ? out.bytes : Array(out.bytes[...]), count: count, error: failure)
        compactJSONCache = c
        return c
    }

    /// The value as bpftool's plain-text metadata line shows it
    /// (`"abc"`, `42`, `{"x":1}`); computed once.
    public func text(_ index: Int) throws(BPFError) -> String {
        if let s = compactCache[index] { return s }
        let entry = entries[index]
        var s = ""
        let r: Result<Void, BPFError> = value.withUnsafeBytes { raw in
            Result { () throws(BPFError) in
                try dumper.writeCompactText(typeID: entry.typeID,
                                            data: UnsafeRawBufferPointer(rebasing: raw[entry.offset..<entry.offset + entry.size]),
                                            to: &s)
            }
        }
        try r.get()
        compactCache[index] = s
        return s
    }

    /// Whether some entry is called `key` (with or without the prefix) and,
    /// when `value` is given, has that value: its text form, or the contents of
    /// a string value without the quotes (`commit=abc` matches `"abc"`).
    public func matches(key: String, value wanted: String?) -> Bool {
        let k = key.hasPrefix(metadataPrefix) ? String(key.dropFirst(metadataPrefix.count)) : key
        for (i, e) in entries.enumerated() where e.name == k {
            guard let wanted else { return true }
            guard let t = try? text(i) else { continue }
            if t == wanted { return true }
            if let unquoted = unquoteJSONString(t), unquoted == wanted { return true }
        }
        return false
    }
}

/// The contents of a string as bpftool's json writer quotes it (C escapes
/// only), nil when `s` is not such a string.
func unquoteJSONString(_ s: String) -> String? {
    let b = Array(s.utf8)
    guard b.count >= 2, b.first == 34, b.last == 34 else { return nil }
    var out: [UInt8] = []
    var i = 1
    while i < b.count - 1 {
        if b[i] == 92, i + 1 < b.count - 1 {
            switch b[i + 1] {
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "b"): out.append(8)
            default: out.append(b[i + 1])
            }
            i += 2
        } else {
            out.append(b[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// A `--metadata [KEY[=VALUE]]` filter.
public struct MetadataFilter: Sendable, Equatable {
    public var key: String?
    public var value: String?

    /// No key: programs with any metadata; a key: those carrying it; key and value: those where it has that value.
    public init(key: String? = nil, value: String? = nil) {
        self.key = key
        self.value = value
    }

    /// Parses `KEY` or `KEY=VALUE` (the first '=' splits).
    public init(parsing text: String) {
        if let eq = text.firstIndex(of: "=") {
            key = String(text[..<eq])
            value = String(text[text.index(after: eq)...])
        } else {
            key = text
            value = nil
        }
    }

    /// Whether a program with `metadata` passes: it has metadata, and the key
    /// (and value) when given.
    public func matches(_ metadata: ProgramMetadata?) -> Bool {
        guard let metadata, !metadata.entries.isEmpty else { return false }
        guard let key else { return true }
        return metadata.matches(key: key, value: value)
    }
}

/// Finds programs' metadata as bpftool does, with every map and BTF read
/// once per run however many programs share them.
public final class MetadataReader {
    private enum MapVerdict {
        case notCandidate
        /// A `.rodata`-like map: its metadata (nil when it has none).
        case candidate(ProgramMetadata?)
        /// Opening or reading the map failed: bpftool stops looking there.
        case unreadable
    }

    private var verdicts: [MapID: MapVerdict] = [:]
    /// The maps whose metadata `verdicts` holds, oldest first, at most
    /// `capacity`: a metadata value keeps its map's BTF, dump plan and bytes
    /// alive, so a run over thousands of objects would keep them all until
    /// it exits. Programs of one object have neighbouring ids, so the
    /// programs sharing a `.rodata` are met close together; a map forgotten
    /// and met again is read again (same output, a few syscalls more).
    private var held: [(map: MapID, btf: BTFID)] = []
    private var oldest = 0
    private let capacity: Int
    /// Where each BTF object is fetched (BTF.fetch), reused.
    private var btfBuffer: [UInt8] = []

    /// `capacity`: how many maps' metadata (with their BTF and dump plans)
    /// stay cached at once.
    public init(capacity: Int = 64) {
        self.capacity = max(1, capacity)
        // Every map met gets a verdict, and most are not `.rodata`: room
        // for a few hundred up front rather than rehashing each time the
        // table doubles.
        verdicts.reserveCapacity(4 * self.capacity)
    }

    private func remember(_ id: MapID, _ verdict: MapVerdict, btf: BTFID?) {
        verdicts[id] = verdict
        guard case .candidate(.some) = verdict, let btf else { return }
        if held.count < capacity {
            held.append((id, btf))
            return
        }
        // Forget the oldest: its metadata (with its BTF and dumper).
        let gone = held[oldest]
        held[oldest] = (id, btf)
        oldest = (oldest + 1) % capacity
        verdicts.removeValue(forKey: gone.map)
    }

    /// The metadata bound to the program, following bpftool's find_metadata:
    /// the first of its maps that is an array with a 4-byte key, one entry, a
    /// BTF value and ".rodata" in its name; nil when that map has no
    /// `bpf_metadata_` variable or cannot be read.
    /// Calls `bpf_map_get_fd_by_id`, `bpf_map_get_info_by_fd`, `bpf_map_lookup_elem`.
    public func metadata(for info: ProgramInfo) -> ProgramMetadata? {
        for id in info.mapIDs {
            let verdict: MapVerdict
            if let v = verdicts[id] {
                verdict = v
            } else {
                let (v, btf) = examine(id)
                verdict = v
                remember(id, v, btf: btf)
            }
            switch verdict {
            case .notCandidate: continue
            case .candidate(let m): return m
            case .unreadable: return nil
            }
        }
        return nil
    }

    private func examine(_ id: MapID) -> (MapVerdict, BTFID?) {
        let fd = bpf_map_get_fd_by_id(id.rawValue)
        guard fd >= 0 else { return (.unreadable, nil) }
        defer { _ = Glibc.close(fd) }
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        guard bpf_map_get_info_by_fd(fd, &info, &len) == 0 else { return (.unreadable, nil) }
        // A byte search: String.contains(String) cost ~17k instructions a call.
        guard info.type == BPF_MAP_TYPE_ARRAY.rawValue, info.key_size == 4, info.max_entries == 1,
              info.btf_value_type_id != 0, cArrayContains(info.name, ".rodata") else { return (.notCandidate, nil) }
        var value = [UInt8](repeating: 0, count: Int(info.value_size))
        var key: UInt32 = 0
        let r = value.withUnsafeMutableBytes { bpf_map_lookup_elem(fd, &key, $0.baseAddress) }
        guard r == 0 else { return (.unreadable, nil) }
        guard let btf = try? BTF.fetch(BTFID(info.btf_id), buffer: &btfBuffer) else { return (.candidate(nil), nil) }
        let entries = ProgramMetadata.metadataEntries(btf: btf, sectionTypeID: info.btf_value_type_id,
                                                      valueSize: value.count)
        guard !entries.isEmpty else { return (.candidate(nil), nil) }
        // Most metadata needs no dumper (ProgramMetadata.fastValue): one is
        // made on first use, per map.
        return (.candidate(ProgramMetadata(mapID: id, btf: btf, dumper: nil, value: value, entries: entries)),
                BTFID(info.btf_id))
    }
}
