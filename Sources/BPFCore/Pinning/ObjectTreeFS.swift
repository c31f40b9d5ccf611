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

    /// The staging directory name for a tree called `base`: the prefix and
    /// the name, or, when that would pass NAME_MAX (names of 239-255 bytes),
    /// the prefix and "h" and the name's sha256.
    public static func stagingName(for base: String) -> String {
        if stagingPrefix.utf8.count + base.utf8.count <= Int(NAME_MAX) { return stagingPrefix + base }
        return stagingPrefix + "h" + SHA256.hexDigest(Array(base.utf8))
    }

    /// For a staging directory's name, the tree name it stands for (nil for a hashed one).
    public static func treeName(forStaging name: String) -> String? {
        guard name.hasPrefix(stagingPrefix) else { return nil }
        let rest = String(name.dropFirst(stagingPrefix.count))
        if rest.utf8.count == 65 && rest.hasPrefix("h") && rest.dropFirst().allSatisfy({ $0.isHexDigit }) { return nil }
        return rest
    }
}

/// A PATH given to `object pin|unpin|show`, split and checked: its parent
/// is opened once (a directory on bpffs) and everything after works relative
/// to it; its last component must be a name bpffs accepts.
struct TreePath {
    let path: String
    let parent: TreeDirectory
    let base: String
    /// The staging directory's name in `parent` (see `ObjectTreeLayout.stagingName`).
    var stagingName: String { ObjectTreeLayout.stagingName(for: base) }
    var stagingPath: String { parent.child(stagingName) }

    init(_ given: String, what: String) throws(BPFError) {
        var p = given
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard !p.isEmpty, p != "/" else { throw BPFError("\(what) \(given)", errno: EINVAL, detail: "not a path below a bpffs mount") }
        let parentPath: String
        if let slash = p.lastIndex(of: "/") {
            base = String(p[p.index(after: slash)...])
            let par = String(p[..<slash])
            parentPath = par.isEmpty ? "/" : par
        } else {
            base = p
            parentPath = "."
        }
        path = p
        guard base != "." && base != ".." else {
            throw BPFError("\(what) \(given)", errno: EINVAL, detail: "the last component must be a name, not '\(base)'")
        }
        guard !base.contains(".") else {
            throw BPFError("\(what) \(given)", errno: EINVAL, detail: "bpffs refuses names with '.'")
        }
        guard base.utf8.count <= Int(NAME_MAX), isPlainName(base) else {
            throw BPFError("\(what) \(given)", errno: EINVAL, detail: "the last component is not a name bpffs accepts")
        }
        do {
            parent = try TreeDirectory.open(path: parentPath)
        } catch {
            if error.errno == EINVAL {
                // Name the directory that is off bpffs: PATH itself when it
                // is a directory (`unpin /tmp`), else its parent.
                var own = stat()
                let named = lstat(p, &own) == 0 && (own.st_mode & S_IFMT) == S_IFDIR ? p : parentPath
                throw BPFError("\(what) \(given)", errno: EINVAL, detail: "\(named) is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)")
            }
            throw BPFError("\(what) \(given)", errno: error.errno, detail: "parent directory \(parentPath)")
        }
    }

    var isStagingName: Bool { base.hasPrefix(ObjectTreeLayout.stagingPrefix) }

    /// What is at PATH, without following a symlink.
    func entry() throws(BPFError) -> TreeDirectory.Entry { try parent.entry(base) }

    /// Opens the tree directory at PATH (never a symlink, never a mount point).
    func open(what: String) throws(BPFError) -> TreeDirectory {
        switch try entry() {
        case .missing: throw BPFError("\(what) \(path)", errno: ENOENT)
        case .symlink: throw BPFError("\(what) \(path)", errno: ELOOP, detail: "it is a symbolic link; refusing")
        case .pin, .other: throw BPFError("\(what) \(path)", errno: ENOTDIR, detail: "not a directory")
        case .directory: break
        }
        do {
            return try parent.directory(base)
        } catch where error.errno == EXDEV {
            throw BPFError("\(what) \(path)", errno: EBUSY, detail: "it is a mount point, not a tree inside one")
        }
    }

    /// Refuses a PARENT where others could rename or remove what we create
    /// (writable by them without the sticky bit): they could swap our
    /// staging directory for theirs between our steps.
    func requireSafeParent(what: String) throws(BPFError) {
        if parent.othersMayMoveEntries {
            throw BPFError("\(what) \(path)", errno: EPERM,
                           detail: "\(parent.path) is writable by other users without the sticky bit (mode \(String(parent.mode, radix: 8)), uid \(parent.owner)); they could swap what bpfswift builds there")
        }
    }

    /// The object tree PATH would be inside (a directory above it on the
    /// same mount holding a bpfswift manifest), or nil.
    func enclosingTree() -> String? {
        var dir: TreeDirectory? = parent
        var shown = parent.path
        for _ in 0..<64 {
            guard let d = dir else { return nil }
            if case .pin = (try? d.entry(ObjectTreeLayout.manifest)) ?? .missing,
               let fd = try? d.openPinned(ObjectTreeLayout.manifest), ObjectTree.isManifestMap(fd) {
                return shown
            }
            dir = d.parentOnSameMount()
            if let slash = shown.lastIndex(of: "/"), shown != "/" {
                shown = slash == shown.startIndex ? "/" : String(shown[..<slash])
            } else {
                shown = join(shown, "..")
            }
        }
        return nil
    }
}

func join(_ dir: String, _ name: String) -> String {
    dir.hasSuffix("/") ? dir + name : dir + "/" + name
}

let renameNoReplace = UInt32(RENAME_NOREPLACE)
let renameExchange = UInt32(RENAME_EXCHANGE)

/// The exclusive claim on PARENT/bpfswift_staging_NAME: the directory where a
/// tree is built (or an old one is taken apart), locked with flock(2) on its
/// descriptor for as long as this process works on it. A staging directory
/// nobody holds is a leftover of a killed run: the claim empties it and
/// reuses it, but only if it is ours (owned by us, no group or other write,
/// nothing foreign inside): a directory someone else made at that name is
/// never adopted. Two runs on one PATH: the second finds the lock taken and
/// fails at once.
final class StagingClaim {
    let tree: TreePath
    let dir: TreeDirectory
    var name: String { tree.stagingName }
    var path: String { tree.stagingPath }
    private(set) var released = false

    private init(tree: TreePath, dir: TreeDirectory) {
        self.tree = tree
        self.dir = dir
    }

    /// Claims the staging directory of `tree`; `purpose` names the command in messages.
    static func claim(_ tree: TreePath, purpose: String) throws(BPFError) -> StagingClaim {
        let name = tree.stagingName
        let s = tree.stagingPath
        // A few rounds only matter when another run publishes or removes the
        // directory between our mkdir/open and our flock.
        for _ in 0..<8 {
            let created = mkdirat(tree.parent.fd.rawValue, name, 0o700) == 0
            if !created && Glibc.errno != EEXIST {
                throw BPFError("create staging directory \(s)", errno: Glibc.errno)
            }
            let dir: TreeDirectory
            do { dir = try tree.parent.directory(name) } catch {
                if error.errno == ENOENT { continue }
                if error.errno == ENOTDIR || error.errno == ELOOP || error.errno == EXDEV {
                    throw BPFError("\(purpose) \(tree.path)", errno: EEXIST,
                                   detail: "\(s) is in the way and is not a staging directory of bpfswift; remove it")
                }
                throw error
            }
            // Never adopt what someone else made: a squatter's directory could be
            // changed under us and, once published, under the tree's users.
            if !dir.isOnlyOurs {
                throw BPFError("\(purpose) \(tree.path)", errno: EEXIST,
                               detail: "\(s) exists and belongs to uid \(dir.owner) with mode \(String(dir.mode, radix: 8)): not a staging directory of bpfswift; refusing to use it (remove it)")
            }
            if flock(dir.fd.rawValue, LOCK_EX | LOCK_NB) != 0 {
                let e = Glibc.errno
                if e == EWOULDBLOCK {
                    throw BPFError("\(purpose) \(tree.path)", errno: EBUSY, detail: "another bpfswift run is working on it (\(s) is locked)")
                }
                throw BPFError("lock \(s)", errno: e)
            }
            // Still the directory at that name? (It may have been published or removed meanwhile.)
            var mine = stat()
            guard fstat(dir.fd.rawValue, &mine) == 0, mine.st_nlink > 0, tree.parent.holds(dir, at: name) else { continue }
            if created {
                try dir.makeOurs()
            } else {
                // A leftover of a killed run: refuse if anything inside is not ours, else take it apart.
                if let f = try dir.foreignDirectoryInside() {
                    throw BPFError("\(purpose) \(tree.path)", errno: EEXIST,
                                   detail: "\(f.path) belongs to uid \(f.owner) with mode \(String(f.mode, radix: 8)): not made by bpfswift; refusing to use \(s)")
                }
                if let m = try dir.mountPointInside() {
                    throw BPFError("\(purpose) \(tree.path)", errno: EBUSY, detail: "\(m) is a mount point inside \(s); refusing")
                }
                try removeLeftover(dir)
            }
            return StagingClaim(tree: tree, dir: dir)
        }
        throw BPFError("\(purpose) \(tree.path)", errno: EAGAIN, detail: "could not claim \(s): it keeps changing")
    }

    /// Empties a leftover staging directory of ours (checked by the caller):
    /// what a killed pin left (its links detach, its struct_ops maps are
    /// unregistered, the shared pins it had published are unpublished) or
    /// what a killed unpin had moved there.
    static func removeLeftover(_ dir: TreeDirectory) throws(BPFError) {
        unpublishSharedPins(of: dir)
        try dir.removeContents(structOps: .everyPin)
    }

    /// A killed pin may have published new shared pins (staging/shared/mN,
    /// pinned at the path its manifest records) before the tree: those whose
    /// shared path still holds the very map are unpinned there.
    private static func unpublishSharedPins(of dir: TreeDirectory) {
        guard let shared = try? dir.directory(ObjectTreeLayout.sharedDir), let names = try? shared.entries(),
              let mfd = try? dir.openPinned(ObjectTreeLayout.manifest),
              let manifest = try? ObjectManifest.read(mfd, path: dir.child(ObjectTreeLayout.manifest)).manifest else { return }
        for e in names where !e.isDirectory {
            guard let fd = try? shared.openPinned(e.name), let id = try? Kernel.id(of: fd),
                  let m = manifest.maps.first(where: { $0.id == id }), let p = m.sharedPin, m.reusedPin == nil,
                  let there = try? PinnedObjectSummary.describe(pinnedAt: p), there.kind == .map, there.id == id else { continue }
            _ = Glibc.unlink(p)
        }
    }

    /// Removes the (now empty) staging directory and drops the lock.
    func removeAndRelease() {
        guard !released else { return }
        if tree.parent.holds(dir, at: name) { try? tree.parent.removeDirectory(name) }
        released = true
        dir.fd.close()
    }

    /// Drops the lock without touching the name (after the directory was renamed away).
    func release() {
        released = true
        dir.fd.close()
    }

    deinit { if !released { dir.fd.close() } }
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
