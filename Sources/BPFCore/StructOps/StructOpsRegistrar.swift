#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// How `struct_ops register` treats an object file.
public struct StructOpsRegisterOptions: Sendable {
    /// Where the links of link-based maps are pinned (LINK_DIR/<map name>),
    /// on bpffs. Required when a link-based map is to be registered.
    public var linkDirectory: String?
    /// Maps whose autocreate is turned on (`?.struct_ops` variants) or off.
    public var enable: [String]
    public var disable: [String]

    public init(linkDirectory: String? = nil, enable: [String] = [], disable: [String] = []) {
        self.linkDirectory = linkDirectory
        self.enable = enable
        self.disable = disable
    }
}

/// One struct_ops map registered.
public struct StructOpsRegistration: Sendable, Equatable {
    /// The map's name in the object.
    public var mapName: String
    /// The kernel's name of the map (what bpftool prints).
    public var kernelMapName: String
    public var mapID: MapID
    /// The kernel struct it implements ("tcp_congestion_ops").
    public var structName: String
    /// For link-based maps: the link and where it is pinned.
    public var linkID: LinkID?
    public var linkPath: String?
}

/// A program of the object and whether it was loaded.
public struct StructOpsProgramState: Sendable, Equatable {
    public var name: String
    /// Its id while the object was loaded; nil when it was left unloaded
    /// (a struct_ops program that only maps not created use).
    public var id: ProgramID?
}

/// What registering an object did.
public struct StructOpsRegisterResult: Sendable {
    public var registrations: [StructOpsRegistration]
    /// Every program of the object, loaded or not.
    public var programs: [StructOpsProgramState]
    /// The struct_ops maps of the object as configured before load.
    public var plans: [StructOpsMapPlan]
}

/// `struct_ops register`: opens an object, chooses its struct_ops maps,
/// loads it and registers every struct_ops map that was created, so that
/// the registrations outlive this process.
///
/// Everything that can be refused is refused before load: an unknown
/// `--enable/--disable` map, no map to register, two maps registering the
/// same name, a link-based map without a LINK_DIR on bpffs or with its pin
/// already taken. A failure after load undoes the registrations made so far.
public enum StructOpsRegistrar {
    /// Opens the object file and registers its struct_ops maps (see the type's doc).
    /// Calls `bpf_object__open_file`.
    public static func register(objectFile path: String,
                                options: StructOpsRegisterOptions) throws(BPFError) -> StructOpsRegisterResult {
        try StructOps.requireLibbpfSupport()
        let object = try BPFObject.open(path: path)
        return try register(object: object, source: path, options: options)
    }

    /// Configures, loads and registers an opened object that is not loaded
    /// yet; the caller keeps it (its programs and maps stay inspectable).
    /// `source` names the object in messages. Calls `bpf_object__load` and
    /// `bpf_map__attach_struct_ops`.
    public static func register(object: BPFObject, source path: String,
                                options: StructOpsRegisterOptions) throws(BPFError) -> StructOpsRegisterResult {
        try StructOps.requireLibbpfSupport()
        try StructOps.select(object, enable: options.enable, disable: options.disable)
        let plans = StructOps.maps(of: object)
        let created = plans.filter(\.created)
        if created.isEmpty {
            let off = plans.map(\.name)
            throw BPFError("no struct_ops found in \(path)",
                           detail: off.isEmpty ? nil : "maps not created: \(off.joined(separator: ", ")); enable one with --enable MAP")
        }
        try StructOps.checkDistinctNames(plans)
        let linked = created.filter(\.usesLink)
        var linkDirWasMissing = false
        if !linked.isEmpty, options.linkDirectory == nil {
            throw BPFError("struct_ops map \(linked[0].name) registers through a link (.struct_ops.link) and no LINK_DIR was given to pin it in: the registration would end with this process; nothing was loaded")
        }
        // A LINK_DIR off bpffs is refused even when no map needs it.
        if let dir = options.linkDirectory {
            linkDirWasMissing = try checkLinkDirectory(dir, for: linked)
        }

        try object.load()
        // Made here, marked as bpfswift's (see BPFFSDirectory.madeLinkDirectoryMode),
        // so that `unregister` removes it again once its last link is gone.
        if linkDirWasMissing, !linked.isEmpty, let dir = options.linkDirectory {
            linkDirWasMissing = try BPFFSDirectory.make(dir, mode: BPFFSDirectory.madeLinkDirectoryMode, flag: "LINK_DIR")
        } else {
            linkDirWasMissing = false
        }

        var done: [(plan: StructOpsMapPlan, link: BPFLink, pinned: String?)] = []
        var registrations: [StructOpsRegistration] = []
        func rollBack() {
            // Destroying a link that is not disconnected unregisters: deletes the
            // element of a map without link, closes the (now unpinned) link.
            for d in done.reversed() {
                if let p = d.pinned { unlink(p) }
            }
            done.removeAll()
            if linkDirWasMissing, let dir = options.linkDirectory { rmdir(dir) }
        }
        for plan in created {
            guard let map = object.map(named: plan.name) else { continue }
            let link: BPFLink
            do {
                link = try map.attachStructOps()
            } catch {
                rollBack()
                throw BPFError("can't register struct_ops \(plan.name)", errno: error.errno, detail: error.detail)
            }
            do {
                let fd = try map.duplicateFD()
                let info = try StructOpsMap.readInfo(fd)
                let kernel = StructOpsMap(fd: fd, info: info)
                var reg = StructOpsRegistration(mapName: plan.name, kernelMapName: info.name, mapID: info.id,
                                                structName: try kernel.kernelStructName(), linkID: nil, linkPath: nil)
                var pinned: String? = nil
                if plan.usesLink, let dir = options.linkDirectory {
                    reg.linkID = try linkID(ofBorrowed: link.fd)
                    let p = join(dir, info.name)
                    try link.pin(at: p)
                    pinned = p
                    reg.linkPath = p
                }
                done.append((plan, link, pinned))
                registrations.append(reg)
            } catch {
                done.append((plan, link, nil))
                rollBack()
                throw error
            }
        }
        // Success: maps without a link stay registered after their wrapper goes
        // (disconnect); links are pinned and only their descriptors close.
        for d in done where !d.plan.usesLink { d.link.disconnect() }
        done.removeAll()

        let programs = object.programs.map { p in
            StructOpsProgramState(name: p.name, id: p.fd.flatMap { programID(ofBorrowed: $0) })
        }
        return StructOpsRegisterResult(registrations: registrations, programs: programs, plans: plans)
    }

    /// LINK_DIR must be a directory on bpffs, or a new one in a directory on
    /// bpffs (made after load); no link may be pinned there yet under a
    /// map's name. Returns whether the directory is still to be made.
    private static func checkLinkDirectory(_ dir: String, for maps: [StructOpsMapPlan]) throws(BPFError) -> Bool {
        var st = stat()
        let missing: Bool
        do {
            missing = try BPFFSDirectory.check(dir, flag: "LINK_DIR")
        } catch {
            throw BPFError(error.operation, errno: error.errno, detail: (error.detail.map { $0 + "; " } ?? "") + "nothing was loaded")
        }
        var names: [String: String] = [:]
        for m in maps {
            if let other = names[m.kernelMapName] {
                throw BPFError("maps \(other) and \(m.name) would both pin their link at \(join(dir, m.kernelMapName)) (the kernel keeps 15 characters of a map name); nothing was loaded")
            }
            names[m.kernelMapName] = m.name
        }
        if !missing {
            for m in maps {
                let p = join(dir, m.kernelMapName)
                if lstat(p, &st) == 0 {
                    throw BPFError("can't pin the link of struct_ops map \(m.name) at \(p): File exists; nothing was loaded")
                }
            }
        }
        return missing
    }

    /// Calls `bpf_link_get_info_by_fd` on a descriptor libbpf owns.
    private static func linkID(ofBorrowed fd: Int32) throws(BPFError) -> LinkID {
        var info = bpf_link_info()
        var len = UInt32(MemoryLayout<bpf_link_info>.size)
        let r = bpf_link_get_info_by_fd(fd, &info, &len)
        if r != 0 { throw BPFError("get link info", errno: r == -1 ? Glibc.errno : -r) }
        return LinkID(info.id)
    }

    /// Calls `bpf_prog_get_info_by_fd` on a descriptor libbpf owns.
    private static func programID(ofBorrowed fd: Int32) -> ProgramID? {
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        return bpf_prog_get_info_by_fd(fd, &info, &len) == 0 ? ProgramID(info.id) : nil
    }

    private static func join(_ dir: String, _ name: String) -> String {
        dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }
}
