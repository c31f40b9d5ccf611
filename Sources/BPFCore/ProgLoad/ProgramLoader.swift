#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A map of the object that `prog load` makes reuse an existing map.
public struct MapReplacement {
    public enum Which: Equatable { case index(Int), name(String) }
    public var which: Which
    public var map: FileDescriptor
    public init(_ which: Which, map: FileDescriptor) {
        self.which = which
        self.map = map
    }
}

/// bpftool's `prog load` / `prog loadall`: open an object file, load it,
/// pin its first program (or all, under a directory), optionally attach
/// them and pin the links instead, and pin the maps.
public struct ProgramLoadOptions {
    public var all = false
    /// A program type name for every program ("xdp", "kprobe", ...), as
    /// libbpf names section prefixes; nil: each program's section decides.
    public var type: String?
    public var replacements: [MapReplacement] = []
    public var pinMaps: String?
    public var autoattach = false
    public init() {}
}

/// libbpf 1.4 keeps the descriptor of an object "file" it cannot read as
/// ELF (a directory): such paths are refused before libbpf opens them.
func requireRegularFile(_ path: String, _ what: String) throws(BPFError) {
    var st = stat()
    guard stat(path, &st) == 0 else { throw BPFError(what, errno: Glibc.errno, detail: path) }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw BPFError(what, errno: EINVAL, detail: "\(path) is not a regular file") }
}

public enum ProgramLoader {
    /// Loads `file` and pins at `path`; for load, the first program (or its
    /// link with autoattach); for loadall, PATH/NAME per program. Messages
    /// are bpftool's. Calls `libbpf_prog_type_by_name`, `bpf_object__open_file`,
    /// `bpf_map__reuse_fd`, `bpf_object__load`, `bpf_obj_pin`,
    /// `bpf_object__pin_programs`, `bpf_program__attach`, `bpf_link__pin`,
    /// `bpf_object__pin_maps`.
    /// Returns the programs that could not attach (autoattach pins those).
    @discardableResult
    public static func load(_ file: String, at path: String, _ o: ProgramLoadOptions) throws(BPFError) -> [String] {
        var commonType: bpf_prog_type? = nil
        var commonAttach = bpf_attach_type(rawValue: 0)
        if let t = o.type {
            var pt = bpf_prog_type(rawValue: 0), at = bpf_attach_type(rawValue: 0)
            clearLibbpfWarning()
            if libbpf_prog_type_by_name(t, &pt, &at) < 0 && libbpf_prog_type_by_name(t + "/", &pt, &at) < 0 {
                throw BPFError("failed to guess program type from ELF section '\(t)'",
                               detail: "see libbpf's supported section names (bpfswift -d prints them)")
            }
            commonType = pt
            commonAttach = at
        }
        try requireRegularFile(file, "failed to open object file")
        clearLibbpfWarning()
        guard let obj = bpf_object__open_file(file, nil) else {
            throw BPFError("failed to open object file", errno: Glibc.errno, detail: takeLibbpfWarning())
        }
        defer { bpf_object__close(obj) }

        var prog = bpf_object__next_program(obj, nil)
        while let p = prog {
            var type = commonType ?? bpf_prog_type(rawValue: 0)
            var attach = commonAttach
            if commonType == nil {
                let sec = String(cString: bpf_program__section_name(p))
                if libbpf_prog_type_by_name(sec, &type, &attach) < 0 {
                    throw BPFError("failed to guess program type from ELF section '\(sec)'", errno: ESRCH)
                }
            }
            if bpf_program__type(p) != type { bpf_program__set_type(p, type) }
            bpf_program__set_expected_attach_type(p, attach)
            prog = bpf_object__next_program(obj, p)
        }

        // Map reuse: names resolve to indexes; each index once, every one used.
        var maps: [OpaquePointer] = []
        var m = bpf_object__next_map(obj, nil)
        while let map = m { maps.append(map); m = bpf_object__next_map(obj, map) }
        var byIndex: [Int: FileDescriptor] = [:]
        for r in o.replacements {
            let idx: Int
            switch r.which {
            case .index(let i): idx = i
            case .name(let n):
                guard let i = maps.firstIndex(where: { String(cString: bpf_map__name($0)) == n }) else {
                    throw BPFError("unable to find map '\(n)'")
                }
                idx = i
            }
            if byIndex[idx] != nil { throw BPFError("replacement for map idx \(idx) specified more than once") }
            guard idx >= 0 && idx < maps.count else { throw BPFError("map idx '\(idx)' not used") }
            byIndex[idx] = r.map
        }
        for (idx, fd) in byIndex {
            let e = bpf_map__reuse_fd(maps[idx], fd.rawValue)
            if e != 0 { throw BPFError("unable to set up map reuse: \(e)", errno: -e) }
        }

        clearLibbpfWarning()
        let e = bpf_object__load(obj)
        if e != 0 { throw BPFError("failed to load object file", errno: -e, detail: takeLibbpfWarning()) }

        var notAttached: [String] = []
        func pinOne(_ p: OpaquePointer, _ at: String) throws(BPFError) {
            let name = String(cString: bpf_program__name(p))
            if o.autoattach, let link = bpf_program__attach(p) {
                defer { bpf_link__destroy(link) }
                let r = bpf_link__pin(link, at)
                if r != 0 { throw BPFError("failed to pin program \(name) link at \(at)", errno: -r) }
                return
            }
            if o.autoattach { notAttached.append(name) }
            if bpf_obj_pin(bpf_program__fd(p), at) != 0 {
                throw BPFError("failed to pin program \(String(cString: bpf_program__section_name(p)))", errno: Glibc.errno)
            }
        }
        var pinned: [String] = []
        do throws(BPFError) {
            if !o.all {
                guard let p = bpf_object__next_program(obj, nil) else {
                    throw BPFError("object file doesn't contain any bpf program")
                }
                try pinOne(p, path)
                pinned.append(path)
            } else {
                if mkdir(path, 0o700) != 0 && Glibc.errno != EEXIST {
                    throw BPFError("can't create directory \(path)", errno: Glibc.errno)
                }
                var p = bpf_object__next_program(obj, nil)
                while let q = p {
                    let at = path + "/" + String(cString: bpf_program__name(q))
                    try pinOne(q, at)
                    pinned.append(at)
                    p = bpf_object__next_program(obj, q)
                }
            }
            if let dir = o.pinMaps {
                if mkdir(dir, 0o700) != 0 && Glibc.errno != EEXIST {
                    throw BPFError("can't create directory \(dir)", errno: Glibc.errno)
                }
                let r = bpf_object__pin_maps(obj, dir)
                if r != 0 { throw BPFError("failed to pin all maps", errno: -r) }
            }
        } catch {
            for p in pinned { unlink(p) }
            throw error
        }
        return notAttached
    }
}
