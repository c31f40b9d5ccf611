#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// The kinds of BPF object a file descriptor or a pin can hold.
public enum BPFObjectKind: String, Sendable {
    case program = "prog"
    case map = "map"
    case link = "link"
    case btf = "btf"

    /// The word used in messages: "program", "map", "link", "BTF".
    public var noun: String {
        switch self {
        case .program: return "program"
        case .map: return "map"
        case .link: return "link"
        case .btf: return "BTF"
        }
    }
}

/// Thin wrappers over the bpf syscall commands that work on ids, pins and
/// descriptors of any kind. Everything goes through libbpf's low-level API.
public enum Kernel {
    /// Ids of every object of `kind`, in ascending order.
    /// Calls `bpf_{prog,map,link,btf}_get_next_id`.
    public static func ids(_ kind: BPFObjectKind) throws(BPFError) -> [UInt32] {
        var out: [UInt32] = []
        var id: UInt32 = 0
        while true {
            var next: UInt32 = 0
            let r: Int32
            switch kind {
            case .program: r = bpf_prog_get_next_id(id, &next)
            case .map: r = bpf_map_get_next_id(id, &next)
            case .link: r = bpf_link_get_next_id(id, &next)
            case .btf: r = bpf_btf_get_next_id(id, &next)
            }
            if r != 0 {
                let e = r == -1 ? Glibc.errno : -r
                if e == ENOENT { break }
                throw BPFError("get next \(kind.noun) id", errno: e)
            }
            out.append(next)
            id = next
        }
        return out
    }

    /// Opens the object with this id. Calls `bpf_{prog,map,link,btf}_get_fd_by_id`.
    public static func open(_ kind: BPFObjectKind, id: UInt32) throws(BPFError) -> FileDescriptor {
        let fd: Int32
        switch kind {
        case .program: fd = bpf_prog_get_fd_by_id(id)
        case .map: fd = bpf_map_get_fd_by_id(id)
        case .link: fd = bpf_link_get_fd_by_id(id)
        case .btf: fd = bpf_btf_get_fd_by_id(id)
        }
        if fd < 0 {
            let e = fd == -1 ? Glibc.errno : -fd
            throw BPFError("get \(kind.noun) by id \(id)", errno: e)
        }
        return FileDescriptor(owning: fd)
    }

    /// Opens a pinned object. Calls `bpf_obj_get`.
    public static func openPinned(_ path: String) throws(BPFError) -> FileDescriptor {
        let fd = bpf_obj_get(path)
        if fd < 0 {
            let e = fd == -1 ? Glibc.errno : -fd
            throw BPFError("open pinned object \(path)", errno: e)
        }
        return FileDescriptor(owning: fd)
    }

    /// Opens a pinned object and checks that it is of `kind`.
    public static func openPinned(_ path: String, as kind: BPFObjectKind) throws(BPFError) -> FileDescriptor {
        let fd = try openPinned(path)
        let actual = self.kind(of: fd)
        if actual != kind {
            throw BPFError("open pinned \(kind.noun) \(path): it holds a \(actual?.noun ?? "non-BPF object")")
        }
        return fd
    }

    /// Pins `fd` at `path`. Calls `bpf_obj_pin`.
    public static func pin(_ fd: FileDescriptor, at path: String, what: String) throws(BPFError) {
        let r = bpf_obj_pin(fd.rawValue, path)
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            throw BPFError("pin \(what) at \(path)", errno: e)
        }
    }

    /// Which kind of BPF object `fd` refers to (from its anon inode name), or nil.
    public static func kind(of fd: FileDescriptor) -> BPFObjectKind? {
        var buf = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/self/fd/\(fd.rawValue)", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        let s = String(cString: buf)
        switch s {
        case "anon_inode:bpf-prog": return .program
        case "anon_inode:bpf-map": return .map
        // "bpf_link" when the link was just created, "bpf-link" when reopened by id or pin.
        case "anon_inode:bpf_link", "anon_inode:bpf-link": return .link
        case "anon_inode:btf": return .btf
        default: return nil
        }
    }

    /// Fills `info` (a zeroed bpf_*_info) for `fd`. Calls `bpf_obj_get_info_by_fd`.
    static func info<T>(_ fd: Int32, _ info: inout T, what: @autoclosure () -> String) throws(BPFError) {
        var len = UInt32(MemoryLayout<T>.size)
        let r = withUnsafeMutablePointer(to: &info) { bpf_obj_get_info_by_fd(fd, $0, &len) }
        if r != 0 {
            throw BPFError("get info of \(what())", errno: r == -1 ? Glibc.errno : -r)
        }
    }

    /// The id of the object behind `fd`, whatever its kind.
    public static func id(of fd: FileDescriptor) throws(BPFError) -> UInt32 {
        guard let kind = kind(of: fd) else { throw BPFError("fd \(fd.rawValue) is not a BPF object", errno: EINVAL) }
        switch kind {
        case .program:
            var i = bpf_prog_info(); try info(fd.rawValue, &i, what: "program"); return i.id
        case .map:
            var i = bpf_map_info(); try info(fd.rawValue, &i, what: "map"); return i.id
        case .link:
            var i = bpf_link_info(); try info(fd.rawValue, &i, what: "link"); return i.id
        case .btf:
            var i = bpf_btf_info(); try info(fd.rawValue, &i, what: "BTF"); return i.id
        }
    }

    /// The libbpf version this process runs with, e.g. "1.4".
    public static var libbpfVersion: String {
        String(cString: libbpf_version_string()).replacingPrefix("v", with: "")
    }

    /// Whether `path` lies on a bpffs mount (statfs magic).
    public static func isOnBPFFS(_ path: String) -> Bool {
        var st = statfs()
        guard statfs(path, &st) == 0 else { return false }
        return UInt(bitPattern: Int(st.f_type)) == bpfswift_bpf_fs_magic()
    }

    /// Mount points of every bpffs, from /proc/mounts.
    /// Scans bytes, not Characters: /proc/mounts can run to hundreds of
    /// lines, and `version` and `-f` read it on every call.
    public static func bpffsMounts() -> [String] {
        guard let bytes = try? readFileBytes("/proc/mounts") else { return [] }
        var out: [String] = []
        bytes.withUnsafeBufferPointer { b in
            forEachLine(b) { line in
                // Fields: device, mount point, type, ...
                var fields: [Range<Int>] = []
                var i = line.lowerBound
                while i < line.upperBound && fields.count < 3 {
                    while i < line.upperBound && b[i] == 0x20 { i += 1 }
                    let start = i
                    while i < line.upperBound && b[i] != 0x20 { i += 1 }
                    if start < i { fields.append(start..<i) }
                }
                if fields.count == 3 && b[fields[2]].elementsEqual("bpf".utf8) {
                    out.append(unescapeMountPath(String(decoding: b[fields[1]], as: UTF8.self)))
                }
                return true
            }
        }
        return out
    }

    private static func unescapeMountPath(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
               let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v); i += 4
            } else { out.append(b[i]); i += 1 }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    func replacingPrefix(_ p: String, with r: String) -> String {
        hasPrefix(p) ? r + String(dropFirst(p.count)) : self
    }
}

/// Reads a whole (small) file as text; nil when it cannot be read.
public func readTextFile(_ path: String) -> String? {
    guard let bytes = try? readFileBytes(path) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

/// Reads an object file whole, but first refuses, from its first four bytes,
/// a regular file that is not ELF however large it is (it is never read).
public func readELFFileBytes(_ path: String) throws(BPFError) -> [UInt8] {
    try readFileBytes(path, elfOnly: true)
}

/// Reads a whole regular file. Anything else (a FIFO, /dev/zero, a
/// directory) is refused at once: reading it could block or never end.
public func readFileBytes(_ path: String) throws(BPFError) -> [UInt8] {
    try readFileBytes(path, elfOnly: false)
}

/// `elfOnly`: a regular file whose first four bytes are not ELF's magic is
/// refused before it is read (one open of the file either way).
private func readFileBytes(_ path: String, elfOnly: Bool) throws(BPFError) -> [UInt8] {
    // O_NONBLOCK: opening a FIFO without a writer must not wait.
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    if fd < 0 { throw BPFError("open \(path)", errno: Glibc.errno) }
    defer { _ = Glibc.close(fd) }
    var st = stat()
    if fstat(fd, &st) != 0 { throw BPFError("stat \(path)", errno: Glibc.errno) }
    if (st.st_mode & S_IFMT) != S_IFREG {
        let e: Int32 = (st.st_mode & S_IFMT) == S_IFDIR ? EISDIR : EINVAL
        throw BPFError("read \(path)", errno: e, detail: "not a regular file")
    }
    if elfOnly {
        var magic: UInt32 = 0
        if pread(fd, &magic, 4, 0) != 4 || magic != UInt32(littleEndian: 0x464c_457f) {
            throw BPFError("read ELF file \(path)", errno: EINVAL, detail: "not an ELF file")
        }
    }
    // Read straight into an array of the size fstat gave (one byte more, to
    // see end of file in the same pass); only a file that grew since, or
    // one that reports size 0 (/proc), continues in chunks.
    var readErrno: Int32 = 0
    var atEnd = false
    var out = [UInt8](unsafeUninitializedCapacity: max(0, Int(st.st_size)) + 1) { buf, count in
        count = 0
        while count < buf.count {
            let n = Glibc.read(fd, buf.baseAddress! + count, buf.count - count)
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                readErrno = Glibc.errno
                return
            }
            if n == 0 { atEnd = true; return }
            count += n
        }
    }
    if readErrno != 0 { throw BPFError("read \(path)", errno: readErrno) }
    if atEnd { return out }
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if Glibc.errno == EINTR { continue }
            throw BPFError("read \(path)", errno: Glibc.errno)
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}
