#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// What the kernel says about one link: the header every link has and the
/// details of its type (`struct bpf_link_info`), with names resolved as
/// bpftool resolves them (interface names in this process's network
/// namespace, kernel symbols of kprobe_multi addresses).
public struct LinkInfo: Sendable {
    public var id: LinkID
    public var type: LinkType
    public var programID: ProgramID
    public var details: LinkDetails

    public init(id: LinkID, type: LinkType, programID: ProgramID, details: LinkDetails) {
        self.id = id
        self.type = type
        self.programID = programID
        self.details = details
    }
}

/// The per-type part of a link's info.
public enum LinkDetails: Sendable {
    case rawTracepoint(name: String)
    /// fentry/fexit/fmod_ret/lsm/freplace/...: the program's type is looked up by its id.
    case tracing(programType: ProgramTypeName, attachType: AttachType, targetObjectID: UInt32, targetBTFID: UInt32)
    case cgroup(cgroupID: UInt64, attachType: AttachType)
    case iterator(IteratorLink)
    case netns(inode: UInt32, attachType: AttachType)
    case xdp(NetworkInterface)
    case tcx(NetworkInterface, attachType: AttachType)
    case netkit(NetworkInterface, attachType: AttachType)
    case sockmap(mapID: MapID, attachType: AttachType)
    case netfilter(NetfilterLink)
    case structOps(mapID: MapID)
    case kprobeMulti(KprobeMultiLink)
    case uprobeMulti(UprobeMultiLink)
    case perfEvent(PerfEventLink)
    /// A type without details (or one this tool does not know).
    case none
}

/// A network device by index, with its name in this process's network namespace
/// (nil when no device there has that index; index 0 means the link is detached).
public struct NetworkInterface: Sendable, Equatable {
    public var index: UInt32
    public var name: String?

    public init(index: UInt32, name: String?) {
        self.index = index
        self.name = name
    }

    /// Looks the name up in this thread's network namespace. Calls `if_indextoname`.
    public init(index: UInt32) {
        self.index = index
        self.name = nil
        guard index != 0 else { return }
        var buf = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        if if_indextoname(index, &buf) != nil { name = String(cString: buf) }
    }
}

/// An iterator link: its target and the parameter it was created with.
public struct IteratorLink: Sendable {
    public var targetName: String
    public var parameter: Parameter

    /// What the iterator walks, when its target takes a parameter: a map, a
    /// task or process, or a cgroup and the walk order.
    public enum Parameter: Sendable, Equatable {
        /// bpf_map_elem / bpf_sk_storage_map: the map iterated.
        case map(MapID)
        /// task / task_file / task_vma: one thread, one process, or (both 0) every task.
        case task(tid: UInt32, pid: UInt32)
        /// cgroup: the start cgroup and the walk order.
        case cgroup(id: UInt64, order: CgroupIterOrder)
        case none
    }

    public init(targetName: String, parameter: Parameter) {
        self.targetName = targetName
        self.parameter = parameter
    }

    /// The targets whose iterator takes a map (bpftool's is_iter_map_target).
    static let mapTargets: Set<String> = ["bpf_map_elem", "bpf_sk_storage_map"]
    /// The targets that walk tasks (bpftool's is_iter_task_target).
    static let taskTargets: Set<String> = ["task", "task_file", "task_vma"]
}

/// `enum bpf_cgroup_iter_order`, with bpftool's names.
public struct CgroupIterOrder: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let unspecified = CgroupIterOrder(rawValue: BPF_CGROUP_ITER_ORDER_UNSPEC.rawValue)
    public static let selfOnly = CgroupIterOrder(rawValue: BPF_CGROUP_ITER_SELF_ONLY.rawValue)
    public static let descendantsPre = CgroupIterOrder(rawValue: BPF_CGROUP_ITER_DESCENDANTS_PRE.rawValue)
    public static let descendantsPost = CgroupIterOrder(rawValue: BPF_CGROUP_ITER_DESCENDANTS_POST.rawValue)
    public static let ancestorsUp = CgroupIterOrder(rawValue: BPF_CGROUP_ITER_ANCESTORS_UP.rawValue)

    public var name: String {
        switch self {
        case .unspecified: return "order_unspec"
        case .selfOnly: return "self_only"
        case .descendantsPre: return "descendants_pre"
        case .descendantsPost: return "descendants_post"
        case .ancestorsUp: return "ancestors_up"
        default: return "unknown"
        }
    }
}

/// A netfilter link: protocol family, hook, priority, flags.
public struct NetfilterLink: Sendable, Equatable {
    public var protocolFamily: UInt32
    public var hook: UInt32
    public var priority: Int32
    public var flags: UInt32

    public init(protocolFamily: UInt32, hook: UInt32, priority: Int32, flags: UInt32) {
        self.protocolFamily = protocolFamily
        self.hook = hook
        self.priority = priority
        self.flags = flags
    }

    /// The family's name as nft spells it ("ip", "ip6", "inet", ...), or nil.
    public var familyName: String? {
        switch protocolFamily {
        case 1: return "inet"      // NFPROTO_INET
        case 2: return "ip"        // NFPROTO_IPV4
        case 3: return "arp"       // NFPROTO_ARP
        case 5: return "netdev"    // NFPROTO_NETDEV
        case 7: return "bridge"    // NFPROTO_BRIDGE
        case 10: return "ip6"      // NFPROTO_IPV6
        default: return nil
        }
    }

    /// The hook's name ("input", "prerouting", ...) for families that name them, or nil.
    public var hookName: String? {
        switch protocolFamily {
        case 1, 2, 7, 10:  // inet, ip, bridge (shares the inet numbering), ip6
            let names = ["prerouting", "input", "forward", "output", "postrouting"]
            return hook < names.count ? names[Int(hook)] : nil
        case 3:            // arp
            let names = ["input", "output"]
            return hook < names.count ? names[Int(hook)] : nil
        default:
            return nil
        }
    }
}

/// A kprobe_multi link. `functions` are sorted by address and resolved against
/// /proc/kallsyms; nil when the kernel's symbols cannot be read.
public struct KprobeMultiLink: Sendable {
    /// One function of a kprobe.multi link: address, symbol, module and cookie.
    public struct Function: Sendable, Equatable {
        public var address: UInt64
        public var name: String
        /// The module, or nil for vmlinux.
        public var module: String?
        public var cookie: UInt64
        public init(address: UInt64, name: String, module: String?, cookie: UInt64) {
            self.address = address; self.name = name; self.module = module; self.cookie = cookie
        }
    }

    public var isReturnProbe: Bool
    public var count: UInt32
    public var missed: UInt64
    public var functions: [Function]?

    public init(isReturnProbe: Bool, count: UInt32, missed: UInt64, functions: [Function]?) {
        self.isReturnProbe = isReturnProbe; self.count = count; self.missed = missed; self.functions = functions
    }
}

/// An uprobe_multi link: one binary, one probe per offset.
public struct UprobeMultiLink: Sendable {
    /// One probe of a uprobe.multi link: file offset, reference counter offset and cookie.
    public struct Probe: Sendable, Equatable {
        public var offset: UInt64
        public var refCounterOffset: UInt64
        public var cookie: UInt64
        public init(offset: UInt64, refCounterOffset: UInt64, cookie: UInt64) {
            self.offset = offset; self.refCounterOffset = refCounterOffset; self.cookie = cookie
        }
    }

    public var isReturnProbe: Bool
    public var path: String
    public var count: UInt32
    /// The process the probes are limited to (0: every process).
    public var pid: UInt32
    public var probes: [Probe]

    public init(isReturnProbe: Bool, path: String, count: UInt32, pid: UInt32, probes: [Probe]) {
        self.isReturnProbe = isReturnProbe; self.path = path; self.count = count; self.pid = pid; self.probes = probes
    }
}

/// A perf_event link: what the perf event it holds probes.
public enum PerfEventLink: Sendable, Equatable {
    case tracepoint(name: String, cookie: UInt64)
    case kprobe(isReturnProbe: Bool, function: String, address: UInt64, offset: UInt32, missed: UInt64, cookie: UInt64)
    case uprobe(isReturnProbe: Bool, file: String, offset: UInt32, cookie: UInt64)
    /// A hardware/software/cache/raw/... perf event.
    case event(PerfEvent, cookie: UInt64)
    /// A perf event type this tool does not know.
    case unknown(type: UInt32)
}

/// A generic perf event: `perf_event_attr.type` and `.config`.
public struct PerfEvent: Sendable, Equatable {
    public var type: UInt32
    public var config: UInt64

    public init(type: UInt32, config: UInt64) {
        self.type = type
        self.config = config
    }

    private static let typeNames = ["hardware", "software", "tracepoint", "hw-cache", "raw", "breakpoint"]
    private static let hardwareNames = ["cpu-cycles", "instructions", "cache-references", "cache-misses",
                                       "branch-instructions", "branch-misses", "bus-cycles",
                                       "stalled-cycles-frontend", "stalled-cycles-backend", "ref-cycles"]
    private static let softwareNames = ["cpu-clock", "task-clock", "page-faults", "context-switches",
                                       "cpu-migrations", "minor-faults", "major-faults", "alignment-faults",
                                       "emulation-faults", "dummy", "bpf-output", "cgroup-switches"]
    private static let cacheNames = ["L1-dcache", "L1-icache", "LLC", "dTLB", "iTLB", "branch", "node"]
    private static let cacheOpNames = ["load", "store", "prefetch"]
    private static let cacheResultNames = ["refs", "misses"]

    private static func name(_ table: [String], _ i: UInt64) -> String? {
        i < UInt64(table.count) ? table[Int(i)] : nil
    }

    /// "hardware", "software", "hw-cache", ... (perf's names), or nil.
    public var typeName: String? { PerfEvent.name(PerfEvent.typeNames, UInt64(type)) }

    /// "cpu-clock", "L1-dcache-load-misses", ... for hardware, software and cache events, or nil.
    public var configName: String? {
        switch type {
        case 0: return PerfEvent.name(PerfEvent.hardwareNames, config)   // PERF_TYPE_HARDWARE
        case 1: return PerfEvent.name(PerfEvent.softwareNames, config)   // PERF_TYPE_SOFTWARE
        case 3:                                                          // PERF_TYPE_HW_CACHE
            let cache = config & 0xff, op = (config >> 8) & 0xff, result = config >> 16
            return (PerfEvent.name(PerfEvent.cacheNames, cache) ?? String(cache)) + "-"
                + (PerfEvent.name(PerfEvent.cacheOpNames, op) ?? String(op)) + "-"
                + (PerfEvent.name(PerfEvent.cacheResultNames, result) ?? String(result))
        default: return nil
        }
    }
}

// MARK: - Reading link info from the kernel

extension LinkInfo {
    /// Reads the info of the link behind `fd`, with the variable-length parts
    /// (names, address and offset arrays) fetched in a second call, as the
    /// kernel requires. Calls `bpf_link_get_info_by_fd`.
    public init(fd: FileDescriptor) throws(BPFError) {
        var info = bpf_link_info()
        try LinkInfo.query(fd, &info)
        let type = LinkType(rawValue: info.type)
        let details: LinkDetails

        switch type {
        case .rawTracepoint:
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
            try buf.withUnsafeMutableBufferPointer { (b) throws(BPFError) in
                info.raw_tracepoint.tp_name = pointerValue(b.baseAddress)
                info.raw_tracepoint.tp_name_len = UInt32(b.count)
                try LinkInfo.query(fd, &info)
            }
            details = .rawTracepoint(name: String(cString: buf))

        case .tracing:
            let programType = try LinkInfo.programType(ProgramID(info.prog_id), link: info.id)
            details = .tracing(programType: programType,
                               attachType: AttachType(rawValue: info.tracing.attach_type),
                               targetObjectID: info.tracing.target_obj_id,
                               targetBTFID: info.tracing.target_btf_id)

        case .cgroup:
            details = .cgroup(cgroupID: info.cgroup.cgroup_id, attachType: AttachType(rawValue: info.cgroup.attach_type))

        case .iterator:
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
            try buf.withUnsafeMutableBufferPointer { (b) throws(BPFError) in
                info.iter.target_name = pointerValue(b.baseAddress)
                info.iter.target_name_len = UInt32(b.count)
                try LinkInfo.query(fd, &info)
            }
            let target = String(cString: buf)
            let parameter: IteratorLink.Parameter
            if IteratorLink.mapTargets.contains(target) {
                parameter = .map(MapID(info.iter.map.map_id))
            } else if IteratorLink.taskTargets.contains(target) {
                parameter = .task(tid: info.iter.task.tid, pid: info.iter.task.pid)
            } else if target == "cgroup" {
                parameter = .cgroup(id: info.iter.cgroup.cgroup_id, order: CgroupIterOrder(rawValue: info.iter.cgroup.order))
            } else {
                parameter = .none
            }
            details = .iterator(IteratorLink(targetName: target, parameter: parameter))

        case .netns:
            details = .netns(inode: info.netns.netns_ino, attachType: AttachType(rawValue: info.netns.attach_type))

        case .xdp:
            details = .xdp(NetworkInterface(index: info.xdp.ifindex))

        case .tcx:
            details = .tcx(NetworkInterface(index: info.tcx.ifindex), attachType: AttachType(rawValue: info.tcx.attach_type))

        case .netkit:
            details = .netkit(NetworkInterface(index: info.netkit.ifindex), attachType: AttachType(rawValue: info.netkit.attach_type))

        case .sockmap:
            details = .sockmap(mapID: MapID(info.sockmap.map_id), attachType: AttachType(rawValue: info.sockmap.attach_type))

        case .netfilter:
            details = .netfilter(NetfilterLink(protocolFamily: info.netfilter.pf, hook: info.netfilter.hooknum,
                                               priority: info.netfilter.priority, flags: info.netfilter.flags))

        case .structOps:
            details = .structOps(mapID: MapID(info.struct_ops.map_id))

        case .kprobeMulti:
            details = .kprobeMulti(try LinkInfo.kprobeMulti(fd, &info))

        case .uprobeMulti:
            details = .uprobeMulti(try LinkInfo.uprobeMulti(fd, &info))

        case .perfEvent:
            details = .perfEvent(try LinkInfo.perfEvent(fd, &info))

        default:
            details = .none
        }
        self.init(id: LinkID(info.id), type: type, programID: ProgramID(info.prog_id), details: details)
    }

    private static func query(_ fd: FileDescriptor, _ info: inout bpf_link_info) throws(BPFError) {
        var len = UInt32(MemoryLayout<bpf_link_info>.size)
        let r = bpf_link_get_info_by_fd(fd.rawValue, &info, &len)
        if r != 0 {
            throw BPFError("get info of link", errno: r == -1 ? Glibc.errno : -r)
        }
    }

    /// The type of the program a tracing link holds (bpftool prints it for such links).
    /// Calls `bpf_prog_get_fd_by_id` and `bpf_prog_get_info_by_fd`.
    private static func programType(_ id: ProgramID, link: UInt32) throws(BPFError) -> ProgramTypeName {
        let prog = try Kernel.open(.program, id: id.rawValue)
        var info = bpf_prog_info()
        try Kernel.info(prog.rawValue, &info, what: "program \(id) of link \(link)")
        return ProgramTypeName(rawValue: info.type)
    }

    private static func kprobeMulti(_ fd: FileDescriptor, _ info: inout bpf_link_info) throws(BPFError) -> KprobeMultiLink {
        let count = Int(info.kprobe_multi.count)
        var addresses = [UInt64](repeating: 0, count: count)
        var cookies = [UInt64](repeating: 0, count: count)
        if count > 0 {
            try addresses.withUnsafeMutableBufferPointer { (a) throws(BPFError) in
                try cookies.withUnsafeMutableBufferPointer { (c) throws(BPFError) in
                    info.kprobe_multi.addrs = pointerValue(a.baseAddress)
                    info.kprobe_multi.cookies = pointerValue(c.baseAddress)
                    try query(fd, &info)
                }
            }
        }
        let isReturn = info.kprobe_multi.flags & UInt32(BPF_F_KPROBE_MULTI_RETURN) != 0
        var functions: [KprobeMultiLink.Function]? = nil
        if let symbols = KernelSymbols.load() {
            // Sorted addresses matched against the sorted symbol table in one
            // walk, as bpftool matches them.
            let sorted = zip(addresses, cookies).sorted { $0.0 < $1.0 }
            var out: [KprobeMultiLink.Function] = []
            var j = 0
            for sym in symbols.entries where j < sorted.count {
                if sym.address != sorted[j].0 { continue }
                out.append(.init(address: sym.address, name: sym.name, module: sym.module, cookie: sorted[j].1))
                j += 1
            }
            functions = out
        }
        return KprobeMultiLink(isReturnProbe: isReturn, count: info.kprobe_multi.count,
                               missed: info.kprobe_multi.missed, functions: functions)
    }

    private static func uprobeMulti(_ fd: FileDescriptor, _ info: inout bpf_link_info) throws(BPFError) -> UprobeMultiLink {
        let count = Int(info.uprobe_multi.count)
        var offsets = [UInt64](repeating: 0, count: count)
        var refs = [UInt64](repeating: 0, count: count)
        var cookies = [UInt64](repeating: 0, count: count)
        var path = [CChar](repeating: 0, count: Int(PATH_MAX))
        if count > 0 {
            try offsets.withUnsafeMutableBufferPointer { (o) throws(BPFError) in
                try refs.withUnsafeMutableBufferPointer { (r) throws(BPFError) in
                    try cookies.withUnsafeMutableBufferPointer { (c) throws(BPFError) in
                        try path.withUnsafeMutableBufferPointer { (p) throws(BPFError) in
                            info.uprobe_multi.offsets = pointerValue(o.baseAddress)
                            info.uprobe_multi.ref_ctr_offsets = pointerValue(r.baseAddress)
                            info.uprobe_multi.cookies = pointerValue(c.baseAddress)
                            info.uprobe_multi.path = pointerValue(p.baseAddress)
                            info.uprobe_multi.path_size = UInt32(p.count)
                            try query(fd, &info)
                        }
                    }
                }
            }
        }
        let probes = (0..<count).map { UprobeMultiLink.Probe(offset: offsets[$0], refCounterOffset: refs[$0], cookie: cookies[$0]) }
        let isReturn = info.uprobe_multi.flags & UInt32(BPF_F_UPROBE_MULTI_RETURN) != 0
        return UprobeMultiLink(isReturnProbe: isReturn, path: String(cString: path), count: info.uprobe_multi.count,
                               pid: info.uprobe_multi.pid, probes: probes)
    }

    private static func perfEvent(_ fd: FileDescriptor, _ info: inout bpf_link_info) throws(BPFError) -> PerfEventLink {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
        let kind = info.perf_event.type
        switch bpf_perf_event_type(rawValue: kind) {
        case BPF_PERF_EVENT_TRACEPOINT:
            try buf.withUnsafeMutableBufferPointer { (b) throws(BPFError) in
                info.perf_event.tracepoint.tp_name = pointerValue(b.baseAddress)
                info.perf_event.tracepoint.name_len = UInt32(b.count)
                try query(fd, &info)
            }
            return .tracepoint(name: String(cString: buf), cookie: info.perf_event.tracepoint.cookie)
        case BPF_PERF_EVENT_KPROBE, BPF_PERF_EVENT_KRETPROBE:
            try buf.withUnsafeMutableBufferPointer { (b) throws(BPFError) in
                info.perf_event.kprobe.func_name = pointerValue(b.baseAddress)
                info.perf_event.kprobe.name_len = UInt32(b.count)
                try query(fd, &info)
            }
            let k = info.perf_event.kprobe
            return .kprobe(isReturnProbe: kind == BPF_PERF_EVENT_KRETPROBE.rawValue, function: String(cString: buf),
                           address: k.addr, offset: k.offset, missed: k.missed, cookie: k.cookie)
        case BPF_PERF_EVENT_UPROBE, BPF_PERF_EVENT_URETPROBE:
            try buf.withUnsafeMutableBufferPointer { (b) throws(BPFError) in
                info.perf_event.uprobe.file_name = pointerValue(b.baseAddress)
                info.perf_event.uprobe.name_len = UInt32(b.count)
                try query(fd, &info)
            }
            let u = info.perf_event.uprobe
            return .uprobe(isReturnProbe: kind == BPF_PERF_EVENT_URETPROBE.rawValue, file: String(cString: buf),
                           offset: u.offset, cookie: u.cookie)
        case BPF_PERF_EVENT_EVENT:
            let e = info.perf_event.event
            return .event(PerfEvent(type: e.type, config: e.config), cookie: e.cookie)
        default:
            return .unknown(type: kind)
        }
    }
}

/// A user pointer as the bpf syscall takes it (a __u64).
@inline(__always)
private func pointerValue<T>(_ p: UnsafeMutablePointer<T>?) -> UInt64 {
    UInt64(UInt(bitPattern: p))
}
