#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Names inside an object tree (see SPEC `object`).
public enum ObjectTreeLayout {
    public static let mapsDir = "maps"
    public static let programsDir = "programs"
    public static let linksDir = "links"
    /// The pinned manifest map (see `ObjectManifest`).
    public static let manifest = "manifest"
    /// Shared pins made by this run wait here until they are published.
    static let sharedDir = "shared"
    /// A tree being built, replaced or removed lives at PARENT/bpfswift_staging_NAME.
    public static let stagingPrefix = "bpfswift_staging_"

    /// The pin name of a map: bpffs refuses '.', so '.' becomes '_' as
    /// libbpf's bpf_object__pin_maps names it ("counter.bss" → "counter_bss").
    public static func pinName(forMap name: String) -> String {
        String(name.map { $0 == "." ? "_" : $0 })
    }

    /// The staging directory name for a tree called `base`.
    public static func stagingName(for base: String) -> String { stagingPrefix + base }
}

/// A PATH given to `object pin|unpin|show`, split and checked: it must sit
/// in an existing directory on bpffs, its last component must be a name
/// bpffs accepts, and it must not be a mount point.
struct TreePath {
    let path: String
    let parent: String
    let base: String
    var staging: String { join(parent, ObjectTreeLayout.stagingName(for: base)) }

    init(_ given: String, what: String) throws(BPFError) {
        var p = given
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard !p.isEmpty, p != "/" else { throw BPFError("\(what) \(given)", errno: EINVAL, detail: "not a path below a bpffs mount") }
        if let slash = p.lastIndex(of: "/") {
            base = String(p[p.index(after: slash)...])
            let par = String(p[..<slash])
            parent = par.isEmpty ? "/" : par
        } else {
            base = p
            parent = "."
        }
        path = p
        guard base != "." && base != ".." else {
            throw BPFError("\(what) \(given)", errno: EINVAL, detail: "the last component must be a name, not '\(base)'")
        }
        guard !base.contains(".") else {
            throw BPFError("\(what) \(given)", errno: EINVAL, detail: "bpffs refuses names with '.'")
        }
        var st = stat()
        guard stat(parent, &st) == 0 else { throw BPFError("\(what) \(given)", errno: Glibc.errno, detail: "parent directory \(parent)") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw BPFError("\(what) \(given)", errno: ENOTDIR, detail: "\(parent) is not a directory")
        }
        // Name the directory that is off bpffs: PATH itself when it exists (`unpin /tmp`), else its parent.
        var own = stat()
        let exists = lstat(p, &own) == 0 && (own.st_mode & S_IFMT) == S_IFDIR
        try BPFFSDirectory.requireOnBPFFS(exists ? p : parent, what: "\(what) \(given)")
        if exists, own.st_dev != st.st_dev || own.st_ino == st.st_ino {
            throw BPFError("\(what) \(given)", errno: EBUSY, detail: "it is a mount point, not a tree inside one")
        }
    }

    var isStagingName: Bool { base.hasPrefix(ObjectTreeLayout.stagingPrefix) }
}

func join(_ dir: String, _ name: String) -> String {
    dir.hasSuffix("/") ? dir + name : dir + "/" + name
}

/// What lstat says about a path.
enum PathState {
    case missing
    case directory(dev: UInt64, ino: UInt64)
    case symlink
    case other
}

func pathState(_ p: String) throws(BPFError) -> PathState {
    var st = stat()
    if lstat(p, &st) != 0 {
        if Glibc.errno == ENOENT { return .missing }
        throw BPFError("stat \(p)", errno: Glibc.errno)
    }
    switch st.st_mode & S_IFMT {
    case S_IFDIR: return .directory(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
    case S_IFLNK: return .symlink
    default: return .other
    }
}

/// Opens a directory without following a symlink in its last component.
func openDirectory(_ p: String) throws(BPFError) -> FileDescriptor {
    let fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if fd < 0 { throw BPFError("open directory \(p)", errno: Glibc.errno) }
    return FileDescriptor(owning: fd)
}

/// renameat2(2) between paths; throws with `what`.
func renamePaths(_ from: String, _ to: String, flags: UInt32, what: @autoclosure () -> String) throws(BPFError) {
    if bpfswift_renameat2(AT_FDCWD, from, AT_FDCWD, to, flags) != 0 {
        throw BPFError(what(), errno: Glibc.errno)
    }
}

let renameNoReplace = UInt32(RENAME_NOREPLACE)
let renameExchange = UInt32(RENAME_EXCHANGE)

/// The exclusive claim on PARENT/bpfswift_staging_NAME: the directory where a
/// tree is built (or an old one is taken apart), locked with flock(2) on its
/// descriptor for as long as this process works on it. A staging directory
/// nobody holds is a leftover of a killed run: the claim empties it and
/// reuses it. Two runs on one PATH: the second finds the lock taken and
/// fails at once.
final class StagingClaim {
    let path: String
    let dir: FileDescriptor
    private(set) var released = false

    private init(path: String, dir: FileDescriptor) {
        self.path = path
        self.dir = dir
    }

    /// Claims the staging directory of `tree`; `purpose` names the command in messages.
    static func claim(_ tree: TreePath, purpose: String) throws(BPFError) -> StagingClaim {
        let s = tree.staging
        // A few rounds only matter when another run publishes or removes the
        // directory between our mkdir/open and our flock.
        for _ in 0..<8 {
            let created = mkdir(s, 0o700) == 0
            if !created && Glibc.errno != EEXIST {
                throw BPFError("create staging directory \(s)", errno: Glibc.errno)
            }
            let fd: FileDescriptor
            do { fd = try openDirectory(s) } catch {
                if error.errno == ENOENT { continue }
                if error.errno == ENOTDIR || error.errno == ELOOP {
                    throw BPFError("claim staging directory \(s)", errno: error.errno, detail: "something else is in the way")
                }
                throw error
            }
            if flock(fd.rawValue, LOCK_EX | LOCK_NB) != 0 {
                let e = Glibc.errno
                if e == EWOULDBLOCK {
                    throw BPFError("\(purpose) \(tree.path)", errno: EBUSY, detail: "another bpfswift run is working on it (\(s) is locked)")
                }
                throw BPFError("lock \(s)", errno: e)
            }
            // Still the directory at that name? (It may have been published or removed meanwhile.)
            var mine = stat(), named = stat()
            guard fstat(fd.rawValue, &mine) == 0, lstat(s, &named) == 0,
                  mine.st_dev == named.st_dev, mine.st_ino == named.st_ino, mine.st_nlink > 0 else { continue }
            let claim = StagingClaim(path: s, dir: fd)
            if !created {
                // A leftover of a killed run: take its contents apart (detaching links it made).
                try removeContents(of: fd, path: s)
            }
            return claim
        }
        throw BPFError("\(purpose) \(tree.path)", errno: EAGAIN, detail: "could not claim \(s): it keeps changing")
    }

    /// Removes the (now empty) staging directory and drops the lock.
    func removeAndRelease() {
        guard !released else { return }
        _ = rmdir(path)
        released = true
        dir.close()
    }

    /// Drops the lock without touching the name (after the directory was renamed away).
    func release() {
        released = true
        dir.close()
    }

    deinit { if !released { dir.close() } }
}

/// Removes everything inside the directory `dirFD` (at `path`), bottom-up,
/// never following a symlink: symlinks are unlinked as entries, directories
/// are opened with O_NOFOLLOW relative to their parent. Before anything is
/// unlinked, struct_ops maps pinned under links/ are unregistered (a map
/// registered without a link stays registered while it exists). Link pins
/// detach when their last reference goes.
///
/// `structOpsPins` names the pins under links/ that hold struct_ops maps
/// when the caller knows them (from the manifest); nil means look at each.
func removeContents(of dirFD: FileDescriptor, path: String, depth: Int = 0, structOpsPins: [String]? = nil) throws(BPFError) {
    guard depth < 16 else { throw BPFError("remove \(path)", errno: ELOOP, detail: "directories nested too deep") }
    if depth == 0 { unregisterStructOps(in: join(path, ObjectTreeLayout.linksDir), only: structOpsPins) }
    let names = try directoryEntries(dirFD, path: path)
    var firstError: BPFError?
    var own = stat()
    if fstat(dirFD.rawValue, &own) != 0 { throw BPFError("remove \(path)", errno: Glibc.errno) }
    // links/ first so that programs stop before their pins go.
    let ordered = names.filter { $0.name == ObjectTreeLayout.linksDir } + names.filter { $0.name != ObjectTreeLayout.linksDir }
    for entry in ordered {
        if entry.isDirectory {
            let child = openat(dirFD.rawValue, entry.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if child >= 0 {
                let childFD = FileDescriptor(owning: child)
                var st = stat()
                if fstat(child, &st) != 0 || st.st_dev != own.st_dev {
                    // Another filesystem is mounted there: what it holds is not the tree's. Never empty it.
                    if firstError == nil {
                        firstError = BPFError("remove \(join(path, entry.name))", errno: EBUSY,
                                              detail: "a filesystem is mounted there; left alone")
                    }
                    continue
                }
                do { try removeContents(of: childFD, path: join(path, entry.name), depth: depth + 1) } catch {
                    if firstError == nil { firstError = error }
                }
            }
            if unlinkat(dirFD.rawValue, entry.name, AT_REMOVEDIR) != 0 && Glibc.errno != ENOENT && firstError == nil {
                firstError = BPFError("remove directory \(join(path, entry.name))", errno: Glibc.errno)
            }
        } else if unlinkat(dirFD.rawValue, entry.name, 0) != 0 && Glibc.errno != ENOENT && firstError == nil {
            firstError = BPFError("unpin \(join(path, entry.name))", errno: Glibc.errno)
        }
    }
    if let firstError { throw firstError }
}

/// The first directory under `dirFD` (at `path`) that another filesystem is
/// mounted on, or nil. Symlinks are not followed. `object unpin` refuses a
/// tree with one before it changes anything: emptying the tree would reach
/// into the mounted filesystem.
func mountPointInside(_ dirFD: FileDescriptor, path: String, depth: Int = 0) throws(BPFError) -> String? {
    guard depth < 16 else { throw BPFError("read \(path)", errno: ELOOP, detail: "directories nested too deep") }
    var own = stat()
    if fstat(dirFD.rawValue, &own) != 0 { throw BPFError("stat \(path)", errno: Glibc.errno) }
    for entry in try directoryEntries(dirFD, path: path) where entry.isDirectory {
        let child = openat(dirFD.rawValue, entry.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if child < 0 { throw BPFError("open directory \(join(path, entry.name))", errno: Glibc.errno) }
        let childFD = FileDescriptor(owning: child)
        var st = stat()
        if fstat(child, &st) != 0 { throw BPFError("stat \(join(path, entry.name))", errno: Glibc.errno) }
        if st.st_dev != own.st_dev { return join(path, entry.name) }
        if let m = try mountPointInside(childFD, path: join(path, entry.name), depth: depth + 1) { return m }
    }
    return nil
}

/// Unregisters struct_ops maps pinned directly under `linksDir` (the pins of
/// registrations made without a link). Errors are ignored: the map may be
/// unregistered already.
private func unregisterStructOps(in linksDir: String, only names: [String]?) {
    let candidates: [String]
    if let names {
        candidates = names
    } else {
        guard case .directory = (try? pathState(linksDir)) ?? .missing,
              let dir = try? openDirectory(linksDir),
              let entries = try? directoryEntries(dir, path: linksDir) else { return }
        candidates = entries.filter { !$0.isDirectory && !$0.isSymlink }.map(\.name)
    }
    for name in candidates {
        guard let fd = try? Kernel.openPinned(join(linksDir, name)), Kernel.kind(of: fd) == .map,
              let s = try? PinnedObjectSummary.describe(fd), s.mapType == structOpsMapType else { continue }
        _ = unregisterStructOpsMap(fd)
    }
}

struct DirectoryEntry {
    let name: String
    let isDirectory: Bool
    let isSymlink: Bool
}

/// The entries of an open directory (without . and ..), by d_type, falling back to fstatat without following.
func directoryEntries(_ dirFD: FileDescriptor, path: String) throws(BPFError) -> [DirectoryEntry] {
    let dup = fcntl(dirFD.rawValue, F_DUPFD_CLOEXEC, 3)
    if dup < 0 { throw BPFError("read directory \(path)", errno: Glibc.errno) }
    guard let d = fdopendir(dup) else {
        let e = Glibc.errno
        close(dup)
        throw BPFError("read directory \(path)", errno: e)
    }
    defer { closedir(d) }
    rewinddir(d)
    var out: [DirectoryEntry] = []
    while let ent = readdir(d) {
        let name = direntName(ent)
        if name == "." || name == ".." { continue }
        var type = direntType(ent)
        if type == Int32(DT_UNKNOWN) {
            var st = stat()
            if fstatat(dirFD.rawValue, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                switch st.st_mode & S_IFMT {
                case S_IFDIR: type = Int32(DT_DIR)
                case S_IFLNK: type = Int32(DT_LNK)
                default: type = Int32(DT_REG)
                }
            }
        }
        out.append(DirectoryEntry(name: name, isDirectory: type == Int32(DT_DIR), isSymlink: type == Int32(DT_LNK)))
    }
    return out.sorted { $0.name < $1.name }
}

/// The name in a readdir(3) entry. Read through a pointer to the field: the
/// entry may be shorter than `struct dirent` (its name is only as long as it
/// is), so `ent.pointee` (a copy of the whole struct) reads past the end.
func direntName(_ ent: UnsafeMutablePointer<dirent>) -> String {
    let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
    return String(cString: (UnsafeRawPointer(ent) + offset).assumingMemoryBound(to: CChar.self))
}

/// The d_type of a readdir(3) entry (DT_DIR, DT_REG, ...), read as `direntName` reads the name.
func direntType(_ ent: UnsafeMutablePointer<dirent>) -> Int32 {
    let offset = MemoryLayout<dirent>.offset(of: \dirent.d_type)!
    return Int32(UnsafeRawPointer(ent).load(fromByteOffset: offset, as: UInt8.self))
}

/// Makes a directory inside the staging tree.
func makeDirectory(_ p: String) throws(BPFError) {
    if mkdir(p, 0o700) != 0 { throw BPFError("create directory \(p)", errno: Glibc.errno) }
}
