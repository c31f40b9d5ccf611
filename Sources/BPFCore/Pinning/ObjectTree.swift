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

    /// Whether the pin exists and holds the recorded object.
    public var present: Bool { live?.kind == kind && live?.id == recordedID }
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

    /// Reads the manifest at PATH/manifest and checks every pin it records. Never throws: problems are recorded.
    static func read(_ path: String) -> ObjectTreeStatus {
        var s = ObjectTreeStatus(path: path)
        let manifestPath = join(path, ObjectTreeLayout.manifest)
        let m: ObjectManifest
        do throws(BPFError) {
            let r = try ObjectManifest.read(pinnedAt: manifestPath)
            m = r.manifest
            s.manifestID = r.mapID
        } catch {
            s.problem = error.description
            return s
        }
        s.manifest = m
        func check(_ rel: String, _ kind: BPFObjectKind, _ id: UInt32) {
            let live = try? PinnedObjectSummary.describe(pinnedAt: join(path, rel))
            s.entries.append(ObjectTreeEntry(relativePath: rel, kind: kind, recordedID: id, live: live))
        }
        for map in m.maps { check(ObjectTreeLayout.mapsDir + "/" + map.pinName, .map, map.id) }
        for p in m.programs { check(ObjectTreeLayout.programsDir + "/" + p.name, .program, p.id) }
        for l in m.links { check(ObjectTreeLayout.linksDir + "/" + l.pinName, l.pinHoldsMap ? .map : .link, l.id) }
        return s
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
    public static func status(at path: String) throws(BPFError) -> ObjectTreeStatus {
        let tree = try TreePath(path, what: "show object tree")
        switch try pathState(tree.path) {
        case .missing: throw BPFError("show object tree \(path)", errno: ENOENT)
        case .symlink: throw BPFError("show object tree \(path)", errno: ELOOP, detail: "it is a symbolic link")
        case .other: throw BPFError("show object tree \(path)", errno: ENOTDIR, detail: "not a directory")
        case .directory: break
        }
        let s = ObjectTreeStatus.read(tree.path)
        if s.manifest == nil { try requireReadable(join(tree.path, ObjectTreeLayout.manifest), what: "show object tree \(path)") }
        if s.manifest == nil, !s.entries.isEmpty || !isOurManifest(join(tree.path, ObjectTreeLayout.manifest)) {
            throw BPFError("show object tree \(path)", errno: EINVAL, detail: "not an object tree (\(s.problem ?? "no manifest"))")
        }
        return s
    }

    /// Throws when the pin at `path` cannot be opened for want of privileges
    /// (EPERM, EACCES): that is the error to report, not "not an object tree".
    static func requireReadable(_ path: String, what: @autoclosure () -> String) throws(BPFError) {
        do { _ = try Kernel.openPinned(path) } catch where error.errno == EPERM || error.errno == EACCES {
            throw BPFError("\(what()): open \(path)", errno: error.errno)
        } catch {}
    }

    /// Whether the pin at `path` is a bpfswift manifest map (even one this version cannot decode).
    static func isOurManifest(_ path: String) -> Bool {
        guard let fd = try? Kernel.openPinned(path), let s = try? PinnedObjectSummary.describe(fd) else { return false }
        return s.kind == .map && s.name == ObjectManifest.mapName
    }

    /// `object unpin`: removes the tree at `path`, detaching its links (their
    /// pins go) and unregistering its struct_ops maps. Maps pinned by name
    /// elsewhere stay. The tree is first renamed to its staging name, so a
    /// reader sees the whole tree or none. Given a leftover staging
    /// directory, removes it. Never removes anything outside `path`, and never
    /// follows a symlink. Returns the manifest of what was removed (nil for a
    /// staging directory or an unreadable manifest).
    @discardableResult
    public static func unpin(_ path: String) throws(BPFError) -> ObjectManifest? {
        let steps = StepGuard()
        defer { steps.finish() }
        let tree = try TreePath(path, what: "unpin object tree")
        switch try pathState(tree.path) {
        case .missing: throw BPFError("unpin object tree \(path)", errno: ENOENT)
        case .symlink: throw BPFError("unpin object tree \(path)", errno: ELOOP, detail: "it is a symbolic link; refusing")
        case .other: throw BPFError("unpin object tree \(path)", errno: ENOTDIR, detail: "not a directory")
        case .directory: break
        }
        // A filesystem mounted inside the tree is not the tree's: refuse before changing anything.
        if let mount = try mountPointInside(try openDirectory(tree.path), path: tree.path) {
            throw BPFError("unpin object tree \(path)", errno: EBUSY,
                           detail: "\(mount) is a mount point inside it; refusing to remove what is mounted there")
        }
        if tree.isStagingName {
            // A leftover staging directory: remove it if no run holds it.
            let dir = try openDirectory(tree.path)
            if flock(dir.rawValue, LOCK_EX | LOCK_NB) != 0 {
                throw BPFError("unpin \(path)", errno: EBUSY, detail: "a running bpfswift holds it")
            }
            try removeContents(of: dir, path: tree.path)
            if rmdir(tree.path) != 0 { throw BPFError("remove \(path)", errno: Glibc.errno) }
            return nil
        }
        let manifestPath = join(tree.path, ObjectTreeLayout.manifest)
        var manifest: ObjectManifest?
        do throws(BPFError) {
            manifest = try ObjectManifest.read(pinnedAt: manifestPath).manifest
        } catch {
            try requireReadable(manifestPath, what: "unpin object tree \(path)")
            guard isOurManifest(manifestPath) else {
                throw BPFError("unpin object tree \(path)", errno: EINVAL,
                               detail: "not an object tree (\(error.description)); refusing to remove it")
            }
        }
        let claim = try StagingClaim.claim(tree, purpose: "unpin object tree")
        do throws(BPFError) {
            try steps.check("unpin-lock")
        } catch {
            claim.removeAndRelease()
            throw error
        }
        // Hold the tree itself, then move it onto the (empty, held) staging name.
        let dir = try openDirectory(tree.path)
        if flock(dir.rawValue, LOCK_EX) != 0 {
            claim.removeAndRelease()
            throw BPFError("lock \(path)", errno: Glibc.errno)
        }
        do throws(BPFError) {
            try renamePaths(tree.path, claim.path, flags: 0, what: "move \(path) out of place")
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
            _ = bpfswift_renameat2(AT_FDCWD, claim.path, AT_FDCWD, tree.path, renameNoReplace)
            throw error
        }
        // The manifest says which link pins hold struct_ops maps; without one, look at every pin.
        try removeContents(of: dir, path: claim.path,
                           structOpsPins: manifest.map { m in m.links.filter(\.pinHoldsMap).map(\.pinName) })
        if rmdir(claim.path) != 0 { throw BPFError("remove \(claim.path)", errno: Glibc.errno) }
        return manifest
    }

    /// `object list`: every object tree and staging directory under `root`
    /// (which may itself be a tree), without following symlinks.
    public static func list(root: String) throws(BPFError) -> [ObjectTreeListing] {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        switch try pathState(r) {
        case .missing: throw BPFError("list object trees under \(root)", errno: ENOENT)
        case .directory: break
        default: throw BPFError("list object trees under \(root)", errno: ENOTDIR, detail: "not a directory")
        }
        guard Kernel.isOnBPFFS(r) else { throw BPFError("list object trees under \(root)", errno: EINVAL, detail: "not on a bpffs mount") }
        let locks = heldFlocks()
        var out: [ObjectTreeListing] = []
        try walk(r, depth: 0, locks: locks, into: &out)
        return out
    }

    /// A directory or manifest that cannot be read for want of privileges
    /// fails the listing: an empty list would say there is nothing there.
    private static func walk(_ dir: String, depth: Int, locks: Set<String>, into out: inout [ObjectTreeListing]) throws(BPFError) {
        let base = dir.split(separator: "/").last.map(String.init) ?? dir
        if base.hasPrefix(ObjectTreeLayout.stagingPrefix) {
            var st = stat()
            let held = lstat(dir, &st) == 0 && locks.contains(lockKey(st))
            let parent = dir.lastIndex(of: "/").map { String(dir[..<$0]) } ?? "."
            out.append(ObjectTreeListing(path: dir, state: held ? .busy : .staging,
                                         treePath: join(parent.isEmpty ? "/" : parent, String(base.dropFirst(ObjectTreeLayout.stagingPrefix.count))),
                                         manifest: nil))
            return
        }
        var st = stat()
        if lstat(join(dir, ObjectTreeLayout.manifest), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG {
            if isOurManifest(join(dir, ObjectTreeLayout.manifest)) {
                let s = ObjectTreeStatus.read(dir)
                out.append(ObjectTreeListing(path: dir, state: s.complete ? .complete : .incomplete, treePath: nil, manifest: s.manifest))
                return
            }
            try requireReadable(join(dir, ObjectTreeLayout.manifest), what: "list object trees: read \(dir)")
        }
        guard depth < 32 else { return }
        let fd: FileDescriptor
        do { fd = try openDirectory(dir) } catch {
            if error.errno == EACCES || error.errno == EPERM { throw BPFError("list object trees: read \(dir)", errno: error.errno) }
            return
        }
        guard let entries = try? directoryEntries(fd, path: dir) else { return }
        for e in entries where e.isDirectory {
            try walk(join(dir, e.name), depth: depth + 1, locks: locks, into: &out)
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
