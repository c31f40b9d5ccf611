#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Directories on bpffs that bpfswift is told to pin into (`--pin-root DIR`,
/// struct_ops LINK_DIR): checked before anything loads, and made when
/// missing, one level deep in a directory on bpffs with mode 0700, as
/// libbpf makes a pin path's parent.
enum BPFFSDirectory {
    /// The mode of a LINK_DIR that bpfswift made: 0700 with the sticky bit,
    /// which marks it as bpfswift's, so that `struct_ops unregister` removes
    /// it again once its last link is gone, and never a directory someone
    /// else made.
    static let madeLinkDirectoryMode: mode_t = 0o1700

    /// Throws unless `path` is on a bpffs mount. A path that cannot be
    /// looked at (EACCES) says so, rather than "not on bpffs".
    static func requireOnBPFFS(_ path: String, what: @autoclosure () -> String) throws(BPFError) {
        var st = statfs()
        if statfs(path, &st) != 0 {
            throw BPFError(what(), errno: Glibc.errno)
        }
        guard UInt(bitPattern: Int(st.f_type)) == bpfswift_bpf_fs_magic() else {
            throw BPFError(what(), errno: EINVAL, detail: "\(path) is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)")
        }
    }

    /// Checks that `dir` is a directory on bpffs, or that it can be made:
    /// it is missing and its parent is a directory on bpffs. Returns
    /// whether it is missing. `flag` names it in messages ("--pin-root",
    /// "LINK_DIR").
    static func check(_ dir: String, flag: String) throws(BPFError) -> Bool {
        var st = stat()
        if stat(dir, &st) != 0 {
            let e = Glibc.errno
            guard e == ENOENT else { throw BPFError("\(flag) \(dir)", errno: e) }
            let parent = parentDirectory(of: dir)
            var pst = stat()
            if stat(parent, &pst) != 0 {
                throw BPFError("\(flag) \(dir)", errno: Glibc.errno, detail: "its parent \(parent) must be a directory on bpffs")
            }
            guard (pst.st_mode & S_IFMT) == S_IFDIR else {
                throw BPFError("\(flag) \(dir)", errno: ENOTDIR, detail: "its parent \(parent) is not a directory")
            }
            try requireOnBPFFS(parent, what: "\(flag) \(dir)")
            return true
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw BPFError("\(flag) \(dir)", errno: ENOTDIR) }
        try requireOnBPFFS(dir, what: "\(flag) \(dir)")
        return false
    }

    /// Makes `dir` (after `check` said it is missing) with `mode`; returns
    /// false when someone else made it meanwhile.
    @discardableResult
    static func make(_ dir: String, mode: mode_t = 0o700, flag: String) throws(BPFError) -> Bool {
        if mkdir(dir, mode) == 0 {
            // mkdir applies the umask; the sticky bit and 0700 must hold as asked.
            _ = chmod(dir, mode)
            return true
        }
        let e = Glibc.errno
        if e == EEXIST { return false }
        throw BPFError("create \(flag) \(dir)", errno: e)
    }

    /// Removes `dir` if it is a LINK_DIR that bpfswift made (owned by this
    /// user, mode `madeLinkDirectoryMode`) and nothing is left in it.
    /// Returns whether it was removed.
    @discardableResult
    static func removeMadeLinkDirectoryIfEmpty(_ dir: String) -> Bool {
        var st = stat()
        guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid(),
              (st.st_mode & 0o7777) == madeLinkDirectoryMode, Kernel.isOnBPFFS(dir) else { return false }
        return rmdir(dir) == 0
    }
}
