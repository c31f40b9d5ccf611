#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A directory on bpffs, opened once. Every operation the pinner needs
/// (open a subdirectory, get or make a pin, unlink, rename, walk) is relative
/// to its descriptor and takes one plain name, so nothing that works on an
/// object tree ever resolves a path: a symlink planted in the tree, or a
/// directory renamed under us, cannot lead it out of the tree, and a bind
/// mount inside it (same bpffs, same st_dev) is told apart by its mount id.
/// bpffs is writable by every user (mode 1777): this is the only door into it.
final class TreeDirectory {
    /// The descriptor (O_DIRECTORY).
    let fd: FileDescriptor
    /// Where it was when opened: for messages only, never resolved again.
    let path: String
    /// statx STATX_MNT_ID: differs for every mount, bind mounts of one bpffs included.
    let mountID: UInt64
    let device: UInt64
    let inode: UInt64
    let owner: uid_t
    let mode: mode_t

    private init(fd: FileDescriptor, path: String) throws(BPFError) {
        self.fd = fd
        self.path = path
        var mnt: UInt64 = 0, dev: UInt64 = 0, ino: UInt64 = 0, uid: UInt32 = 0, mode: UInt32 = 0
        if bpfswift_dir_stat(fd.rawValue, &mnt, &dev, &ino, &uid, &mode) == 0 {
            mountID = mnt
            device = dev
            inode = ino
            owner = uid
            self.mode = mode_t(mode) & 0o7777
            return
        }
        var st = stat()
        if fstat(fd.rawValue, &st) != 0 { throw BPFError("stat \(path)", errno: Glibc.errno) }
        guard let m = mountIDOfFile(fd.rawValue) else { throw BPFError("get the mount id of \(path)", errno: Glibc.errno) }
        mountID = m
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        owner = st.st_uid
        self.mode = st.st_mode & 0o7777
    }

    /// Opens a directory the user named. Its components are the user's
    /// choice, so symlinks in them are followed as any tool would; from here
    /// on nothing is resolved by path. It must be on bpffs.
    static func open(path: String) throws(BPFError) -> TreeDirectory {
        let raw = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if raw < 0 { throw BPFError("open directory \(path)", errno: Glibc.errno) }
        let fd = FileDescriptor(owning: raw)
        var fs = statfs()
        guard fstatfs(raw, &fs) == 0, UInt(bitPattern: Int(fs.f_type)) == bpfswift_bpf_fs_magic() else {
            throw BPFError("open \(path)", errno: EINVAL, detail: "\(path) is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)")
        }
        return try TreeDirectory(fd: fd, path: path)
    }

    func child(_ name: String) -> String { join(path, name) }

    // MARK: looking

    enum Entry: Equatable {
        case missing
        case directory(device: UInt64, inode: UInt64)
        /// A regular file: on bpffs, a pinned object.
        case pin(device: UInt64, inode: UInt64, mode: mode_t, owner: uid_t)
        case symlink
        case other
    }

    /// What `name` is, without following a symlink.
    func entry(_ name: String) throws(BPFError) -> Entry {
        var st = stat()
        if fstatat(fd.rawValue, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
            if Glibc.errno == ENOENT { return .missing }
            throw BPFError("stat \(child(name))", errno: Glibc.errno)
        }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        case S_IFREG: return .pin(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), mode: st.st_mode & 0o7777, owner: st.st_uid)
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    /// Whether `name` is this very directory `dir` (same inode): tells a
    /// tree that is still in place from one swapped or moved away meanwhile.
    func holds(_ dir: TreeDirectory, at name: String) -> Bool {
        (try? entry(name)) == .directory(device: dir.device, inode: dir.inode)
    }

    /// Only the effective user can change it (its owner, no group or other
    /// write): what bpfswift creates, and what it acts on.
    var isOnlyOurs: Bool { owner == geteuid() && mode & 0o022 == 0 }

    /// Others may rename or remove our entries here: writable by group or
    /// other without the sticky bit (or owned by someone else).
    var othersMayMoveEntries: Bool {
        if owner != geteuid() && owner != 0 { return true }
        return mode & 0o022 != 0 && mode & S_ISVTX == 0
    }

    /// Opens the subdirectory `name`: never through a symlink (RESOLVE_NO_SYMLINKS),
    /// never out of this directory (RESOLVE_BENEATH), never onto another
    /// mount (RESOLVE_NO_XDEV, then the mount id compared). EXDEV: a mount point.
    func directory(_ name: String) throws(BPFError) -> TreeDirectory {
        try checkName(name)
        let raw = bpfswift_openat2(fd.rawValue, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                                   bpfswift_resolve_in_tree())
        if raw < 0 {
            let e = Glibc.errno
            if e == EXDEV {
                throw BPFError("open \(child(name))", errno: EXDEV, detail: "a filesystem is mounted there")
            }
            if e == ELOOP { throw BPFError("open \(child(name))", errno: ELOOP, detail: "it is a symbolic link") }
            throw BPFError("open directory \(child(name))", errno: e)
        }
        let d = try TreeDirectory(fd: FileDescriptor(owning: raw), path: child(name))
        if d.mountID != mountID {
            throw BPFError("open \(child(name))", errno: EXDEV, detail: "a filesystem is mounted there")
        }
        return d
    }

    /// The parent directory when it is on the same mount (nil at the mount's root).
    func parentOnSameMount() -> TreeDirectory? {
        let raw = openat(fd.rawValue, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if raw < 0 { return nil }
        guard let p = try? TreeDirectory(fd: FileDescriptor(owning: raw), path: join(path, "..")),
              p.mountID == mountID, !(p.device == device && p.inode == inode) else { return nil }
        return p
    }

    /// The entries (without . and ..), sorted, typed without following symlinks.
    func entries() throws(BPFError) -> [DirectoryEntry] { try directoryEntries(fd, path: path) }

    // MARK: pins

    /// Gets the object pinned at `name`: the entry must be a pin (never a
    /// symlink) on this mount. Calls `bpf_obj_get_opts` with BPF_F_PATH_FD
    /// relative to this directory; where the kernel or libbpf lacks it, a
    /// checked per-entry open: the entry opened O_PATH|O_NOFOLLOW, checked,
    /// and got through its /proc/self/fd link, which names that inode only.
    func openPinned(_ name: String) throws(BPFError) -> FileDescriptor {
        try checkName(name)
        let raw = bpfswift_openat2(fd.rawValue, name, bpfswift_o_path() | O_NOFOLLOW | O_CLOEXEC, bpfswift_resolve_in_tree())
        if raw < 0 { throw BPFError("open pinned object \(child(name))", errno: Glibc.errno) }
        let entryFD = FileDescriptor(owning: raw)
        var st = stat()
        if fstat(raw, &st) != 0 { throw BPFError("stat \(child(name))", errno: Glibc.errno) }
        if (st.st_mode & S_IFMT) == S_IFLNK {
            throw BPFError("open pinned object \(child(name))", errno: ELOOP, detail: "it is a symbolic link")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw BPFError("open pinned object \(child(name))", errno: EINVAL, detail: "not a pin")
        }
        if mountIDOfFile(raw) != mountID {
            throw BPFError("open pinned object \(child(name))", errno: EXDEV, detail: "it is on another mount")
        }
        var got = bpfswift_obj_get_at(fd.rawValue, name)
        if got >= 0 {
            // BPF_OBJ_GET follows a last-component symlink: make sure the name
            // still is the pin checked above (it is, unless someone else can write here).
            let obj = FileDescriptor(owning: got)
            guard case .pin(let dev, let ino, _, _) = try entry(name), dev == UInt64(st.st_dev), ino == UInt64(st.st_ino) else {
                throw BPFError("open pinned object \(child(name))", errno: EAGAIN, detail: "it changed while it was opened")
            }
            return obj
        }
        let e = got == -1 ? Glibc.errno : -got
        guard e == EOPNOTSUPP || e == EINVAL else { throw BPFError("open pinned object \(child(name))", errno: e) }
        got = bpf_obj_get("/proc/self/fd/\(entryFD.rawValue)")
        if got < 0 { throw BPFError("open pinned object \(child(name))", errno: got == -1 ? Glibc.errno : -got) }
        return FileDescriptor(owning: got)
    }

    /// Pins the object behind `object` (borrowed) as `name` here, mode 0600
    /// whatever the umask. Calls `bpf_obj_pin_opts` with BPF_F_PATH_FD, or
    /// `bpf_obj_pin` through /proc/self/fd/DIR where that is missing.
    func pin(_ object: Int32, as name: String, what: @autoclosure () -> String) throws(BPFError) {
        try checkName(name)
        var r = bpfswift_obj_pin_at(object, fd.rawValue, name)
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            if e == EOPNOTSUPP || e == EINVAL {
                r = bpf_obj_pin(object, "/proc/self/fd/\(fd.rawValue)/\(name)")
            }
            if r != 0 { throw BPFError("pin \(what()) at \(child(name))", errno: r == -1 ? Glibc.errno : -r) }
        }
        // bpffs makes a pin 0600 & ~umask: under the umask 077 the pinner
        // holds, that is 0600 already; a chmod is needed only under another.
        if !ownerOnlyUmask, fchmodat(fd.rawValue, name, 0o600, 0) != 0 {
            throw BPFError("chmod \(child(name))", errno: Glibc.errno)
        }
    }

    /// Set by ObjectPinner on its staging directory (and passed on to the
    /// directories made in it): it holds umask 077 for its whole run, so
    /// bpffs makes each pin 0600 and no chmod is needed (one syscall per pin
    /// saved; with --attach each syscall also runs the programs attached).
    var ownerOnlyUmask = false

    // MARK: changing

    /// Makes the directory `name` (0700, owned by us whatever the umask) and opens it.
    func makeDirectory(_ name: String) throws(BPFError) -> TreeDirectory {
        try checkName(name)
        if mkdirat(fd.rawValue, name, 0o700) != 0 { throw BPFError("create directory \(child(name))", errno: Glibc.errno) }
        let d = try directory(name)
        try d.makeOurs()
        d.ownerOnlyUmask = ownerOnlyUmask
        return d
    }

    /// Checks that a directory this run made is still ours and sets it to 0700.
    func makeOurs() throws(BPFError) {
        guard owner == geteuid() else {
            throw BPFError("create directory \(path)", errno: EPERM, detail: "it belongs to uid \(owner): someone else made it")
        }
        // mkdir under the pinner's umask 077 already made it 0700.
        if mode != 0o700, fchmod(fd.rawValue, 0o700) != 0 { throw BPFError("chmod \(path)", errno: Glibc.errno) }
    }

    /// Unlinks the entry `name` (a pin or a symlink: never followed). ENOENT is not an error.
    func unlink(_ name: String) throws(BPFError) {
        if unlinkat(fd.rawValue, name, 0) != 0 && Glibc.errno != ENOENT {
            throw BPFError("unpin \(child(name))", errno: Glibc.errno)
        }
    }

    /// Removes the empty directory `name`. ENOENT is not an error.
    func removeDirectory(_ name: String) throws(BPFError) {
        if unlinkat(fd.rawValue, name, AT_REMOVEDIR) != 0 && Glibc.errno != ENOENT {
            throw BPFError("remove directory \(child(name))", errno: Glibc.errno)
        }
    }

    /// renameat2(2) from `name` here to `newName` in `target` (default here).
    func rename(_ name: String, to newName: String, in target: TreeDirectory? = nil, flags: UInt32,
                what: @autoclosure () -> String) throws(BPFError) {
        let to = target ?? self
        if bpfswift_renameat2(fd.rawValue, name, to.fd.rawValue, newName, flags) != 0 {
            throw BPFError(what(), errno: Glibc.errno)
        }
    }

    /// A name bpffs accepts as one component: not empty, at most NAME_MAX
    /// bytes, no '/', no '.' (bpffs refuses it; also rules out . and ..), no NUL,
    /// tab or line break (see `isPlainName`).
    func checkName(_ name: String) throws(BPFError) {
        guard isPlainName(name) else {
            throw BPFError("use \(child(name))", errno: EINVAL, detail: "not a plain name inside \(path)")
        }
    }

    /// First mount point (or unreadable directory) under here, walking by
    /// descriptor: `object unpin` refuses a tree with one before it changes anything.
    func mountPointInside(depth: Int = 0) throws(BPFError) -> String? {
        guard depth < 16 else { throw BPFError("read \(path)", errno: ELOOP, detail: "directories nested too deep") }
        for e in try entries() where e.isDirectory {
            let sub: TreeDirectory
            do { sub = try directory(e.name) } catch {
                if error.errno == EXDEV { return child(e.name) }
                throw error
            }
            if let m = try sub.mountPointInside(depth: depth + 1) { return m }
        }
        return nil
    }

    /// First directory under here (itself included) that someone else could
    /// change (not ours, or writable by group or other), or nil.
    func foreignDirectoryInside(depth: Int = 0) throws(BPFError) -> TreeDirectory? {
        if !isOnlyOurs { return self }
        guard depth < 16 else { throw BPFError("read \(path)", errno: ELOOP, detail: "directories nested too deep") }
        for e in try entries() where e.isDirectory {
            if let f = try directory(e.name).foreignDirectoryInside(depth: depth + 1) { return f }
        }
        return nil
    }

    /// Removes everything inside, bottom-up, links/ first (so that programs
    /// stop before their pins go): entries are unlinked, never followed;
    /// a directory on another mount is never entered. Struct_ops maps are
    /// unregistered first as `structOps` says.
    func removeContents(structOps: StructOpsRemoval, depth: Int = 0) throws(BPFError) {
        guard depth < 16 else { throw BPFError("remove \(path)", errno: ELOOP, detail: "directories nested too deep") }
        if depth == 0 { unregister(structOps) }
        let names = try entries()
        var firstError: BPFError?
        let ordered = names.filter { $0.name == ObjectTreeLayout.linksDir } + names.filter { $0.name != ObjectTreeLayout.linksDir }
        for entry in ordered {
            do throws(BPFError) {
                if entry.isDirectory {
                    try directory(entry.name).removeContents(structOps: .none, depth: depth + 1)
                    try removeDirectory(entry.name)
                } else {
                    try unlink(entry.name)
                }
            } catch {
                if firstError == nil {
                    firstError = error.errno == EXDEV
                        ? BPFError("remove \(child(entry.name))", errno: EBUSY, detail: "a filesystem is mounted there; left alone")
                        : error
                }
            }
        }
        if let firstError { throw firstError }
    }

    /// Which struct_ops maps to unregister before removing a tree.
    enum StructOpsRemoval {
        case none
        /// Pins under links/ that the manifest records, with their ids: struct_ops
        /// maps are unregistered and links detached, only where the pin holds
        /// that very object. Detaching here, not when the pin's inode is freed
        /// (after an RCU grace period), means the hook is free when unpin returns.
        case recorded([ObjectManifest.Link])
        /// Every struct_ops map pinned in maps/ or links/: for a staging
        /// directory of ours, where a killed run may have left no manifest.
        case everyPin
    }

    private func unregister(_ which: StructOpsRemoval) {
        switch which {
        case .none:
            return
        case .recorded(let list):
            guard !list.isEmpty, let links = try? directory(ObjectTreeLayout.linksDir) else { return }
            for link in list {
                guard let fd = try? links.openPinned(link.pinName), let s = try? PinnedObjectSummary.describe(fd),
                      s.id == link.id else { continue }
                if link.pinHoldsMap {
                    guard Kernel.kind(of: fd) == .map, s.mapType == structOpsMapType else { continue }
                    _ = unregisterStructOpsMap(fd)
                } else if Kernel.kind(of: fd) == .link {
                    // Link types without a detach operation answer EOPNOTSUPP: they go with their pin.
                    _ = bpf_link_detach(fd.rawValue)
                }
            }
        case .everyPin:
            for dirName in [ObjectTreeLayout.linksDir, ObjectTreeLayout.mapsDir] {
                guard let dir = try? directory(dirName), let names = try? dir.entries() else { continue }
                for e in names where !e.isDirectory && !e.isSymlink {
                    guard let fd = try? dir.openPinned(e.name), Kernel.kind(of: fd) == .map,
                          let s = try? PinnedObjectSummary.describe(fd), s.mapType == structOpsMapType else { continue }
                    _ = unregisterStructOpsMap(fd)
                }
            }
        }
    }
}

/// The mount id of an open file: statx STATX_MNT_ID (Linux 5.8), else the
/// "mnt_id:" line of /proc/self/fdinfo (Linux 3.15).
func mountIDOfFile(_ fd: Int32) -> UInt64? {
    var id: UInt64 = 0
    if bpfswift_mount_id(fd, &id) == 0 { return id }
    guard let text = readTextFile("/proc/self/fdinfo/\(fd)") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("mnt_id:") {
        return UInt64(line.dropFirst("mnt_id:".count).filter { $0 != " " && $0 != "\t" })
    }
    return nil
}

/// One name bpffs accepts inside a directory and a manifest line can hold:
/// not empty, at most NAME_MAX bytes, no '/', no '.' (which also rules out
/// "." and ".."), no NUL, tab or line break.
func isPlainName(_ name: String) -> Bool {
    var count = 0
    for c in name.utf8 {
        if c == UInt8(ascii: "/") || c == UInt8(ascii: ".") || c == 0 || c == 0x09 || c == 0x0a || c == 0x0d { return false }
        count += 1
    }
    return count > 0 && count <= Int(NAME_MAX)
}
