#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Where `KernelLink.attach` attaches a loaded program: the hooks that need
/// a target (a cgroup, a namespace, a device, a map, a perf event) that
/// libbpf cannot infer from the program's section name.
public enum AttachTarget {
    /// A cgroup v2 directory, with the cgroup attach type (cgroup_sysctl, cgroup_inet_ingress, ...).
    case cgroup(path: String, AttachType)
    /// A network namespace file (/proc/PID/ns/net, /run/netns/NAME): sk_lookup, flow_dissector.
    case networkNamespace(path: String, AttachType)
    /// XDP on a device of the calling thread's network namespace.
    case xdp(interfaceIndex: UInt32)
    /// tcx ingress or egress on a device of the calling thread's network namespace.
    case tcx(interfaceIndex: UInt32, AttachType)
    /// A netfilter hook of the calling thread's network namespace.
    case netfilter(NetfilterLink)
    /// An iterator (read it by pinning the link and reading the pin).
    case iterator(IteratorTarget)
    /// An open perf event (perf_event_open), with the cookie bpf_get_attach_cookie returns.
    case perfEvent(FileDescriptor, cookie: UInt64)
    /// A sockmap/sockhash, with sk_skb_stream_verdict, sk_skb_verdict or sk_msg_verdict.
    case sockmap(FileDescriptor, AttachType)
}

/// What an iterator link walks.
public enum IteratorTarget {
    /// Whatever the program's target walks, unrestricted.
    case all
    /// The elements of one map (bpf_map_elem, bpf_sk_storage_map).
    case map(FileDescriptor)
    /// The threads of one process (task, task_file, task_vma).
    case process(pid: UInt32)
    /// One thread.
    case thread(tid: UInt32)
    /// cgroups from the one at `path`, in `order`.
    case cgroup(path: String, order: CgroupIterOrder)
}

extension KernelLink {
    /// Attaches a loaded program (`program` is its descriptor) to `target` and
    /// returns the new link; the link detaches when the last descriptor and pin
    /// go. Calls `bpf_link_create`.
    public static func attach(program: FileDescriptor, to target: AttachTarget) throws(BPFError) -> KernelLink {
        try withLibbpfOptions(bpf_link_create_opts.self) { (opts) throws(BPFError) -> KernelLink in
            var targetFD: Int32 = 0
            var ownedTarget: FileDescriptor? = nil
            defer { ownedTarget?.close() }
            let attachType: AttachType
            var iterInfo = bpf_iter_link_info()
            var useIterInfo = false
            let what: String

            switch target {
            case .cgroup(let path, let type):
                ownedTarget = try openDirectory(path, what: "cgroup")
                targetFD = ownedTarget!.rawValue
                attachType = type
                what = "cgroup \(path)"
            case .networkNamespace(let path, let type):
                ownedTarget = try openFile(path, what: "network namespace")
                targetFD = ownedTarget!.rawValue
                attachType = type
                what = "network namespace \(path)"
            case .xdp(let index):
                targetFD = Int32(bitPattern: index)
                attachType = .xdp
                what = "interface \(index)"
            case .tcx(let index, let type):
                targetFD = Int32(bitPattern: index)
                attachType = type
                what = "interface \(index)"
            case .netfilter(let nf):
                attachType = .netfilter
                try LibbpfVersion.require(1, 3, for: "a netfilter link")
                _ = bpfswift_link_create_opts_set_netfilter(opts, nf.protocolFamily, nf.hook, nf.priority, nf.flags)
                what = "netfilter hook \(nf.familyName ?? String(nf.protocolFamily)) \(nf.hookName ?? String(nf.hook))"
            case .iterator(let it):
                attachType = .traceIter
                switch it {
                case .all:
                    what = "iterator"
                case .map(let map):
                    iterInfo.map.map_fd = UInt32(bitPattern: map.rawValue)
                    useIterInfo = true
                    what = "iterator of map fd \(map.rawValue)"
                case .process(let pid):
                    iterInfo.task.pid = pid
                    useIterInfo = true
                    what = "iterator of process \(pid)"
                case .thread(let tid):
                    iterInfo.task.tid = tid
                    useIterInfo = true
                    what = "iterator of thread \(tid)"
                case .cgroup(let path, let order):
                    ownedTarget = try openDirectory(path, what: "cgroup")
                    iterInfo.cgroup.cgroup_fd = UInt32(bitPattern: ownedTarget!.rawValue)
                    iterInfo.cgroup.order = bpf_cgroup_iter_order(rawValue: order.rawValue)
                    useIterInfo = true
                    what = "iterator of cgroup \(path)"
                }
            case .perfEvent(let event, let cookie):
                targetFD = event.rawValue
                attachType = .perfEvent
                opts.pointee.perf_event.bpf_cookie = cookie
                what = "perf event fd \(event.rawValue)"
            case .sockmap(let map, let type):
                targetFD = map.rawValue
                attachType = type
                what = "sockmap fd \(map.rawValue)"
            }

            let fd: Int32 = withUnsafeMutablePointer(to: &iterInfo) { info in
                if useIterInfo {
                    opts.pointee.iter_info = info
                    opts.pointee.iter_info_len = UInt32(MemoryLayout<bpf_iter_link_info>.size)
                }
                return bpf_link_create(program.rawValue, targetFD, bpf_attach_type(rawValue: attachType.rawValue), opts)
            }
            if fd < 0 {
                throw BPFError("attach program (fd \(program.rawValue)) to \(what) as \(attachType)",
                               errno: fd == -1 ? Glibc.errno : -fd)
            }
            return KernelLink(fd: FileDescriptor(owning: fd))
    
        }
    }

    private static func openDirectory(_ path: String, what: String) throws(BPFError) -> FileDescriptor {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw BPFError("open \(what) \(path)", errno: Glibc.errno) }
        return FileDescriptor(owning: fd)
    }

    private static func openFile(_ path: String, what: String) throws(BPFError) -> FileDescriptor {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw BPFError("open \(what) \(path)", errno: Glibc.errno) }
        return FileDescriptor(owning: fd)
    }
}
