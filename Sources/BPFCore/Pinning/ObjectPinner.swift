#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A map name and a pinned file (`--map NAME=PINNED_FILE`, `--pin-map NAME=FILE`).
public struct MapPinAssignment: Equatable, Sendable {
    public var map: String
    public var file: String
    /// `map` is the map's name in the object, `file` a path on bpffs.
    public init(map: String, file: String) {
        self.map = map
        self.file = file
    }
}

/// How `object pin` loads and publishes an object.
public struct ObjectPinOptions: Sendable {
    /// Attach every program libbpf can attach from its section name, and register struct_ops maps.
    public var attach = false
    /// libbpf's pin_root_path for LIBBPF_PIN_BY_NAME maps (default /sys/fs/bpf).
    public var pinRoot: String?
    /// Maps to create (autocreate on) or not (off) before load.
    public var enable: [String] = []
    public var disable: [String] = []
    /// Swap a different object's tree at PATH for the new one.
    public var replace = false
    /// Maps that reuse an existing pinned map.
    public var reuseMaps: [MapPinAssignment] = []
    /// Maps whose pin path is set before load (pinned there, or reused from there).
    public var pinMaps: [MapPinAssignment] = []
    /// Programs attached to a target their section cannot name (`--attach-to PROG=TARGET`).
    public var attachTo: [ProgramAttachSpec] = []
    /// Hand the loaded object's and links' descriptors to the caller in
    /// `ObjectPinResult.descriptors` instead of closing them before `pin`
    /// returns (see `LoadedObjectDescriptors`). Does not shape the tree.
    public var keepDescriptors = false

    /// No attach, libbpf's pin root, no map settings, no replace.
    public init() {}

    /// The default pin root of libbpf.
    public static let defaultPinRoot = "/sys/fs/bpf"

    /// The options that shape the tree, in a canonical form: re-pinning the
    /// same file with the same fingerprint is a no-op.
    public var fingerprint: String {
        // Concatenated by hand: the first generic `joined(separator:)` of a
        // run costs a runtime witness lookup, and every pin builds this.
        func list(_ items: [String]) -> String {
            var s = ""
            for (i, item) in items.sorted().enumerated() { if i > 0 { s += "," }; s += item }
            return s
        }
        var f = "attach=\(attach ? 1 : 0);pin_root=\(pinRoot ?? Self.defaultPinRoot)"
        if !enable.isEmpty { f += ";enable=" + list(enable) }
        if !disable.isEmpty { f += ";disable=" + list(disable) }
        if !reuseMaps.isEmpty { f += ";map=" + list(reuseMaps.map { "\($0.map)=\($0.file)" }) }
        if !pinMaps.isEmpty { f += ";pin_map=" + list(pinMaps.map { "\($0.map)=\($0.file)" }) }
        if !attachTo.isEmpty { f += ";attach_to=" + list(attachTo.map(\.description)) }
        return f
    }
}

/// What `object pin` did.
public enum ObjectPinOutcome: String, Sendable {
    /// A new tree was published at PATH.
    case pinned
    /// PATH already held this object file, pinned with the same options: nothing changed.
    case unchanged
    /// A different tree at PATH was swapped out and removed.
    case replaced
}

/// What `ObjectPinner.pin` did: the outcome, the tree's path and manifest, and
/// the manifest of the tree it replaced.
public struct ObjectPinResult: Sendable {
    public var outcome: ObjectPinOutcome
    public var path: String
    public var manifest: ObjectManifest
    /// The tree that was replaced, for `.replaced`.
    public var previous: ObjectManifest?
    /// With `ObjectPinOptions.keepDescriptors`, the descriptors of the
    /// object this run loaded and of the links it made, still open (nil
    /// when it loaded nothing: `.unchanged`, or a skeleton's object). The
    /// tree's pins hold the kernel objects; these are only descriptors,
    /// closed when the last copy of this goes away. Without it, `pin` has
    /// closed them before it returns.
    public var descriptors: LoadedObjectDescriptors?
}

/// The descriptors an `object pin` run holds once its tree is published:
/// libbpf's object (a descriptor per map, program and BTF) and the link
/// wrappers. Closing them changes nothing in the kernel (every object is
/// pinned), but costs one close(2) each, and after `--attach` each of those
/// syscalls also runs every program attached to a syscall tracepoint. A
/// process that exits right after can keep this until then: exit closes
/// them without a syscall each.
public final class LoadedObjectDescriptors: @unchecked Sendable {
    let object: BPFObject
    let links: [BPFLink]
    /// The manifest map's descriptor, links/ and the tree's parent directory.
    let others: [AnyObject]

    init(object: BPFObject, links: [BPFLink], others: [AnyObject]) {
        self.object = object
        self.links = links
        self.others = others
    }
}

/// `object pin`: loads an object file and publishes all of it as one tree
/// on bpffs, atomically (see SPEC `object`).
///
/// The tree is built in PARENT/bpfswift_staging_NAME (claimed with flock,
/// made by this run or left by a killed one, never someone else's), then
/// renamed into place with RENAME_NOREPLACE, or swapped with RENAME_EXCHANGE
/// for `--replace`. Every step works through directory descriptors
/// (`TreeDirectory`); directories are 0700 and pins 0600, owned by the
/// caller, whatever the umask.
///
/// Order, and what a SIGKILL at each point leaves (a caught signal or a
/// failure rolls back everything instead):
/// - up to `attach`: the staging directory with maps and programs; links
///   exist only as this process's descriptors and die with it.
/// - `manifest`: the manifest pinned in staging (it records the links).
/// - `pin-links` (last before publishing): links pinned in staging, so the
///   programs run; `object list` shows the directory as "staging", and the
///   next `object pin` or `object unpin` of PATH takes it apart.
/// - `publish-shared`: new by-name maps pinned at their shared place, a
///   second pin kept in staging/shared/: cleaning the leftover unpins them.
/// - `publish`/`exchange`: one rename; after it the tree is whole at PATH.
public enum ObjectPinner {
    /// Checks a PATH for `object pin`: not a staging name, in a parent
    /// others cannot swap our entries in, and not inside another tree.
    static func checkTarget(_ tree: TreePath, _ path: String) throws(BPFError) {
        if tree.isStagingName {
            throw BPFError("pin object at \(path)", errno: EINVAL, detail: "names starting with \(ObjectTreeLayout.stagingPrefix) are reserved for staging")
        }
        try tree.requireSafeParent(what: "pin object at")
        if let outer = tree.enclosingTree() {
            throw BPFError("pin object at \(path)", errno: EINVAL, detail: "it is inside the object tree \(outer); pin it elsewhere")
        }
    }

    /// Opens `objectFile`, configures it from `options`, loads it, attaches it with
    /// `options.attach`, and publishes the tree at `path` (`bpfswift object pin`).
    /// Re-pinning the same file with the same options is `.unchanged`; a different
    /// tree at `path` needs `options.replace`. Throws after rolling back everything
    /// this call made. Calls `bpf_object__open_mem` (on the bytes it hashed),
    /// `bpf_object__load`, `bpf_program__attach`, `bpf_map__attach_struct_ops`,
    /// `bpf_obj_pin` and `bpf_link__pin`.
    public static func pin(objectFile: String, at path: String, options: ObjectPinOptions) throws(BPFError) -> ObjectPinResult {
        // --pin-root: refused off bpffs even when no map ends up pinned there;
        // made when missing (as libbpf makes a pin path's parent), and removed
        // again when this run leaves nothing in it.
        if let root = options.pinRoot, try BPFFSDirectory.check(root, flag: "--pin-root"),
           try BPFFSDirectory.make(root, flag: "--pin-root") {
            defer { rmdir(root) }
            return try pin(objectFile: objectFile, at: path, options: options)
        }
        let steps = StepGuard()
        defer { steps.finish() }
        let tree = try TreePath(path, what: "pin object \(objectFile) at")
        try checkTarget(tree, path)
        let bytes = try readELFFileBytes(objectFile)
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        let sha = BackgroundDigest(bytes)
        defer { sha.wait() }
        let fingerprint = options.fingerprint

        let claim = try StagingClaim.claim(tree, purpose: "pin object at")
        let run = PinRun(tree: tree, claim: claim, steps: steps)
        do throws(BPFError) {
            try steps.check("lock")
            // What is at PATH now decides between publish, no-op, replace and refusal.
            var previous: ObjectManifest?
            switch try tree.entry() {
            case .missing:
                break
            case .symlink:
                throw BPFError("pin object at \(path)", errno: EEXIST, detail: "it is a symbolic link; refusing to replace it")
            case .pin, .other:
                throw BPFError("pin object at \(path)", errno: EEXIST, detail: "it exists and is not a directory")
            case .directory:
                let status = ObjectTreeStatus.read(try tree.open(what: "pin object at"), path: tree.path)
                guard let m = status.manifest else {
                    throw BPFError("pin object at \(path)", errno: EEXIST, detail: "it exists and is not an object tree (no readable \(ObjectTreeLayout.manifest))")
                }
                if status.complete && m.sha256 == sha.value && m.options == fingerprint {
                    claim.removeAndRelease()
                    return ObjectPinResult(outcome: .unchanged, path: tree.path, manifest: m, previous: nil)
                }
                guard options.replace else {
                    let why: String
                    if m.sha256 != sha.value { why = "it holds object \(m.objectName) (sha256 \(m.sha256.prefix(12))…), not this file" }
                    else if !status.complete { why = "it holds this object but the tree is incomplete" }
                    else { why = "it holds this object pinned with other options (\(m.options))" }
                    throw BPFError("pin object at \(path)", errno: EEXIST, detail: "\(why); use --replace to swap it")
                }
                previous = m
                run.previous = m
            }
            let manifest = try run.build(objectFile: objectFile, bytes: bytes, sha: sha, options: options, fingerprint: fingerprint)
            try run.publish(replacing: previous != nil)
            let descriptors = run.commit()
            return ObjectPinResult(outcome: previous == nil ? .pinned : .replaced, path: tree.path,
                                   manifest: manifest, previous: previous,
                                   descriptors: options.keepDescriptors ? descriptors : nil)
        } catch {
            run.rollback()
            throw error
        }
    }
}

extension ObjectPinner {
    /// Publishes an object that is already loaded (a skeleton's) as the same
    /// tree `object pin` writes at `path`: maps, programs, the manifest, and
    /// with `links` (what its own attach made, by program or struct_ops map
    /// name) links/ and attach=1, as `object pin --attach` would. Fails when
    /// `path` exists. On success the links are disconnected: the pins hold
    /// the attachments from then on. `file` is recorded as the source.
    public static func pin(loaded obj: BPFObject, bytes: [UInt8], file: String, pinRoot: String?,
                           links: [(name: String, link: BPFLink)]?, at path: String,
                           replace: Bool = false) throws(BPFError) -> ObjectPinResult {
        guard obj.isLoaded else { throw BPFError("pin object \(obj.name) at \(path): not loaded", errno: EINVAL) }
        let steps = StepGuard()
        defer { steps.finish() }
        let tree = try TreePath(path, what: "pin object \(obj.name) at")
        try checkTarget(tree, path)
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        var options = ObjectPinOptions()
        options.attach = links != nil
        options.pinRoot = pinRoot
        let claim = try StagingClaim.claim(tree, purpose: "pin object at")
        let run = PinRun(tree: tree, claim: claim, steps: steps)
        do throws(BPFError) {
            // With `replace`, an object tree at PATH is swapped out as `object pin --replace` does.
            var previous: ObjectManifest?
            switch try tree.entry() {
            case .missing: break
            case .directory where replace:
                guard let m = ObjectTreeStatus.read(try tree.open(what: "pin object at"), path: tree.path).manifest else {
                    throw BPFError("pin object \(obj.name) at \(path)", errno: EEXIST,
                                   detail: "it exists and is not an object tree (no readable \(ObjectTreeLayout.manifest))")
                }
                previous = m
                run.previous = m
            default:
                throw BPFError("pin object \(obj.name) at \(path)", errno: EEXIST, detail: replace ? "it is not a directory" : nil)
            }
            for m in obj.maps { run.declaredNames[m.handle] = m.name }
            // libbpf pinned or reused maps pinned by name itself at load.
            var shared: [String: String] = [:]
            for m in obj.maps where m.isPinned { if let p = m.pinPath { shared[m.name] = p } }
            let start = ObjectManifest(sha256: SHA256.hexDigest(bytes), objectName: obj.name, file: file,
                                       options: options.fingerprint, attach: options.attach, pinnedAt: Int64(time(nil)))
            let manifest = try run.pinTree(obj, manifest: start, attachment: links.map { .existing($0) } ?? .none,
                                           shared: shared, newShared: [:], reused: [:])
            try run.publish(replacing: previous != nil)
            _ = run.commit()  // the object and its links are the skeleton's
            return ObjectPinResult(outcome: previous == nil ? .pinned : .replaced, path: tree.path, manifest: manifest, previous: previous)
        } catch {
            run.rollback()
            throw error
        }
    }
}

/// The state of one `object pin` run: what it made, so that it can be undone.
private final class PinRun {
    let tree: TreePath
    let claim: StagingClaim
    let steps: StepGuard
    var object: BPFObject?
    /// Links made by this run, by pin name. Destroyed (detached) on rollback, disconnected on commit.
    var links: [(name: String, link: BPFLink)] = []
    /// Links pinned but made by someone else (a skeleton): left attached on
    /// rollback; the tree then holds the attachment.
    var borrowed: [(name: String, link: BPFLink)] = []
    /// Links that are struct_ops maps registered without a BPF link: destroying them would unregister.
    var holdsMap: Set<String> = []
    /// Shared pins waiting to be published: (map fd, final path, map id).
    var pendingShared: [(fd: Int32, path: String, id: UInt32, map: String)] = []
    /// Shared pins published by this run: (path, map id).
    var publishedShared: [(path: String, id: UInt32)] = []
    /// The old tree's directory, locked while it is swapped out.
    var oldTree: TreeDirectory?
    /// The manifest of the tree being replaced.
    var previous: ObjectManifest?
    var exchanged = false
    var published = false
    /// Whether this run made staging/shared/ (new shared pins).
    var madeSharedDir = false
    /// Descriptors done with but left open for the caller (see `LoadedObjectDescriptors`).
    var kept: [AnyObject] = []
    /// `--attach-to` targets by program name, and whether the other programs
    /// attach from their sections (`--attach`).
    var attachTo: [String: ProgramAttachTarget] = [:]
    var attachBySection = true

    /// Checks that every `--attach-to` program exists and sets what its
    /// target needs before load.
    private func prepareAttachTo(_ obj: BPFObject, _ options: ObjectPinOptions) throws(BPFError) {
        attachBySection = options.attach
        for spec in options.attachTo {
            guard let p = obj.programs.first(where: { $0.name == spec.program }) else {
                let names = obj.programs.map(\.name).joined(separator: ", ")
                throw BPFError("--attach-to \(spec.program)", errno: ENOENT, detail: "object \(obj.name) has no program of that name (programs: \(names))")
            }
            if attachTo[spec.program] != nil {
                throw BPFError("--attach-to \(spec.program)", errno: EINVAL, detail: "the program is given more than once")
            }
            try p.prepare(for: spec.target)
            attachTo[spec.program] = spec.target
        }
    }

    init(tree: TreePath, claim: StagingClaim, steps: StepGuard) {
        self.tree = tree
        self.claim = claim
        self.steps = steps
    }

    var staging: TreeDirectory { claim.dir }

    /// Map names as the object declares them: `bpf_map__reuse_fd` renames a
    /// map after the map it reuses, but the tree names maps as the object does.
    var declaredNames: [OpaquePointer: String] = [:]

    func name(_ m: ObjectMap) -> String { declaredNames[m.handle] ?? m.name }

    private func find(_ obj: BPFObject, _ wanted: String, _ flag: String) throws(BPFError) -> ObjectMap {
        let maps = obj.maps
        if let m = maps.first(where: { name($0) == wanted }) { return m }
        if let m = maps.first(where: { ObjectTreeLayout.pinName(forMap: name($0)) == wanted }) { return m }
        let names = maps.map { name($0) }.joined(separator: ", ")
        throw BPFError("\(flag) \(wanted)", errno: ENOENT, detail: "object \(obj.name) has no map of that name (maps: \(names))")
    }

    /// Opens, configures, loads, pins, attaches and records: everything but publishing.
    func build(objectFile: String, bytes: [UInt8], sha: BackgroundDigest, options: ObjectPinOptions,
               fingerprint: String) throws(BPFError) -> ObjectManifest {
        let obj: BPFObject
        do {
            obj = try BPFObject.open(bytes: bytes, options: ObjectOpenOptions(pinRoot: options.pinRoot,
                                                                           objectName: objectStem(objectFile)))
        } catch {
            var detail = error.detail
            if let d = detail, d.contains("invalid pinning value") {
                detail = (d.hasSuffix(".") ? String(d.dropLast()) : d) + "; expected LIBBPF_PIN_NONE (0) or LIBBPF_PIN_BY_NAME (1)"
            }
            throw BPFError("open BPF object \(objectFile)", errno: error.errno, detail: detail)
        }
        object = obj
        for m in obj.maps { declaredNames[m.handle] = m.name }
        try steps.check("open")

        // Per-map settings between open and load.
        for name in options.enable { try find(obj, name, "--enable").setAutocreate(true) }
        for name in options.disable { try find(obj, name, "--disable").setAutocreate(false) }
        try prepareAttachTo(obj, options)
        // --attach registers the struct_ops maps: a selection in which two of them
        // register the same name is refused before anything loads.
        if options.attach { try StructOps.checkDistinctNames(StructOps.maps(of: obj)) }
        var reused: [String: String] = [:]
        for a in options.reuseMaps {
            let m = try find(obj, a.map, "--map")
            let fd = try Kernel.openPinned(a.file, as: .map)
            try m.reuse(fd)
            try m.setPinPath(nil)
            reused[name(m)] = a.file
        }
        for a in options.pinMaps {
            let m = try find(obj, a.map, "--pin-map")
            if reused[name(m)] != nil { throw BPFError("--pin-map \(a.map)", errno: EINVAL, detail: "the map is also given with --map") }
            try m.setPinPath(a.file)
        }
        // Pinning by name (LIBBPF_PIN_BY_NAME, or --pin-map): reuse what is
        // pinned after checking that it fits, else create and pin it later.
        var shared: [String: String] = [:]
        var newShared: [String: String] = [:]
        for m in obj.maps where m.autocreate {
            guard let p = m.pinPath else { continue }
            let fd: FileDescriptor
            do {
                fd = try Kernel.openPinned(p)
            } catch where error.errno == ENOENT {
                let dir = p.lastIndex(of: "/").map { String(p[..<$0]) } ?? "."
                guard Kernel.isOnBPFFS(dir.isEmpty ? "/" : dir) else {
                    throw BPFError("map \(name(m))", errno: EINVAL, detail: "cannot pin it at \(p): \(dir) is not a directory on bpffs")
                }
                try m.setPinPath(nil)
                newShared[name(m)] = p
                continue
            }
            guard Kernel.kind(of: fd) == .map else {
                throw BPFError("map \(name(m))", errno: EINVAL, detail: "\(p) is pinned but holds a \(Kernel.kind(of: fd)?.noun ?? "non-BPF object"), not a map")
            }
            if let why = try m.reuseMismatch(with: fd) {
                throw BPFError("map \(name(m))", errno: EINVAL, detail: "cannot reuse the map pinned at \(p): \(why); nothing was changed")
            }
            try m.reuse(fd)
            try m.setPinPath(nil)
            shared[name(m)] = p
        }
        try steps.check("configure")

        try obj.load()
        try steps.check("load")

        let manifest = ObjectManifest(sha256: sha.value, objectName: obj.name, file: absolutePath(objectFile),
                                      options: fingerprint, attach: options.attach, pinnedAt: Int64(time(nil)))
        return try pinTree(obj, manifest: manifest, attachment: options.attach || !options.attachTo.isEmpty ? .attachNow : .none,
                           shared: shared, newShared: newShared, reused: reused)
    }

    /// Where the links of a tree come from.
    enum Attachment {
        /// None: `object pin` without --attach.
        case none
        /// Attach now, as `object pin --attach` does.
        case attachNow
        /// Links someone else made (a skeleton's `attach()`), by pin name: pinned, not owned.
        case existing([(name: String, link: BPFLink)])
    }

    /// Pins a loaded object's maps, programs and links into staging and
    /// writes the manifest: the tree, ready to publish.
    func pinTree(_ obj: BPFObject, manifest start: ObjectManifest, attachment: Attachment,
                 shared: [String: String], newShared: [String: String], reused: [String: String]) throws(BPFError) -> ObjectManifest {
        var manifest = start
        // Both entry points (pin(objectFile:) and pin(loaded:)) hold umask 077
        // from before the claim until they return.
        staging.ownerOnlyUmask = true
        let mapsDir = try staging.makeDirectory(ObjectTreeLayout.mapsDir)
        let progsDir = try staging.makeDirectory(ObjectTreeLayout.programsDir)
        var sharedDir: TreeDirectory?
        var sharedIndex = 0
        for m in obj.maps where m.autocreate {
            // libbpf gives every map a placeholder fd at open: only maps it created count.
            guard let fd = m.fd else { continue }
            let pinName = ObjectTreeLayout.pinName(forMap: name(m))
            try mapsDir.pin(fd, as: pinName, what: "map \(name(m))")
            let info = try PinnedObjectSummary.describe(fd: fd, as: .map)
            if let p = newShared[name(m)] {
                // A second pin in staging/shared/: a killed run's leftover then
                // tells which shared pins it published (see StagingClaim.removeLeftover).
                if sharedDir == nil {
                    sharedDir = try staging.makeDirectory(ObjectTreeLayout.sharedDir)
                    madeSharedDir = true
                }
                try sharedDir!.pin(fd, as: "m\(sharedIndex)", what: "map \(name(m))")
                sharedIndex += 1
                pendingShared.append((fd, p, info.id, name(m)))
            }
            manifest.maps.append(ObjectManifest.Map(pinName: pinName, name: name(m), id: info.id, type: info.typeName,
                                                    sharedPin: shared[name(m)] ?? newShared[name(m)],
                                                    reusedPin: reused[name(m)]))
        }
        try steps.check("pin-maps")

        var programIndex: [String: Int] = [:]
        for p in obj.programs {
            guard let fd = p.fd else { continue }
            // bpf_obj_pin directly: bpf_program__pin would statfs and mkdir the directory for each program.
            guard isPlainName(p.name) else {
                throw BPFError("pin program \(p.name)", errno: EINVAL, detail: "its name cannot be one pin name on bpffs")
            }
            try progsDir.pin(fd, as: p.name, what: "program \(p.name)")
            let info = try PinnedObjectSummary.describe(fd: fd, as: .program)
            programIndex[p.name] = manifest.programs.count
            manifest.programs.append(ObjectManifest.Program(name: p.name, id: info.id, type: info.typeName,
                                                            section: p.sectionName, link: nil, notAttached: nil))
        }
        try steps.check("pin-programs")
        // Closed now, not at the end of this function: with --attach every
        // syscall after the first attach also runs the programs attached.
        mapsDir.fd.close()
        progsDir.fd.close()
        sharedDir?.fd.close()

        if case .none = attachment { return try finishManifest(manifest) }
        // Once a program is attached it runs on this process's own syscalls
        // too (a program on sys_enter runs at every one): the links directory
        // is made before the first attach, and each link is described right
        // after it is made, while fewer programs run, rather than all of them
        // afterwards (the 100-program object made 100 of its syscalls with
        // all 100 programs running).
        let linksDir = try staging.makeDirectory(ObjectTreeLayout.linksDir)
        var linkInfo: [String: PinnedObjectSummary] = [:]
        func described(_ name: String, _ link: BPFLink) throws(BPFError) -> PinnedObjectSummary {
            if let i = linkInfo[name] { return i }
            let i = try PinnedObjectSummary.describe(fd: link.fd, as: holdsMap.contains(name) ? .map : .link)
            linkInfo[name] = i
            return i
        }
        var existing: [String: BPFLink] = [:]
        if case .existing(let l) = attachment {
            for (n, link) in l { existing[n] = link }
            borrowed = l
        }
        // A struct_ops map registered without a link: libbpf's "link" fd is the map's,
        // whoever attached it.
        for m in obj.maps where m.isStructOps && m.autocreate && !m.registersWithLink { holdsMap.insert(name(m)) }

        for p in obj.programs where p.fd != nil {
            let i = programIndex[p.name]!
            if let target = attachTo[p.name] {
                links.append((p.name, try p.attach(to: target, scratch: staging.path)))
                _ = try described(p.name, links[links.count - 1].1)
                manifest.programs[i].link = p.name
                continue
            }
            // --attach-to alone attaches only the programs it names.
            if !attachBySection { continue }
            if p.isStructOps {
                manifest.programs[i].notAttached = "struct_ops program: it runs through its struct_ops map"
                continue
            }
            if !p.autoattach {
                manifest.programs[i].notAttached = "auto-attach is off for this program"
                continue
            }
            if case .existing = attachment {
                if existing[p.name] != nil {
                    manifest.programs[i].link = p.name
                } else {
                    manifest.programs[i].notAttached = "section \(p.sectionName) gives libbpf no attach target"
                }
                continue
            }
            do {
                links.append((p.name, try p.attach()))
                _ = try described(p.name, links[links.count - 1].1)
                manifest.programs[i].link = p.name
            } catch where error.errno == EOPNOTSUPP || error.errno == ESRCH {
                manifest.programs[i].notAttached = "section \(p.sectionName) gives libbpf no attach target"
            }
        }
        if case .attachNow = attachment, attachBySection {
            for m in obj.maps where m.isStructOps && m.autocreate && m.fd != nil {
                links.append((name(m), try m.attachStructOps()))
                _ = try described(name(m), links[links.count - 1].1)
            }
        }
        try steps.check("attach")

        // Record the links (their ids are known before they are pinned), write
        // the manifest, and pin the links last: until then a SIGKILL detaches
        // them with this process's descriptors.
        for (name, link) in links + borrowed {
            let isProgram = programIndex[name] != nil && manifest.programs[programIndex[name]!].link == name
            let info = try described(name, link)
            let type = info.kind == .map ? "struct_ops_map" : info.typeName
            manifest.links.append(ObjectManifest.Link(pinName: name, id: info.id, type: type,
                                                      program: isProgram ? name : nil,
                                                      structOpsMap: isProgram ? nil : name))
        }
        manifest = try finishManifest(manifest)
        for (name, link) in links + borrowed {
            try linksDir.pin(link.fd, as: name, what: "link \(name)")
        }
        kept.append(linksDir)
        try steps.check("pin-links")
        return manifest
    }

    private func finishManifest(_ manifest: ObjectManifest) throws(BPFError) -> ObjectManifest {
        if let why = manifest.invalidity() {
            throw BPFError("write the object manifest", errno: EINVAL, detail: why)
        }
        let fd = try manifest.createMap()
        kept.append(fd)
        try staging.pin(fd.rawValue, as: ObjectTreeLayout.manifest, what: "object manifest")
        try steps.check("manifest")
        return manifest
    }

    /// Publishes new shared pins, then the tree.
    func publish(replacing: Bool) throws(BPFError) {
        let parent = tree.parent
        for sp in pendingShared {
            do {
                try pinFD(sp.fd, at: sp.path, what: "map \(sp.map)")
            } catch where error.errno == EEXIST {
                throw BPFError("map \(sp.map): \(sp.path) was pinned by someone else while this object loaded; nothing was changed, try again",
                               errno: EEXIST)
            }
            publishedShared.append((sp.path, sp.id))
        }
        // With nothing published in between, one look for a signal serves both steps.
        try steps.check("publish-shared", then: "publish")
        if !replacing {
            do {
                try parent.rename(claim.name, to: tree.base, flags: renameNoReplace, what: "publish object tree at \(tree.path)")
            } catch where error.errno == EEXIST || error.errno == ENOTEMPTY {
                throw BPFError("publish object tree at \(tree.path): something appeared there meanwhile; nothing was changed",
                               errno: EEXIST)
            }
            published = true
            return
        }
        // Hold the old tree's directory so that, once swapped to the staging
        // name, no other run mistakes it for a leftover.
        let old = try tree.open(what: "replace object tree")
        if flock(old.fd.rawValue, LOCK_EX) != 0 { throw BPFError("lock \(tree.path)", errno: Glibc.errno) }
        oldTree = old
        try parent.rename(claim.name, to: tree.base, flags: renameExchange, what: "swap the new object tree into \(tree.path)")
        exchanged = true
        try steps.check("exchange")
    }

    /// After publishing: links stay attached through their pins; a replaced
    /// tree is taken apart. Returns the loaded object and the links this run
    /// made, for the caller to close (see `LoadedObjectDescriptors`).
    func commit() -> LoadedObjectDescriptors? {
        // A pinned link outlives our descriptor: destroying the wrapper just closes it
        // (disconnecting would leak it). A struct_ops map registered without a link
        // is the exception: libbpf's detach for it unregisters the map. The same
        // holds for links a skeleton made and lent us.
        for (name, l) in links + borrowed where holdsMap.contains(name) { l.disconnect() }
        let descriptors = object.map { LoadedObjectDescriptors(object: $0, links: links.map(\.link), others: kept + [tree.parent]) }
        kept = []
        links = []
        borrowed = []
        // The extra pins of new shared maps were only there for a killed run's cleanup.
        if madeSharedDir, case .directory = (try? staging.entry(ObjectTreeLayout.sharedDir)) ?? .missing,
           let shared = try? staging.directory(ObjectTreeLayout.sharedDir) {
            try? shared.removeContents(structOps: .none)
            try? staging.removeDirectory(ObjectTreeLayout.sharedDir)
        }
        if exchanged, let old = oldTree {
            // The old tree is at the staging name now; its links detach as their pins go.
            if case .directory = (try? old.entry(ObjectTreeLayout.sharedDir)) ?? .missing,
               let shared = try? old.directory(ObjectTreeLayout.sharedDir) {
                try? shared.removeContents(structOps: .none)
                try? old.removeDirectory(ObjectTreeLayout.sharedDir)
            }
            try? old.removeContents(structOps: .recorded(previous?.links ?? []))
            if tree.parent.holds(old, at: claim.name) { try? tree.parent.removeDirectory(claim.name) }
            oldTree = nil
        }
        claim.release()
        object = nil
        return descriptors
    }

    /// Undoes everything this run made, in reverse.
    func rollback() {
        if exchanged {
            if (try? tree.parent.rename(claim.name, to: tree.base, flags: renameExchange, what: "")) != nil { exchanged = false }
        }
        oldTree = nil
        if published {
            // Nothing after publishing can fail today; keep the invariant anyway.
            return
        }
        links = []  // bpf_link__destroy: detaches (and unregisters struct_ops maps registered without a link)
        // Borrowed links stay with their owner: unpin them before the staging
        // tree goes, which would unregister struct_ops maps pinned under links/.
        if let linksDir = try? staging.directory(ObjectTreeLayout.linksDir) {
            for (n, _) in borrowed { try? linksDir.unlink(n) }
        }
        borrowed = []
        try? staging.removeContents(structOps: .none)
        claim.removeAndRelease()
        for s in publishedShared {
            if let info = try? PinnedObjectSummary.describe(pinnedAt: s.path), info.kind == .map, info.id == s.id {
                _ = unlink(s.path)
            }
        }
        object = nil
    }
}

/// libbpf's object name for a file: the base name up to its first '.'.
func objectStem(_ path: String) -> String {
    let base = path.split(separator: "/").last.map(String.init) ?? path
    return String(base.prefix { $0 != "." })
}

/// The absolute form of `path` (realpath), or `path` itself when that fails.
func absolutePath(_ path: String) -> String {
    guard let p = realpath(path, nil) else { return path }
    defer { free(p) }
    return String(cString: p)
}
