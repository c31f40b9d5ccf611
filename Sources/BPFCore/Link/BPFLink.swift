#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A program's attachment: what every attach call returns (`attach()` from
/// the section name, `attachUprobe`, `attachXDP`, ...). Destroyed (and
/// detached, unless pinned or disconnected) when this goes away.
///
/// Behind it is either libbpf's `struct bpf_link` or, for hooks attached
/// with `bpf_link_create` directly (XDP with a mode, tcx, netfilter), a
/// `KernelLink`; the calls are the same.
public final class BPFLink: @unchecked Sendable {
    enum Backing {
        case libbpf(OpaquePointer)
        case kernel(KernelLink)
    }
    let backing: Backing
    // Keeps the programs alive while the link wrapper exists.
    let object: BPFObject?
    private var disconnected = false
    // A libbpf link destroyed by detach() (links the kernel cannot detach in place).
    private var destroyed = false

    init(handle: OpaquePointer, object: BPFObject?) {
        backing = .libbpf(handle)
        self.object = object
    }

    /// Wraps a link held through a descriptor (from `KernelLink.attach` or
    /// `KernelLink.open`): the same calls as any other link.
    public init(_ link: KernelLink, object: BPFObject? = nil) {
        backing = .kernel(link)
        self.object = object
    }

    deinit {
        switch backing {
        case .libbpf(let h): if !destroyed { bpf_link__destroy(h) }
        case .kernel(let k): if disconnected { _ = k.fd.release() }
        }
    }

    /// The link's fd (borrowed), or -1 for links without one. Calls `bpf_link__fd`.
    public var fd: Int32 {
        switch backing {
        case .libbpf(let h): return destroyed ? -1 : bpf_link__fd(h)
        case .kernel(let k): return k.fd.rawValue
        }
    }

    /// Pins the link at `path`: it then outlives this process. Calls `bpf_link__pin` / `bpf_obj_pin`.
    public func pin(at path: String) throws(BPFError) {
        switch backing {
        case .libbpf(let h):
            if destroyed { throw BPFError("pin link at \(path): the link was detached", errno: ENOLINK) }
            try check(bpf_link__pin(h, path), "pin link at \(path)")
        case .kernel(let k): try k.pin(at: path)
        }
    }

    /// Detaches now (the program stops running; the link object stays,
    /// defunct). Links the kernel cannot detach in place (perf event
    /// links: uprobes, tracepoints) are destroyed instead, unless pinned.
    /// Calls `bpf_link__detach` / `bpf_link_detach`, else `bpf_link__destroy`.
    public func detach() throws(BPFError) {
        switch backing {
        case .libbpf(let h):
            if destroyed { return }
            let what = "detach link" + idSuffix
            let r = bpf_link__detach(h)
            if r == 0 { return }
            let e = r == -1 ? Glibc.errno : -r
            if e == EOPNOTSUPP && bpf_link__pin_path(h) == nil {
                bpf_link__destroy(h)
                destroyed = true
                return
            }
            throw BPFError(what, errno: e)
        case .kernel(let k): try k.detach()
        }
    }

    /// Replaces the link's program by `program` (loaded, of a compatible
    /// type) without a moment of detachment. Calls `bpf_link_update`.
    public func update(program: ObjectProgram) throws(BPFError) {
        guard let p = program.fd else {
            throw BPFError("update link\(idSuffix) to program \(program.name): program is not loaded", errno: EBADF)
        }
        let f = fd
        guard f >= 0 else { throw BPFError("update link to program \(program.name): the link has no descriptor", errno: EINVAL) }
        let r = bpf_link_update(f, p, nil)
        if r != 0 {
            throw BPFError("update link\(idSuffix) to program \(program.name)", errno: r == -1 ? Glibc.errno : -r)
        }
    }

    /// The link's info as the kernel reports it (id, type, program,
    /// details). Calls `bpf_link_get_info_by_fd`.
    public func info() throws(BPFError) -> LinkInfo {
        let f = fd
        guard f >= 0 else { throw BPFError("link info: the link has no descriptor", errno: EINVAL) }
        let dup = fcntl(f, F_DUPFD_CLOEXEC, 3)
        if dup < 0 { throw BPFError("link info: duplicate fd", errno: Glibc.errno) }
        return try LinkInfo(fd: FileDescriptor(owning: dup))
    }

    /// The link's id. Calls `bpf_link_get_info_by_fd`.
    public var id: LinkID? {
        var i = bpf_link_info()
        var n = UInt32(MemoryLayout<bpf_link_info>.size)
        guard fd >= 0, bpf_link_get_info_by_fd(fd, &i, &n) == 0 else { return nil }
        return LinkID(i.id)
    }

    private var idSuffix: String { id.map { " \($0)" } ?? "" }

    /// Runs an iterator link once and returns what its program wrote
    /// (bpf_seq_printf output). Calls `bpf_iter_create`.
    public func iteratorOutput() throws(BPFError) -> [UInt8] {
        let f = bpf_iter_create(fd)
        if f < 0 { throw BPFError("read iterator link\(idSuffix)", errno: f == -1 ? Glibc.errno : -f) }
        defer { Glibc.close(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(f, $0.baseAddress, $0.count) }
            if n == 0 { return out }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw BPFError("read iterator link\(idSuffix)", errno: Glibc.errno)
            }
            out.append(contentsOf: buf[0..<n])
        }
    }

    /// Leaves the attachment in place when this wrapper goes away. Calls `bpf_link__disconnect`.
    public func disconnect() {
        switch backing {
        case .libbpf(let h): if !destroyed { bpf_link__disconnect(h) }
        case .kernel: disconnected = true
        }
    }
}
