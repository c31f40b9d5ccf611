#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Where `object pin --attach-to PROG=TARGET` attaches a program that its
/// section name cannot place:
/// `xdp:IFNAME[:generic|native] | tcx_ingress:IFNAME | tcx_egress:IFNAME |
///  cgroup:CGROUP_PATH[:ATTACH_TYPE] | uprobe:BINARY:FUNCTION | netns:PATH`.
public enum ProgramAttachTarget: Equatable, Sendable, CustomStringConvertible {
    public enum XDPMode: String, Sendable { case generic, native }

    case xdp(interface: String, mode: XDPMode?)
    case tcx(interface: String, ingress: Bool)
    case cgroup(path: String, attachType: AttachType?)
    case uprobe(binary: String, function: String)
    case netns(path: String)

    public static let grammar = "xdp:IFNAME[:generic|native] | tcx_ingress:IFNAME | tcx_egress:IFNAME | "
        + "cgroup:CGROUP_PATH[:ATTACH_TYPE] | uprobe:BINARY:FUNCTION | netns:PATH"

    /// Parses TARGET; nil with the reason when it does not fit the grammar.
    public static func parse(_ text: String) -> Result<ProgramAttachTarget, BPFError> {
        func bad(_ why: String) -> Result<ProgramAttachTarget, BPFError> {
            .failure(BPFError("--attach-to target '\(text)': \(why); expected \(grammar)", errno: EINVAL))
        }
        guard let colon = text.firstIndex(of: ":") else { return bad("no KIND:") }
        let kind = String(text[..<colon])
        let rest = String(text[text.index(after: colon)...])
        guard !rest.isEmpty else { return bad("nothing after \(kind):") }
        switch kind {
        case "xdp":
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2, !parts[0].isEmpty else { return bad("expected xdp:IFNAME[:generic|native]") }
            if parts.count == 2 {
                guard let mode = XDPMode(rawValue: parts[1]) else { return bad("XDP mode '\(parts[1])' is not generic or native") }
                return .success(.xdp(interface: parts[0], mode: mode))
            }
            return .success(.xdp(interface: parts[0], mode: nil))
        case "tcx_ingress", "tcx_egress":
            guard !rest.contains(":") else { return bad("expected \(kind):IFNAME") }
            return .success(.tcx(interface: rest, ingress: kind == "tcx_ingress"))
        case "cgroup":
            // CGROUP_PATH may not contain ':'; a last ":WORD" naming an attach type is the type.
            if let c = rest.lastIndex(of: ":") {
                let word = String(rest[rest.index(after: c)...])
                guard let t = CgroupAttach.attachType(word) else { return bad("unknown cgroup attach type '\(word)'") }
                let path = String(rest[..<c])
                guard !path.isEmpty else { return bad("empty cgroup path") }
                return .success(.cgroup(path: path, attachType: t))
            }
            return .success(.cgroup(path: rest, attachType: nil))
        case "uprobe":
            guard let c = rest.lastIndex(of: ":"), c != rest.startIndex, rest.index(after: c) != rest.endIndex else {
                return bad("expected uprobe:BINARY:FUNCTION")
            }
            return .success(.uprobe(binary: String(rest[..<c]), function: String(rest[rest.index(after: c)...])))
        case "netns":
            return .success(.netns(path: rest))
        default:
            return bad("unknown kind '\(kind)'")
        }
    }

    /// The canonical text (part of the tree's options fingerprint).
    public var description: String {
        switch self {
        case .xdp(let i, let m): return "xdp:\(i)" + (m.map { ":\($0.rawValue)" } ?? "")
        case .tcx(let i, let ingress): return (ingress ? "tcx_ingress:" : "tcx_egress:") + i
        case .cgroup(let p, let t): return "cgroup:\(p)" + (t.map { ":\($0.name ?? String($0.rawValue))" } ?? "")
        case .uprobe(let b, let f): return "uprobe:\(b):\(f)"
        case .netns(let p): return "netns:\(p)"
        }
    }
}

/// `PROG=TARGET` of `object pin --attach-to`.
public struct ProgramAttachSpec: Equatable, Sendable, CustomStringConvertible {
    public var program: String
    public var target: ProgramAttachTarget

    public init(program: String, target: ProgramAttachTarget) {
        self.program = program
        self.target = target
    }

    /// Parses `PROG=TARGET`.
    public init(parsing text: String) throws(BPFError) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw BPFError("--attach-to '\(text)': expected PROG=TARGET", errno: EINVAL)
        }
        program = String(text[..<eq])
        target = try ProgramAttachTarget.parse(String(text[text.index(after: eq)...])).get()
    }

    public var description: String { "\(program)=\(target)" }
}

extension ObjectProgram {
    /// Before load: what the target needs the program to be loaded with
    /// (the expected attach type of tcx, of a cgroup type given by name,
    /// and of XDP). Calls `bpf_program__set_expected_attach_type`.
    func prepare(for target: ProgramAttachTarget) throws(BPFError) {
        let type: bpf_attach_type?
        switch target {
        case .tcx(_, let ingress): type = ingress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS
        case .cgroup(_, let t?): type = bpf_attach_type(rawValue: t.rawValue)
        case .xdp: type = BPF_XDP
        default: type = nil
        }
        guard let type, bpf_program__expected_attach_type(handle) != type else { return }
        try check(bpf_program__set_expected_attach_type(handle, type),
                  "--attach-to \(name): set expected attach type \(AttachType(rawValue: type.rawValue))")
    }

    /// Attaches the loaded program to `target`. `scratch` is a directory on
    /// bpffs this run owns: an XDP link with a mode is made with
    /// `bpf_link_create` (libbpf's attach_xdp takes no flags) and handed to
    /// libbpf through a pin there, removed at once. Calls
    /// `bpf_program__attach_xdp`, `bpf_program__attach_tcx`,
    /// `bpf_program__attach_cgroup`, `bpf_program__attach_uprobe_opts`,
    /// `bpf_program__attach_netns` or `bpf_link_create` and `bpf_link__open`.
    func attach(to target: ProgramAttachTarget, scratch: String) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) to \(target)"
        func index(_ interface: String) throws(BPFError) -> Int32 {
            let i = if_nametoindex(interface)
            guard i > 0 else { throw BPFError(what, errno: Glibc.errno == 0 ? ENODEV : Glibc.errno, detail: "no interface \(interface)") }
            return Int32(bitPattern: i)
        }
        func open(_ path: String, directory: Bool) throws(BPFError) -> Int32 {
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0))
            guard fd >= 0 else { throw BPFError(what, errno: Glibc.errno, detail: "open \(path)") }
            return fd
        }
        func wrap(_ l: OpaquePointer?) throws(BPFError) -> BPFLink {
            guard let l else { throw BPFError(what, errno: Glibc.errno, detail: takeLibbpfWarning()) }
            return BPFLink(handle: l, object: object)
        }
        guard let progFD = fd else { throw BPFError(what, errno: EINVAL, detail: "the program is not loaded") }
        clearLibbpfWarning()
        switch target {
        case .xdp(let interface, nil):
            return try wrap(bpf_program__attach_xdp(handle, try index(interface)))
        case .xdp(let interface, let mode?):
            let ifindex = try index(interface)
            let linkFD: Int32 = try withLibbpfOptions(bpf_link_create_opts.self) { (opts) throws(BPFError) -> Int32 in
                opts.pointee.flags = mode == .generic ? 2 : 4      // XDP_FLAGS_SKB_MODE, XDP_FLAGS_DRV_MODE
                let r = bpf_link_create(progFD, ifindex, BPF_XDP, opts)
                if r < 0 { throw BPFError(what, errno: r == -1 ? Glibc.errno : -r) }
                return r
            }
            defer { Glibc.close(linkFD) }
            // bpffs refuses names with a dot.
            let pin = scratch + "/xdp_link_scratch_\(getpid())_\(name)"
            try check(bpf_obj_pin(linkFD, pin), "\(what): pin in \(scratch)")
            guard let l = bpf_link__open(pin) else {
                unlink(pin)
                throw BPFError(what, errno: Glibc.errno, detail: "open the link pinned at \(pin)")
            }
            // Removes the scratch pin and forgets it: the link can be pinned in the tree.
            _ = bpf_link__unpin(l)
            return BPFLink(handle: l, object: object)
        case .tcx(let interface, _):
            try LibbpfVersion.require(1, 3, for: what)
            return try wrap(bpfswift_program_attach_tcx(handle, try index(interface)))
        case .cgroup(let path, _):
            let cg = try open(path, directory: true)
            defer { Glibc.close(cg) }
            return try wrap(bpf_program__attach_cgroup(handle, cg))
        case .netns(let path):
            let ns = try open(path, directory: false)
            defer { Glibc.close(ns) }
            return try wrap(bpf_program__attach_netns(handle, ns))
        case .uprobe(let binary, let function):
            let retprobe = sectionName.hasPrefix("uretprobe")
            let link: OpaquePointer? = withLibbpfOptions(bpf_uprobe_opts.self) { opts in
                function.withCString { fn in
                    opts.pointee.func_name = fn
                    opts.pointee.retprobe = retprobe
                    return bpf_program__attach_uprobe_opts(handle, -1, binary, 0, opts)
                }
            }
            return try wrap(link)
        }
    }
}
