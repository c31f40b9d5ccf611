#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A BPF link in the kernel, held through an owned descriptor: found by id or
/// by a pin, or made by attaching a loaded program. (libbpf's own handle from
/// attaching a program of an opened object is `BPFLink`.) The link lives as
/// long as a descriptor or a pin refers to it.
public final class KernelLink {
    public let fd: FileDescriptor

    /// Takes ownership of a descriptor that refers to a link.
    public init(fd: FileDescriptor) {
        self.fd = fd
    }

    /// Ids of every link, ascending. Calls `bpf_link_get_next_id`.
    public static func ids() throws(BPFError) -> [LinkID] {
        try Kernel.ids(.link).map { LinkID($0) }
    }

    /// Opens the link with this id. Calls `bpf_link_get_fd_by_id`.
    public static func open(id: LinkID) throws(BPFError) -> KernelLink {
        KernelLink(fd: try Kernel.open(.link, id: id.rawValue))
    }

    /// Opens a pinned link (and fails if the pin holds something else). Calls `bpf_obj_get`.
    public static func open(pinned path: String) throws(BPFError) -> KernelLink {
        KernelLink(fd: try Kernel.openPinned(path, as: .link))
    }

    /// Opens the link a `LINK := id ID | pinned FILE` selector names.
    public static func open(_ selector: Selector) throws(BPFError) -> KernelLink {
        switch selector {
        case .id(let id): return try open(id: LinkID(id))
        case .pinned(let path): return try open(pinned: path)
        default: throw BPFError("a link is selected by id or pinned path, not by \(selector)", errno: EINVAL)
        }
    }

    /// Every link there is, opened. Skipped: links that go away while
    /// listing (ENOENT) and links still being created (EAGAIN: the kernel
    /// lists a link's id before the link is settled, and says to pretend it
    /// does not exist yet). bpftool 7.5 stops with an error on the latter;
    /// a `link show` racing a loader should not fail.
    public static func openAll() throws(BPFError) -> [KernelLink] {
        var out: [KernelLink] = []
        for id in try ids() {
            do {
                out.append(try open(id: id))
            } catch where error.errno == ENOENT || error.errno == EAGAIN {
                continue
            }
        }
        return out
    }

    /// The link's info with its type's details. Calls `bpf_link_get_info_by_fd`.
    public func info() throws(BPFError) -> LinkInfo {
        try LinkInfo(fd: fd)
    }

    /// The link's id. Calls `bpf_link_get_info_by_fd`.
    public func id() throws(BPFError) -> LinkID {
        LinkID(try Kernel.id(of: fd))
    }

    /// Pins the link at `path`, which must be a new name in a directory on a
    /// bpffs mount; the link then outlives every descriptor. Calls `bpf_obj_pin`.
    public func pin(at path: String) throws(BPFError) {
        let what = "link" + ((try? id()).map { " \($0)" } ?? "")
        let dir = parentDirectory(of: path)
        if !Kernel.isOnBPFFS(dir) {
            var st = stat()
            if stat(dir, &st) != 0 {
                throw BPFError("pin \(what) at \(path): directory \(dir)", errno: Glibc.errno)
            }
            throw BPFError("pin \(what) at \(path): \(dir) is not on a bpffs mount")
        }
        try Kernel.pin(fd, at: path, what: what)
    }

    /// Detaches the link from its hook while it stays alive (the program stops
    /// running; descriptors and pins remain, now of a defunct link). Not every
    /// link type can be detached. Calls `bpf_link_detach`.
    public func detach() throws(BPFError) {
        let r = bpf_link_detach(fd.rawValue)
        if r != 0 {
            let what = "detach link" + ((try? id()).map { " \($0)" } ?? "")
            throw BPFError(what, errno: r == -1 ? Glibc.errno : -r)
        }
    }
}

func parentDirectory(of path: String) -> String {
    var p = Substring(path)
    while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
    guard let slash = p.lastIndex(of: "/") else { return "." }
    if slash == p.startIndex { return "/" }
    return String(p[..<slash])
}
