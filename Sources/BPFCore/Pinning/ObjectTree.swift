#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// One pin an object tree's manifest promises, and what is there now.
public struct ObjectTreeEntry: Sendable {
    /// Relative to the tree: "maps/counter_bss", "programs/count_enter", "links/count_enter", "manifest".
    public var relativePath: String
    public var kind: BPFObjectKind
    public var recordedID: UInt32
    /// What the pin holds now, or nil when there is no pin (or it cannot be opened).
    public var live: PinnedObjectSummary?
    /// The pin holds the recorded link, but it was detached (or the recorded
    /// struct_ops map, but it was unregistered) behind the tree's back.
    public var inactive = false

    /// Whether the pin exists, holds the recorded object, and (for links and
    /// struct_ops registrations) that object is still attached or registered.
    public var present: Bool { live?.kind == kind && live?.id == recordedID && !inactive }
}

/// What `object show` reports: the manifest of a tree and, for every pin it
/// records, whether the pin is there with the same object.
public struct ObjectTreeStatus: Sendable {
    public var path: String
    public var manifest: ObjectManifest?
    /// The id of the manifest map.
    public var manifestID: UInt32?
    /// Why there is no manifest (not a tree, unreadable, unknown version).
    public var problem: String?
    public var entries: [ObjectTreeEntry] = []

    /// A tree is complete when its manifest reads and every recorded pin holds its recorded object.
    public var complete: Bool { manifest != nil && entries.allSatisfy(\.present) }
    /// Relative paths of recorded pins that are missing or hold something else.
    public var missing: [String] { entries.filter { !$0.present }.map(\.relativePath) }

    /// The recorded pin at `relativePath` ("maps/hit_map"), or nil when the manifest records none.
    public func entry(_ relativePath: String) -> ObjectTreeEntry? {
        entries.first { $0.relativePath == relativePath }
    }

    /// Reads the manifest of the tree open at `dir` and checks every pin it
    /// records, all through the directory's descriptor (so one tree is read,
    /// even if PATH is swapped meanwhile). Never throws: problems are recorded.
    static func read(_ dir: TreeDirectory, path: String) -> ObjectTreeStatus {
        var s = ObjectTreeStatus(path: path)
        let m: ObjectManifest
        do throws(BPFError) {
            let fd = try dir.openPinned(ObjectTreeLayout.manifest)
            let r = try ObjectManifest.read(fd, path: dir.child(ObjectTreeLayout.manifest))
            m = r.manifest
            s.manifestID = r.mapID
        } catch {
            s.problem = error.description
            return s
        }
        s.manifest = m
        var subdirs: [String: TreeDirectory?] = [:]
        func check(_ sub: String, _ name: String, _ kind: BPFObjectKind, _ id: UInt32, activity: Bool) {
            if subdirs[sub] == nil { subdirs[sub] = .some(try? dir.directory(sub)) }
            var e = ObjectTreeEntry(relativePath: sub + "/" + name, kind: kind, recordedID: id, live: nil)
            if let d = subdirs[sub] ?? nil, let fd = try? d.openPinned(name), let live = try? PinnedObjectSummary.describe(fd) {
                e.live = live
                if activity && live.id == id { e.inactive = !isActive(fd, live) }
            }
            s.entries.append(e)
        }
        for map in m.maps { check(ObjectTreeLayout.mapsDir, map.pinName, .map, map.id, activity: false) }
        for p in m.programs { check(ObjectTreeLayout.programsDir, p.name, .program, p.id, activity: false) }
        for l in m.links { check(ObjectTreeLayout.linksDir, l.pinName, l.pinHoldsMap ? .map : .link, l.id, activity: true) }
        return s
    }
}

/// Whether a link is still attached, or a struct_ops map pinned as a
/// registration still registered. For links, the kernel clears the target
/// (map, interface, cgroup, netns) in the link's info when it is detached;
/// link types without such a field count as attached while they exist.
/// Calls `bpf_obj_get_info_by_fd` and, for a struct_ops map, `bpf_map_lookup_elem`.
func isActive(_ fd: FileDescriptor, _ summary: PinnedObjectSummary) -> Bool {
    switch summary.kind {
    case .map:
        guard summary.mapType == structOpsMapType else { return true }
        var info = bpf_map_info()
        guard (try? Kernel.info(fd.rawValue, &info, what: "map")) != nil, info.value_size >= 8 else { return true }
        var value = [UInt8](repeating: 0, count: Int(info.value_size))
        var key: UInt32 = 0
        let r = value.withUnsafeMutableBytes { bpf_map_lookup_elem(fd.rawValue, &key, $0.baseAddress) }
        guard r == 0 else { return false }
        // struct bpf_struct_ops_common_value: refcnt, then state; 1 is BPF_STRUCT_OPS_STATE_INUSE (registered).
        let state = UInt32(value[4]) | UInt32(value[5]) << 8 | UInt32(value[6]) << 16 | UInt32(value[7]) << 24
        return state == 1
    case .link:
        var i = bpf_link_info()
        guard (try? Kernel.info(fd.rawValue, &i, what: "link")) != nil else { return false }
        switch bpf_link_type(rawValue: i.type) {
        case BPF_LINK_TYPE_STRUCT_OPS: return i.struct_ops.map_id != 0
        case BPF_LINK_TYPE_XDP: return i.xdp.ifindex != 0
        case BPF_LINK_TYPE_TCX: return i.tcx.ifindex != 0
        case BPF_LINK_TYPE_NETKIT: return i.netkit.ifindex != 0
        case BPF_LINK_TYPE_CGROUP: return i.cgroup.cgroup_id != 0
        case BPF_LINK_TYPE_NETNS: return i.netns.netns_ino != 0
        default: return true
        }
    default:
        return true
    }
}

/// The state of a directory `object list` found.
public enum ObjectTreeState: String, Sendable {
    /// A tree whose every recorded pin is in place.
    case complete
    /// A tree with pins missing or replaced, or an unreadable manifest.
    case incomplete
    /// A staging directory nobody holds: what a killed run left; the next pin or unpin of its PATH removes it.
    case staging
    /// A staging directory a running bpfswift holds.
    case busy
}

/// One entry of `ObjectTree.list`: a tree or a staging directory and its state.
public struct ObjectTreeListing: Sendable {
    public var path: String
    public var state: ObjectTreeState
    /// For staging directories: the PATH they belong to.
    public var treePath: String?
    public var manifest: ObjectManifest?
}

/// Reading, removing and finding object trees.
public enum ObjectTree {
    /// The status of the tree at `path`; throws when `path` is not an object tree.
    ///
    /// The tree is read through its directory's descriptor; when what was
    /// read is incomplete, PATH is checked to still name that directory: a
    /// tree swapped out by `object pin --replace` (or moved by `object
    /// unpin`) while it was read is read again at PATH, so a reader never
    /// reports the half-removed old tree of an atomic swap.
    public static func status(at path: String) throws(BPFError) -> ObjectTreeStatus {
        let tree = try TreePath(path, what: "show object tree")
        var last: ObjectTreeStatus?
        for _ in 0..<64 {
            let dir = try tree.open(what: "show object tree")
            let s = ObjectTreeStatus.read(dir, path: tree.path)
            if s.complete { return s }
            last = s
            if tree.parent.holds(dir, at: tree.base) { break }
        }
        let s = last!
        if s.manifest == nil {
            let dir = try tree.open(what: "show object tree")
            try requireReadable(dir, what: "show object tree \(path)")
            if !isOurManifest(dir) {
                throw BPFError("show object tree \(path)", errno: EINVAL, detail: "not an object tree (\(s.problem ?? "no manifest"))")
            }
        }
        return s
    }

    /// Throws when the manifest cannot be opened for want of privileges
    /// (EPERM, EACCES from bpffs or bpf(2)): that is the error to report,
    /// not "not an object tree".
    static func requireReadable(_ dir: TreeDirectory, what: @autoclosure () -> String) throws(BPFError) {
        do { _ = try dir.openPinned(ObjectTreeLayout.manifest) } catch where error.errno == EPERM || error.errno == EACCES {
            throw BPFError(what(), errno: error.errno, detail: error.description)
        } catch {}
    }

    /// Whether the directory holds a bpfswift manifest map (even one this version cannot decode).
    static func isOurManifest(_ dir: TreeDirectory) -> Bool {
        guard let fd = try? dir.openPinned(ObjectTreeLayout.manifest) else { return false }
        return isManifestMap(fd)
    }

    /// Whether `fd` is a map named like a bpfswift manifest.
    static func isManifestMap(_ fd: FileDescriptor) -> Bool {
        guard let s = try? PinnedObjectSummary.describe(fd) else { return false }
        return s.kind == .map && s.name == ObjectManifest.mapName
    }

    /// `object unpin`: removes the tree at `path`, detaching its links (their
    /// pins go) and unregistering its struct_ops maps. Maps pinned by name
    /// elsewhere stay. The tree is first renamed to its staging name, so a
    /// reader sees the whole tree or none. Given a leftover staging directory,
    /// or a PATH whose killed pin or unpin left one, removes it.
    ///
    /// Refuses, before changing anything: a tree whose manifest does not
    /// decode and validate (only a map named bpfswift_obj is not enough), a
    /// directory inside it that someone else owns or can write (it was not
    /// made by bpfswift, and could be changed under us), and a filesystem
    /// mounted inside it (a bind mount of this very bpffs included). Works
    /// through directory descriptors only: never follows a symlink, never
    /// leaves the tree, and unregisters only struct_ops maps whose pin holds
    /// the id the manifest records.
    @discardableResult
    public static func unpin(_ path: String) throws(BPFError) -> ObjectManifest? {
        let steps = StepGuard()
        defer { steps.finish() }
        let tree = try TreePath(path, what: "unpin object tree")
        try tree.requireSafeParent(what: "unpin object tree")
        if tree.isStagingName {
            _ = try tree.open(what: "unpin")  // a clear error when missing, a symlink or a mount point
            try removeLeftover(tree.parent, name: tree.base, shownAs: tree.path)
            return nil
        }
        if case .missing = try tree.entry() {
            // A killed unpin (or pin) of PATH left its staging directory: finish the job.
            if case .directory = try tree.parent.entry(tree.stagingName) {
                try removeLeftover(tree.parent, name: tree.stagingName, shownAs: tree.stagingPath)
                return nil
            }
        }
        let dir = try tree.open(what: "unpin object tree")
        // What is not the tree's: refuse before changing anything.
        if let mount = try dir.mountPointInside() {
            throw BPFError("unpin object tree \(path)", errno: EBUSY,
                           detail: "\(mount) is a mount point inside it; refusing to remove what is mounted there")
        }
        if let f = try dir.foreignDirectoryInside() {
            throw BPFError("unpin object tree \(path)", errno: EPERM,
                           detail: "\(f.path) belongs to uid \(f.owner) with mode \(String(f.mode, radix: 8)): not a tree bpfswift published; refusing")
        }
        let manifest: ObjectManifest
        do throws(BPFError) {
            let fd = try dir.openPinned(ObjectTreeLayout.manifest)
            manifest = try ObjectManifest.read(fd, path: dir.child(ObjectTreeLayout.manifest)).manifest
        } catch {
            try requireReadable(dir, what: "unpin object tree \(path)")
            throw BPFError("unpin object tree \(path)", errno: EINVAL,
                           detail: "not an object tree (\(error.description)); refusing to remove it")
        }
        let claim = try StagingClaim.claim(tree, purpose: "unpin object tree")
        do throws(BPFError) {
            try steps.check("unpin-lock")
        } catch {
            claim.removeAndRelease()
            throw error
        }
        // Hold the tree itself, then move it onto the (empty, held) staging name.
        if flock(dir.fd.rawValue, LOCK_EX) != 0 {
            claim.removeAndRelease()
            throw BPFError("lock \(path)", errno: Glibc.errno)
        }
        // A killed pin leaves new shared pins under shared/ only while it is
        // unpublished; a published tree's shared/ is never a reason to unpin them.
        if case .directory = try dir.entry(ObjectTreeLayout.sharedDir) {
            try dir.directory(ObjectTreeLayout.sharedDir).removeContents(structOps: .none)
            try dir.removeDirectory(ObjectTreeLayout.sharedDir)
        }
        guard tree.parent.holds(dir, at: tree.base) else {
            claim.removeAndRelease()
            throw BPFError("unpin object tree \(path)", errno: EAGAIN, detail: "it was replaced while it was checked; nothing was removed")
        }
        do throws(BPFError) {
            try tree.parent.rename(tree.base, to: claim.name, flags: 0, what: "move \(path) out of place")
        } catch {
            claim.removeAndRelease()
            throw error
        }
        claim.release()
        do throws(BPFError) {
            try steps.check("unpin-move")
            try steps.check("unpin-remove")
        } catch {
            // Put it back: nothing was removed yet.
            try? tree.parent.rename(tree.stagingName, to: tree.base, flags: renameNoReplace, what: "")
            throw error
        }
        try dir.removeContents(structOps: .recorded(manifest.links))
        if tree.parent.holds(dir, at: tree.stagingName) { try tree.parent.removeDirectory(tree.stagingName) }
        return manifest
    }

    /// Removes the staging directory `name` in `parent` that a killed run
    /// left, if no run holds it and it is ours through and through.
    private static func removeLeftover(_ parent: TreeDirectory, name: String, shownAs: String) throws(BPFError) {
        let dir: TreeDirectory
        do { dir = try parent.directory(name) } catch where error.errno == EXDEV {
            throw BPFError("unpin \(shownAs)", errno: EBUSY, detail: "it is a mount point")
        }
        if let f = try dir.foreignDirectoryInside() {
            throw BPFError("unpin \(shownAs)", errno: EPERM,
                           detail: "\(f.path) belongs to uid \(f.owner) with mode \(String(f.mode, radix: 8)): not made by bpfswift; refusing")
        }
        if let mount = try dir.mountPointInside() {
            throw BPFError("unpin \(shownAs)", errno: EBUSY, detail: "\(mount) is a mount point inside it; refusing")
        }
        if flock(dir.fd.rawValue, LOCK_EX | LOCK_NB) != 0 {
            throw BPFError("unpin \(shownAs)", errno: EBUSY, detail: "a running bpfswift holds it")
        }
        try StagingClaim.removeLeftover(dir)
        if parent.holds(dir, at: name) { try parent.removeDirectory(name) }
    }

    /// `object list`: every object tree and staging directory under `root`
    /// (which may itself be a tree), walking by directory descriptor: never
    /// through a symlink, never onto another mount.
    public static func list(root: String) throws(BPFError) -> [ObjectTreeListing] {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        var st = stat()
        if lstat(r, &st) != 0 { throw BPFError("list object trees under \(root)", errno: Glibc.errno) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw BPFError("list object trees under \(root)", errno: ENOTDIR, detail: "not a directory")
        }
        let dir: TreeDirectory
        do { dir = try TreeDirectory.open(path: r) } catch where error.errno == EINVAL {
            throw BPFError("list object trees under \(root)", errno: EINVAL, detail: "not on a bpffs mount")
        }
        let locks = heldFlocks()
        var out: [ObjectTreeListing] = []
        let what = "list object trees under \(root)"
        try requireReadable(dir, what: what)
        if isOurManifest(dir) {
            out.append(listing(dir, path: r, recheck: nil))
            return out
        }
        try walk(dir, depth: 0, locks: locks, what: what, into: &out)
        return out
    }

    /// The listing of the tree open at `dir`; re-read at its name in `parent`
    /// when it was swapped away while being read.
    private static func listing(_ dir: TreeDirectory, path: String, recheck: (parent: TreeDirectory, name: String)?) -> ObjectTreeListing {
        var d = dir
        var s = ObjectTreeStatus.read(d, path: path)
        if let (parent, name) = recheck {
            for _ in 0..<64 where !s.complete && !parent.holds(d, at: name) {
                guard let again = try? parent.directory(name) else { break }
                d = again
                s = ObjectTreeStatus.read(d, path: path)
            }
        }
        return ObjectTreeListing(path: path, state: s.complete ? .complete : .incomplete, treePath: nil, manifest: s.manifest)
    }

    /// A directory or manifest that cannot be read for want of privileges
    /// fails the listing: an empty list would say there is nothing there.
    private static func walk(_ dir: TreeDirectory, depth: Int, locks: Set<String>, what: String,
                             into out: inout [ObjectTreeListing]) throws(BPFError) {
        guard depth < 32 else { return }
        let entries: [DirectoryEntry]
        do { entries = try dir.entries() } catch where error.errno == EPERM || error.errno == EACCES {
            throw BPFError(what, errno: error.errno, detail: error.description)
        } catch { return }
        for e in entries where e.isDirectory {
            let path = dir.child(e.name)
            if e.name.hasPrefix(ObjectTreeLayout.stagingPrefix) {
                var st = stat()
                let held = fstatat(dir.fd.rawValue, e.name, &st, AT_SYMLINK_NOFOLLOW) == 0 && locks.contains(lockKey(st))
                out.append(ObjectTreeListing(path: path, state: held ? .busy : .staging,
                                             treePath: ObjectTreeLayout.treeName(forStaging: e.name).map { dir.child($0) },
                                             manifest: nil))
                continue
            }
            // A tree swapped away (and being taken apart) while we looked is
            // no tree any more: look again at what the name holds now.
            for _ in 0..<64 {
                let sub: TreeDirectory
                do { sub = try dir.directory(e.name) } catch where error.errno == EPERM || error.errno == EACCES {
                    throw BPFError(what, errno: error.errno, detail: error.description)
                } catch { break }
                if case .pin = (try? sub.entry(ObjectTreeLayout.manifest)) ?? .missing {
                    try requireReadable(sub, what: what)
                }
                if case .pin = (try? sub.entry(ObjectTreeLayout.manifest)) ?? .missing, isOurManifest(sub) {
                    out.append(listing(sub, path: path, recheck: (dir, e.name)))
                    break
                }
                if dir.holds(sub, at: e.name) {
                    try walk(sub, depth: depth + 1, locks: locks, what: what, into: &out)
                    break
                }
            }
        }
    }
    /// "major:minor:inode" of every flock lock held on the system (from
    /// /proc/locks), so that `list` can tell a running staging directory from
    /// a leftover without taking the lock itself.
    private static func heldFlocks() -> Set<String> {
        guard let text = readTextFile("/proc/locks") else { return [] }
        var out: Set<String> = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            // "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF" (split drops empty fields)
            guard f.count >= 6, f[1] == "FLOCK" else { continue }
            let dev = f[5].split(separator: ":")
            guard dev.count == 3, let maj = UInt64(dev[0], radix: 16), let min = UInt64(dev[1], radix: 16),
                  let ino = UInt64(dev[2]) else { continue }
            out.insert("\(maj):\(min):\(ino)")
        }
        return out
    }

    private static func lockKey(_ st: stat) -> String {
        let dev = UInt64(st.st_dev)
        let maj = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let min = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        return "\(maj):\(min):\(UInt64(st.st_ino))"
    }
}
