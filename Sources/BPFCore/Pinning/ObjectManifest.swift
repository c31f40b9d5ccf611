#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// What an object tree holds and where it came from, recorded inside the
/// tree itself. bpffs holds only BPF objects, so the record is BPF-native:
/// a one-element array map named `bpfswift_obj`, pinned at PATH/manifest,
/// whose value is the text encoding below, written once and frozen
/// (BPF_MAP_FREEZE) so that nothing can change it afterwards.
///
/// `object show` compares the record with the pins it finds: a tree is
/// complete when every recorded pin exists and holds the recorded id.
public struct ObjectManifest: Equatable, Sendable {
    /// The encoding version; readers refuse versions they do not know.
    public static let formatVersion = 1
    /// The kernel name of the manifest map (15 characters at most).
    public static let mapName = "bpfswift_obj"

    /// A map recorded in the tree, pinned at maps/`pinName`.
    public struct Map: Equatable, Sendable {
        /// The pin's name under maps/ ('.' → '_').
        public var pinName: String
        /// libbpf's name of the map ("counter.bss").
        public var name: String
        public var id: UInt32
        /// bpftool's type name ("hash").
        public var type: String
        /// For a map pinned by name (LIBBPF_PIN_BY_NAME or --pin-map): its shared pin, which outlives the tree.
        public var sharedPin: String?
        /// For a map given with --map: the pinned map it reuses.
        public var reusedPin: String?
    }

    /// A program recorded in the tree, pinned at programs/`name`, with its link if attached.
    public struct Program: Equatable, Sendable {
        /// The function name, also its pin's name under programs/.
        public var name: String
        public var id: UInt32
        /// bpftool's type name ("tracepoint").
        public var type: String
        public var section: String
        /// The link's pin name under links/ when the program was attached.
        public var link: String?
        /// Why an `--attach` run left it unattached (nil when attached or not asked to attach).
        public var notAttached: String?
    }

    /// A link recorded in the tree, pinned at links/`pinName`: a program's or a struct_ops map's.
    public struct Link: Equatable, Sendable {
        /// The pin's name under links/: the program's name, or the struct_ops map's name.
        public var pinName: String
        public var id: UInt32
        /// bpftool's link type name ("perf_event", "struct_ops", ...), or "struct_ops_map" for a
        /// struct_ops map registered without a link (its pin then holds the map).
        public var type: String
        /// The program it attaches, or nil for a struct_ops registration.
        public var program: String?
        /// The struct_ops map it registers, or nil.
        public var structOpsMap: String?
        /// Whether the pin holds a map (struct_ops registered without BPF_F_LINK) rather than a link.
        public var pinHoldsMap: Bool { type == "struct_ops_map" }
    }

    public var sha256: String
    public var objectName: String
    /// The object file's absolute path when it was pinned.
    public var file: String
    /// The options that shaped the tree (re-pinning with other options is not a no-op).
    public var options: String
    /// Whether the run attached programs (--attach).
    public var attach: Bool
    /// UNIX time of the pin.
    public var pinnedAt: Int64
    public var maps: [Map] = []
    public var programs: [Program] = []
    public var links: [Link] = []

    public init(sha256: String, objectName: String, file: String, options: String, attach: Bool, pinnedAt: Int64) {
        self.sha256 = sha256
        self.objectName = objectName
        self.file = file
        self.options = options
        self.attach = attach
        self.pinnedAt = pinnedAt
    }

    // MARK: text encoding
    //
    //   bpfswift-object 1
    //   sha256 <hex>
    //   name <object name>
    //   file <path>
    //   options <fingerprint>
    //   attach 0|1
    //   pinned_at <seconds>
    //   map <pin>\t<name>\t<id>\t<type>\t<shared pin or ->\t<reused pin or ->
    //   prog <name>\t<id>\t<type>\t<section>\t<link or ->\t<note or ->
    //   link <pin>\t<id>\t<type>\t<program or ->\t<struct_ops map or ->
    //   end
    //
    // Free text has tabs and newlines replaced by spaces; "-" stands for none
    // (no kernel name or path is "-": bpffs and the kernel refuse it).

    private static func unopt(_ s: Substring) -> String? { s == "-" ? nil : String(s) }

    /// The text encoding stored as the manifest map's value (versioned by `formatVersion`).
    /// Free text (names, paths, reasons) has tabs and line breaks turned into
    /// spaces; an absent value is "-". Built byte by byte: `object pin` writes
    /// one per run and a tree can hold hundreds of lines.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + 96 * (maps.count + programs.count + links.count))
        func raw(_ s: String) { out.append(contentsOf: s.utf8) }
        func text(_ s: String) {
            for b in s.utf8 { out.append(b == 0x09 || b == 0x0a || b == 0x0d ? 0x20 : b) }
        }
        func optional(_ s: String?) { if let s { text(s) } else { out.append(UInt8(ascii: "-")) } }
        func tab() { out.append(0x09) }
        func newline() { out.append(0x0a) }

        raw("bpfswift-object \(Self.formatVersion)\n")
        raw("sha256 "); raw(sha256); newline()
        raw("name "); text(objectName); newline()
        raw("file "); text(file); newline()
        raw("options "); text(options); newline()
        raw(attach ? "attach 1\n" : "attach 0\n")
        raw("pinned_at "); raw(String(pinnedAt)); newline()
        for m in maps {
            raw("map "); raw(m.pinName); tab(); raw(m.name); tab(); raw(String(m.id)); tab(); raw(m.type); tab()
            optional(m.sharedPin); tab(); optional(m.reusedPin); newline()
        }
        for p in programs {
            raw("prog "); raw(p.name); tab(); raw(String(p.id)); tab(); raw(p.type); tab(); text(p.section); tab()
            optional(p.link); tab(); optional(p.notAttached); newline()
        }
        for l in links {
            raw("link "); raw(l.pinName); tab(); raw(String(l.id)); tab(); raw(l.type); tab()
            optional(l.program); tab(); optional(l.structOpsMap); newline()
        }
        raw("end\n")
        return out
    }

    /// Decodes a manifest value (NUL padding allowed). Throws on anything it does not recognise.
    public static func decode(_ bytes: [UInt8]) throws(BPFError) -> ObjectManifest {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        let text = String(decoding: bytes[0..<end], as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        func bad(_ why: String) -> BPFError { BPFError("decode object manifest", errno: EINVAL, detail: "\(why)") }
        guard let first = lines.popFirst(), first.hasPrefix("bpfswift-object ") else { throw bad("not a bpfswift manifest") }
        guard let version = Int(first.dropFirst("bpfswift-object ".count)) else { throw bad("bad version line") }
        guard version == formatVersion else { throw bad("format version \(version), this bpfswift reads \(formatVersion)") }
        var m = ObjectManifest(sha256: "", objectName: "", file: "", options: "", attach: false, pinnedAt: 0)
        var sawEnd = false
        for line in lines {
            if line.isEmpty { continue }
            if line == "end" { sawEnd = true; break }
            guard let space = line.firstIndex(of: " ") else { throw bad("bad line '\(line)'") }
            let key = line[..<space]
            let value = line[line.index(after: space)...]
            let f = value.split(separator: "\t", omittingEmptySubsequences: false)
            switch key {
            case "sha256": m.sha256 = String(value)
            case "name": m.objectName = String(value)
            case "file": m.file = String(value)
            case "options": m.options = String(value)
            case "attach": m.attach = value == "1"
            case "pinned_at": m.pinnedAt = Int64(value) ?? 0
            case "map":
                guard f.count == 6, let id = UInt32(f[2]) else { throw bad("bad map line '\(line)'") }
                m.maps.append(Map(pinName: String(f[0]), name: String(f[1]), id: id, type: String(f[3]),
                                  sharedPin: unopt(f[4]), reusedPin: unopt(f[5])))
            case "prog":
                guard f.count == 6, let id = UInt32(f[1]) else { throw bad("bad prog line '\(line)'") }
                m.programs.append(Program(name: String(f[0]), id: id, type: String(f[2]), section: String(f[3]),
                                          link: unopt(f[4]), notAttached: unopt(f[5])))
            case "link":
                guard f.count == 5, let id = UInt32(f[1]) else { throw bad("bad link line '\(line)'") }
                m.links.append(Link(pinName: String(f[0]), id: id, type: String(f[2]),
                                    program: unopt(f[3]), structOpsMap: unopt(f[4])))
            default:
                continue  // keys added later within the same version are skipped
            }
        }
        guard sawEnd else { throw bad("truncated (no end line)") }
        guard m.sha256.count == 64 else { throw bad("no sha256") }
        if let why = m.invalidity() { throw bad(why) }
        return m
    }

    /// Why this record cannot describe a tree bpfswift made, or nil. Every pin
    /// name must be one plain name inside its directory (a manifest naming
    /// "../../victim/links/x" is forged), names unique, ids non-zero, and
    /// programs and their links must name each other.
    public func invalidity() -> String? {
        // Duplicates found by sorting each kind's names: no Set<String>,
        // whose first use (metadata, hashing) was half the cost of this
        // check for a small object, which object pin runs every time.
        func duplicate(_ names: [String]) -> String? {
            guard names.count > 1 else { return nil }
            let sorted = names.sorted()
            for i in 1..<sorted.count where sorted[i] == sorted[i - 1] { return sorted[i] }
            return nil
        }
        for m in maps {
            guard isPlainName(m.pinName) else { return "map pin name '\(m.pinName)' is not a plain name" }
            guard m.id != 0 else { return "map \(m.pinName) has id 0" }
        }
        if let d = duplicate(maps.map(\.pinName)) { return "map \(d) recorded twice" }
        for p in programs {
            guard isPlainName(p.name) else { return "program name '\(p.name)' is not a plain name" }
            guard p.id != 0 else { return "program \(p.name) has id 0" }
            if let l = p.link, !links.contains(where: { $0.pinName == l }) { return "program \(p.name) names link \(l), which is not recorded" }
        }
        if let d = duplicate(programs.map(\.name)) { return "program \(d) recorded twice" }
        for l in links {
            guard isPlainName(l.pinName) else { return "link pin name '\(l.pinName)' is not a plain name" }
            guard l.id != 0 else { return "link \(l.pinName) has id 0" }
            if let p = l.program, !programs.contains(where: { $0.name == p }) { return "link \(l.pinName) names program \(p), which is not recorded" }
        }
        if let d = duplicate(links.map(\.pinName)) { return "link \(d) recorded twice" }
        return nil
    }

    // MARK: in the kernel

    /// Creates the manifest map, writes this record into it and freezes it.
    /// Returns the map's descriptor (pin it to publish). Calls `bpf_map_create`,
    /// `bpf_map_update_elem` and `bpf_map_freeze`.
    public func createMap() throws(BPFError) -> FileDescriptor {
        var value = encoded()
        let padded = (value.count + 7) / 8 * 8
        value.append(contentsOf: [UInt8](repeating: 0, count: padded - value.count))
        let raw = bpf_map_create(BPF_MAP_TYPE_ARRAY, Self.mapName, 4, UInt32(value.count), 1, nil)
        if raw < 0 { throw BPFError("create the object manifest map", errno: raw == -1 ? Glibc.errno : -raw) }
        let fd = FileDescriptor(owning: raw)
        var key: UInt32 = 0
        let r = value.withUnsafeBytes { v in bpf_map_update_elem(fd.rawValue, &key, v.baseAddress, 0) }
        if r != 0 { throw BPFError("write the object manifest", errno: r == -1 ? Glibc.errno : -r) }
        let fr = bpf_map_freeze(fd.rawValue)
        if fr != 0 { throw BPFError("freeze the object manifest", errno: fr == -1 ? Glibc.errno : -fr) }
        return fd
    }

    /// Reads the manifest pinned at `path`. Throws ENOENT when there is none,
    /// and EINVAL when the pin is not a bpfswift manifest map.
    /// Calls `bpf_obj_get`, `bpf_map_get_info_by_fd` and `bpf_map_lookup_elem`.
    public static func read(pinnedAt path: String) throws(BPFError) -> (manifest: ObjectManifest, mapID: UInt32) {
        try read(try Kernel.openPinned(path), path: path)
    }

    /// Reads the manifest map behind `fd` (got from the pin at `path`).
    static func read(_ fd: FileDescriptor, path: String) throws(BPFError) -> (manifest: ObjectManifest, mapID: UInt32) {
        guard Kernel.kind(of: fd) == .map else {
            throw BPFError("read object manifest \(path)", errno: EINVAL, detail: "the pin is not a map")
        }
        var info = bpf_map_info()
        try Kernel.info(fd.rawValue, &info, what: "map \(path)")
        guard info.type == BPF_MAP_TYPE_ARRAY.rawValue, info.key_size == 4, info.max_entries == 1,
              stringFromCArray(info.name) == mapName else {
            throw BPFError("read object manifest \(path)", errno: EINVAL, detail: "the pinned map is not a bpfswift manifest")
        }
        var value = [UInt8](repeating: 0, count: Int(info.value_size))
        var key: UInt32 = 0
        let r = value.withUnsafeMutableBytes { v in bpf_map_lookup_elem(fd.rawValue, &key, v.baseAddress) }
        if r != 0 { throw BPFError("read object manifest \(path)", errno: r == -1 ? Glibc.errno : -r) }
        return (try decode(value), info.id)
    }
}
