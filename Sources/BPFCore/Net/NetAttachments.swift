#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A network device of the calling thread's namespace, as an RTM_GETLINK dump lists it.
public struct NetDevice: Sendable, Equatable {
    public var index: Int32
    public var name: String
    /// The XDP programs attached to it (nil: none).
    public var xdp: XDPState?
}

/// What IFLA_XDP says about a device.
public enum XDPState: Sendable, Equatable {
    /// One program, in mode "generic", "driver" or "offload".
    case single(mode: String, programID: UInt32)
    /// Several modes at once (XDP_ATTACHED_MULTI): each mode's program, in
    /// generic, driver, offload order.
    case multi([(mode: String, programID: UInt32)])

    public static func == (a: XDPState, b: XDPState) -> Bool {
        switch (a, b) {
        case let (.single(m1, p1), .single(m2, p2)): return m1 == m2 && p1 == p2
        case let (.multi(x), .multi(y)): return x.elementsEqual(y) { $0.mode == $1.mode && $0.programID == $1.programID }
        default: return false
        }
    }
}

/// A program on a device's tcx or netkit hook (bpf_prog_query_opts).
public struct MultiProgAttachment: Sendable, Equatable {
    public var device: NetDevice
    /// "tcx/ingress", "tcx/egress", "netkit/primary", "netkit/peer".
    public var location: String
    public var programID: UInt32
    /// The program's full name; nil when it has none (or is gone).
    public var programName: String?
    public var programFlags: UInt32
    /// 0 when attached without a link.
    public var linkID: UInt32
    public var linkFlags: UInt32
}

/// A classic tc filter of kind "bpf" (cls_bpf) on a device.
public struct TCFilter: Sendable, Equatable {
    public var device: NetDevice
    /// Where it hangs: the class's or qdisc's kind ("htb"), "root",
    /// "clsact/ingress" or "clsact/egress".
    public var parentKind: String
    /// TCA_BPF_NAME ("obj.bpf.o:[tc]"), TCA_BPF_ID.
    public var name: String?
    public var programID: UInt32?
    /// bpf actions (act_bpf) of the filter, when it has an action list.
    public var actions: [TCBPFAction]?
}

public struct TCBPFAction: Sendable, Equatable {
    public var name: String?
    public var programID: UInt32?
}

/// One entry of the tc section, in bpftool's order for each device:
/// tcx ingress, tcx egress, netkit primary, netkit peer, then classic filters.
public enum TCEntry: Sendable, Equatable {
    case multiProg(MultiProgAttachment)
    case filter(TCFilter)
}

/// Everything `net show` reports for the calling thread's network namespace.
public struct NetAttachments: Sendable {
    public var devices: [NetDevice]
    public var tc: [TCEntry]
    /// The namespace's flow dissector program, if any.
    public var flowDissectorProgramID: UInt32?
    /// Netfilter links (of every namespace: links are global), sorted by
    /// family, hook, priority, flags as bpftool sorts them, with their program ids.
    public var netfilter: [(hook: NetfilterLink, programID: UInt32)]

    /// Reads the attachments of the device with index `filter`, or of every
    /// device. Uses rtnetlink dumps for devices, XDP and classic tc filters,
    /// `bpf_prog_query_opts` for tcx/netkit and `bpf_prog_query` for the flow dissector.
    public static func query(interfaceIndex filter: Int32? = nil) throws(BPFError) -> NetAttachments {
        let flow = try flowDissector()
        let sock = try NetlinkSocket()
        let devices = try NetDevice.dump(sock, filter: filter)
        var tc: [TCEntry] = []
        for dev in devices {
            for loc in [AttachLocation.tcxIngress, .tcxEgress, .netkitPrimary, .netkitPeer] {
                tc += multiProg(dev, loc).map { .multiProg($0) }
            }
            // bpftool goes on with the next device when a dump fails.
            tc += TCFilter.dump(sock, dev).map { .filter($0) }
        }
        return NetAttachments(devices: devices, tc: tc, flowDissectorProgramID: flow,
                              netfilter: try netfilterLinks())
    }

    private enum AttachLocation {
        case tcxIngress, tcxEgress, netkitPrimary, netkitPeer
        var type: bpf_attach_type {
            switch self {
            case .tcxIngress: return BPF_TCX_INGRESS
            case .tcxEgress: return BPF_TCX_EGRESS
            case .netkitPrimary: return BPF_NETKIT_PRIMARY
            case .netkitPeer: return BPF_NETKIT_PEER
            }
        }
        var name: String {
            switch self {
            case .tcxIngress: return "tcx/ingress"
            case .tcxEgress: return "tcx/egress"
            case .netkitPrimary: return "netkit/primary"
            case .netkitPeer: return "netkit/peer"
            }
        }
    }

    /// The programs on one multi-program hook of `dev` (none when the
    /// hook does not exist there). Calls `bpf_prog_query_opts`.
    private static func multiProg(_ dev: NetDevice, _ loc: AttachLocation) -> [MultiProgAttachment] {
        let capacity = 64
        var progIDs = [UInt32](repeating: 0, count: capacity), progFlags = progIDs
        var linkIDs = progIDs, linkFlags = progIDs
        // Before libbpf 1.3 there is no tcx query: such a build lists no tcx/netkit programs.
        var n = UInt32(capacity)
        let r = bpfswift_prog_query_multi(dev.index, loc.type, &progIDs, &progFlags, &linkIDs, &linkFlags, &n)
        let count = r == 0 ? Int(min(n, UInt32(capacity))) : 0
        return (0..<count).map { i in
            MultiProgAttachment(device: dev, location: loc.name, programID: progIDs[i],
                                programName: programFullName(progIDs[i]), programFlags: progFlags[i],
                                linkID: linkIDs[i], linkFlags: linkFlags[i])
        }
    }

    /// A program's full name, nil when it has no name or cannot be opened.
    private static func programFullName(_ id: UInt32) -> String? {
        guard let p = try? Program.openIfPresent(id: ProgramID(id)) else { return nil }
        defer { p.fd.close() }
        return p.info.kernelName.isEmpty ? nil : p.info.name
    }

    /// The flow dissector of this thread's namespace. Kernels that cannot
    /// say (EINVAL) have none to report. Calls `bpf_prog_query`.
    private static func flowDissector() throws(BPFError) -> UInt32? {
        let fd = Glibc.open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError("can't open /proc/self/ns/net", errno: Glibc.errno) }
        defer { Glibc.close(fd) }
        var ids: [UInt32] = [0]
        var count: UInt32 = 1
        var flags: UInt32 = 0
        let r = bpf_prog_query(fd, BPF_FLOW_DISSECTOR, 0, &flags, &ids, &count)
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            if e == EINVAL { return nil }
            throw BPFError("can't query prog", errno: e)
        }
        return count == 1 ? ids[0] : nil
    }

    /// Every netfilter link, in bpftool's order.
    private static func netfilterLinks() throws(BPFError) -> [(hook: NetfilterLink, programID: UInt32)] {
        var out: [(hook: NetfilterLink, programID: UInt32)] = []
        for id in try KernelLink.ids() {
            // Links that went away since listing are skipped.
            guard let link = try? KernelLink.open(id: id), let info = try? link.info() else { continue }
            link.fd.close()
            if case .netfilter(let nf) = info.details { out.append((nf, info.programID.rawValue)) }
        }
        return out.sorted { a, b in
            let x = a.hook, y = b.hook
            if x.protocolFamily != y.protocolFamily { return x.protocolFamily < y.protocolFamily }
            if x.hook != y.hook { return x.hook < y.hook }
            if x.priority != y.priority { return x.priority < y.priority }
            return x.flags < y.flags
        }
    }
}

extension NetDevice {
    /// Every device (or the one with index `filter`) with its XDP state, in dump order.
    static func dump(_ sock: NetlinkSocket, filter: Int32?) throws(BPFError) -> [NetDevice] {
        // struct ifinfomsg { u8 family (AF_PACKET); u8 pad; u16 type; s32 index; u32 flags, change; }
        var header = [UInt8](repeating: 0, count: 16)
        header[0] = UInt8(AF_PACKET)
        var out: [NetDevice] = []
        for msg in try sock.dump(RTNetlink.getLink, header: header, what: "dump network devices") {
            guard msg.count >= 16 else { continue }
            let b = msg.startIndex
            let index = Int32(bitPattern: UInt32(msg[b + 4]) | UInt32(msg[b + 5]) << 8 | UInt32(msg[b + 6]) << 16 | UInt32(msg[b + 7]) << 24)
            if let filter, filter > 0, filter != index { continue }
            guard let attrs = NetlinkAttribute.parse(msg[(b + 16)...], max: 70) else {
                throw BPFError("dump network devices", detail: "malformed netlink attributes")
            }
            let name = attrs[3]?.string ?? ""   // IFLA_IFNAME
            out.append(NetDevice(index: index, name: name,
                                 xdp: attrs[43].flatMap(xdpState)))   // IFLA_XDP
        }
        return out
    }

    /// IFLA_XDP's nested attributes: IFLA_XDP_ATTACHED (2) says the mode,
    /// PROG_ID (4) the program, DRV/SKB/HW_PROG_ID (5/6/7) each mode's in MULTI.
    private static func xdpState(_ attr: NetlinkAttribute) -> XDPState? {
        guard let tb = attr.nested(max: 8), let attached = tb[2]?.u8 else { return nil }
        switch attached {
        case 1: return tb[4]?.u32.map { .single(mode: "driver", programID: $0) }
        case 2: return tb[4]?.u32.map { .single(mode: "generic", programID: $0) }
        case 3: return tb[4]?.u32.map { .single(mode: "offload", programID: $0) }
        case 4:
            var modes: [(mode: String, programID: UInt32)] = []
            if let id = tb[6]?.u32 { modes.append(("generic", id)) }
            if let id = tb[5]?.u32 { modes.append(("driver", id)) }
            if let id = tb[7]?.u32 { modes.append(("offload", id)) }
            return .multi(modes)
        default: return nil
        }
    }
}

extension TCFilter {
    /// The cls_bpf filters of `dev`, as bpftool walks them: under each class,
    /// each qdisc (but clsact and handle 0), then root, clsact ingress and egress.
    /// A failing dump ends the device's walk with what was found.
    static func dump(_ sock: NetlinkSocket, _ dev: NetDevice) -> [TCFilter] {
        var parents: [(kind: String, handle: UInt32)] = []
        var out: [TCFilter] = []
        do {
            for msg in try sock.dump(RTNetlink.getClass, header: tcmsg(dev.index, parent: 0), what: "dump tc classes") {
                guard let (handle, tb) = parseTC(msg) else { return out }
                parents.append((tb[1]?.string ?? "unknown", handle))
            }
            for msg in try sock.dump(RTNetlink.getQdisc, header: tcmsg(dev.index, parent: 0), what: "dump qdiscs") {
                guard let (handle, tb) = parseTC(msg) else { return out }
                if tb[1]?.string == "clsact" || handle == 0 { continue }
                parents.append((tb[1]?.string ?? "unknown", handle))
            }
            parents += [("root", 0xFFFF_FFFF), ("clsact/ingress", 0xFFFF_FFF2), ("clsact/egress", 0xFFFF_FFF3)]
            for p in parents {
                for msg in try sock.dump(RTNetlink.getFilter, header: tcmsg(dev.index, parent: p.handle), what: "dump tc filters") {
                    guard let (_, tb) = parseTC(msg) else { return out }
                    // TCA_OPTIONS (2) of a TCA_KIND (1) "bpf" filter.
                    guard let options = tb[2], tb[1]?.string == "bpf" else { continue }
                    guard let f = bpfFilter(options, dev, p.kind) else { return out }
                    out.append(f)
                }
            }
        } catch {
        }
        return out
    }

    /// struct tcmsg { u8 family; u8 pad1; u16 pad2; s32 ifindex; u32 handle, parent, info; }
    private static func tcmsg(_ index: Int32, parent: UInt32) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: index.littleEndian) { for i in 0..<4 { h[4 + i] = $0[i] } }
        withUnsafeBytes(of: parent.littleEndian) { for i in 0..<4 { h[12 + i] = $0[i] } }
        return h
    }

    private static func parseTC(_ msg: ArraySlice<UInt8>) -> (UInt32, [Int: NetlinkAttribute])? {
        guard msg.count >= 20 else { return nil }
        let b = msg.startIndex
        let handle = UInt32(msg[b + 8]) | UInt32(msg[b + 9]) << 8 | UInt32(msg[b + 10]) << 16 | UInt32(msg[b + 11]) << 24
        guard let tb = NetlinkAttribute.parse(msg[(b + 20)...], max: 20) else { return nil }
        return (handle, tb)
    }

    /// TCA_BPF_NAME (7), TCA_BPF_ID (11) and the act_bpf actions of TCA_BPF_ACT (1).
    private static func bpfFilter(_ options: NetlinkAttribute, _ dev: NetDevice, _ kind: String) -> TCFilter? {
        guard let tb = options.nested(max: 11) else { return nil }
        var f = TCFilter(device: dev, parentKind: kind, name: tb[7]?.string, programID: tb[11]?.u32, actions: nil)
        if let act = tb[1] {
            guard let prios = act.nested(max: 32) else { return nil }
            var actions: [TCBPFAction] = []
            for prio in 0...32 {
                guard let a = prios[prio] else { continue }
                // TCA_ACT_KIND (1) "bpf", TCA_ACT_OPTIONS (2) → TCA_ACT_BPF_PARMS (2), NAME (6), ID (9).
                guard let at = a.nested(max: 16) else { break }
                guard at[1]?.string == "bpf", let o = at[2] else { continue }
                guard let bt = o.nested(max: 9), bt[2] != nil else { break }
                actions.append(TCBPFAction(name: bt[6]?.string, programID: bt[9]?.u32))
            }
            f.actions = actions
        }
        return f
    }
}

/// Where `net attach` and `net detach` put a program, with bpftool's names.
public enum NetAttachType: String, CaseIterable, Sendable {
    case xdp, xdpgeneric, xdpdrv, xdpoffload
    case tcxIngress = "tcx_ingress"
    case tcxEgress = "tcx_egress"

    /// The first type whose name starts with `word` (bpftool's is_prefix).
    public init?(prefix word: String) {
        guard !word.isEmpty, let t = NetAttachType.allCases.first(where: { $0.rawValue.hasPrefix(word) }) else { return nil }
        self = t
    }
}

public enum NetAttach {
    /// Attaches `program` to the device: XDP through `bpf_xdp_attach`
    /// (failing when one is there unless `overwrite`), tcx through `bpf_prog_attach`.
    public static func attach(_ type: NetAttachType, program: FileDescriptor, interfaceIndex: Int32,
                              overwrite: Bool) throws(BPFError) {
        let r: Int32
        // The kernel's extack ("XDP program already attached"), which libbpf
        // warns and bpftool prints on a line of its own, goes into the error.
        clearLibbpfWarning()
        switch type {
        case .tcxIngress, .tcxEgress:
            r = bpf_prog_attach(program.rawValue, interfaceIndex, type == .tcxIngress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, 0)
        default:
            r = bpf_xdp_attach(interfaceIndex, program.rawValue, xdpFlags(type, overwrite: overwrite), nil)
        }
        if r < 0 {
            let code = r == -1 ? Glibc.errno : -r
            throw BPFError("interface \(type.rawValue) attach failed", errno: code, detail: takeLibbpfWarning())
        }
    }

    /// Detaches what `type` names from the device. Calls `bpf_xdp_attach`
    /// with fd -1 or `bpf_prog_detach`.
    public static func detach(_ type: NetAttachType, interfaceIndex: Int32) throws(BPFError) {
        let r: Int32
        switch type {
        case .tcxIngress, .tcxEgress:
            r = bpf_prog_detach(interfaceIndex, type == .tcxIngress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS)
        default:
            // As bpftool, which passes NULL for overwrite: UPDATE_IF_NOEXIST stays set.
            r = bpf_xdp_attach(interfaceIndex, -1, xdpFlags(type, overwrite: false), nil)
        }
        if r < 0 { throw BPFError("interface \(type.rawValue) detach failed", errno: r == -1 ? Glibc.errno : -r) }
    }

    private static func xdpFlags(_ type: NetAttachType, overwrite: Bool) -> UInt32 {
        var flags: UInt32 = overwrite ? 0 : 1        // XDP_FLAGS_UPDATE_IF_NOEXIST
        switch type {
        case .xdpgeneric: flags |= 2                 // XDP_FLAGS_SKB_MODE
        case .xdpdrv: flags |= 4                     // XDP_FLAGS_DRV_MODE
        case .xdpoffload: flags |= 8                 // XDP_FLAGS_HW_MODE
        default: break
        }
        return flags
    }
}
