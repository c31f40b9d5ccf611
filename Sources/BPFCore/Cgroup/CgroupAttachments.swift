#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A program attached to a cgroup, as `cgroup show` lists it.
public struct CgroupProgram: Sendable, Equatable {
    public var id: UInt32
    public var attachType: AttachType
    /// "multi", "override", "" or "unknown(HEX)"; nil in effective queries.
    public var attachFlags: String?
    public var name: String
    /// The name of the kernel function (in vmlinux BTF) the program
    /// attaches to, as bpftool finds it (see `CgroupQuery`).
    public var attachBTFName: String?
    public var attachBTFObjectID: UInt32
    public var attachBTFID: UInt32
}

/// The attach types a cgroup can hold, in `enum bpf_attach_type` order
/// (the order bpftool lists them in). bpftool 7.5 asks every attach type
/// of its header, and the kernel reads a cgroup fd as an ifindex for the
/// tcx and netkit types, so bpftool may list the tcx programs of whatever
/// device has the fd's number; we ask only cgroup types.
private let cgroupAttachTypes: [bpf_attach_type] = [
    BPF_CGROUP_INET_INGRESS, BPF_CGROUP_INET_EGRESS, BPF_CGROUP_INET_SOCK_CREATE,
    BPF_CGROUP_SOCK_OPS, BPF_CGROUP_DEVICE, BPF_CGROUP_INET4_BIND, BPF_CGROUP_INET6_BIND,
    BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET6_CONNECT, BPF_CGROUP_INET4_POST_BIND,
    BPF_CGROUP_INET6_POST_BIND, BPF_CGROUP_UDP4_SENDMSG, BPF_CGROUP_UDP6_SENDMSG,
    BPF_CGROUP_SYSCTL, BPF_CGROUP_UDP4_RECVMSG, BPF_CGROUP_UDP6_RECVMSG,
    BPF_CGROUP_GETSOCKOPT, BPF_CGROUP_SETSOCKOPT, BPF_CGROUP_INET4_GETPEERNAME,
    BPF_CGROUP_INET6_GETPEERNAME, BPF_CGROUP_INET4_GETSOCKNAME, BPF_CGROUP_INET6_GETSOCKNAME,
    BPF_CGROUP_INET_SOCK_RELEASE, BPF_LSM_CGROUP,
    BPF_CGROUP_UNIX_CONNECT, BPF_CGROUP_UNIX_SENDMSG, BPF_CGROUP_UNIX_RECVMSG,
    BPF_CGROUP_UNIX_GETPEERNAME, BPF_CGROUP_UNIX_GETSOCKNAME,
].sorted { $0.rawValue < $1.rawValue }

/// Queries of the programs attached to cgroups (`bpf_prog_query_opts`),
/// keeping bpftool's state across queries: the vmlinux BTF id is learnt
/// from the first program whose attach BTF object is vmlinux, and until
/// then a program with no attach BTF object (id 0) "matches" it, so
/// bpftool prints an empty attach_btf_name for it. We print what it prints.
public final class CgroupQuery {
    public let effective: Bool
    private var vmlinux: OpaquePointer?
    private var vmlinuxID: UInt32 = 0

    public init(effective: Bool) {
        self.effective = effective
        vmlinux = libbpf_find_kernel_btf()
        if vmlinux.map({ libbpf_get_error(UnsafeRawPointer($0)) != 0 }) == true { vmlinux = nil }
    }

    deinit { if let vmlinux { btf__free(vmlinux) } }

    private var queryFlags: UInt32 { effective ? UInt32(BPF_F_QUERY_EFFECTIVE) : 0 }

    /// Opens a cgroup directory. bpftool's error text on failure.
    public static func open(_ path: String) throws(BPFError) -> FileDescriptor {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError("can't open cgroup \(path)") }
        return FileDescriptor(owning: fd)
    }

    /// Whether any program is attached (or, effective, in effect) at `cgroup`.
    public func hasPrograms(_ cgroup: FileDescriptor, path: String) throws(BPFError) -> Bool {
        for t in cgroupAttachTypes {
            var count: UInt32 = 0
            let r = bpf_prog_query(cgroup.rawValue, t, queryFlags, nil, nil, &count)
            if r != 0 {
                let e = r == -1 ? Glibc.errno : -r
                // An attach type this kernel does not know.
                if e == EINVAL { continue }
                throw BPFError("can't query bpf programs attached to \(path)", errno: e)
            }
            if count > 0 { return true }
        }
        return false
    }

    /// The programs at `cgroup`, by attach type, in attach order.
    public func programs(_ cgroup: FileDescriptor) -> [CgroupProgram] {
        var out: [CgroupProgram] = []
        for t in cgroupAttachTypes {
            let capacity = 1024
            var ids = [UInt32](repeating: 0, count: capacity), flags = ids
            let result: (count: Int, flags: UInt32)? = withLibbpfOptions(bpf_prog_query_opts.self) { opts in
                ids.withUnsafeMutableBufferPointer { ip in
                    flags.withUnsafeMutableBufferPointer { fp in
                        opts.pointee.query_flags = queryFlags
                        opts.pointee.prog_ids = ip.baseAddress
                        opts.pointee.prog_cnt = UInt32(capacity)
                        if !effective { opts.pointee.prog_attach_flags = fp.baseAddress }
                        guard bpf_prog_query_opts(cgroup.rawValue, t, opts) == 0 else { return nil }
                        return (Int(min(opts.pointee.prog_cnt, UInt32(capacity))), opts.pointee.attach_flags)
                    }
                }
            }
            guard let result else { continue }
            for i in 0..<result.count {
                var flagText: String? = nil
                if !effective {
                    let f = flags[i] != 0 ? flags[i] : result.flags
                    switch f {
                    case UInt32(BPF_F_ALLOW_MULTI): flagText = "multi"
                    case UInt32(BPF_F_ALLOW_OVERRIDE): flagText = "override"
                    case 0: flagText = ""
                    default: flagText = "unknown(\(String(f, radix: 16)))"
                    }
                }
                if let p = program(ids[i], AttachType(rawValue: t.rawValue), flagText) { out.append(p) }
            }
        }
        return out
    }

    private func program(_ id: UInt32, _ type: AttachType, _ flags: String?) -> CgroupProgram? {
        guard let p = try? Program.openIfPresent(id: ProgramID(id)) else { return nil }
        defer { p.fd.close() }
        let info = p.info
        var btfName: String? = nil
        if let vmlinux {
            if vmlinuxID == 0 { guessVmlinuxID(info.attachBTFObjectID) }
            if vmlinuxID == info.attachBTFObjectID && info.attachBTFID < btf__type_cnt(vmlinux),
               let t = btf__type_by_id(vmlinux, info.attachBTFID), let n = btf__name_by_offset(vmlinux, t.pointee.name_off) {
                btfName = String(cString: n)
            }
        }
        return CgroupProgram(id: info.id.rawValue, attachType: type, attachFlags: flags, name: info.name,
                             attachBTFName: btfName, attachBTFObjectID: info.attachBTFObjectID,
                             attachBTFID: info.attachBTFID)
    }

    /// bpftool's guess_vmlinux_btf_id: the BTF object `id` is vmlinux's if
    /// it is kernel BTF named "vmlinux".
    private func guessVmlinuxID(_ id: UInt32) {
        let fd = bpf_btf_get_fd_by_id(id)
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        var name = [CChar](repeating: 0, count: 16)
        var info = bpf_btf_info()
        var len = UInt32(MemoryLayout<bpf_btf_info>.size)
        let r: Int32 = name.withUnsafeMutableBufferPointer { buf in
            info.name = UInt64(UInt(bitPattern: buf.baseAddress))
            info.name_len = UInt32(buf.count)
            return bpf_btf_get_info_by_fd(fd, &info, &len)
        }
        guard r == 0, info.kernel_btf != 0 else { return }
        let n = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if n == "vmlinux" { vmlinuxID = info.id }
    }
}

/// Attach flags of `cgroup attach`.
public struct CgroupAttachFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let allowOverride = CgroupAttachFlags(rawValue: UInt32(BPF_F_ALLOW_OVERRIDE))
    public static let allowMulti = CgroupAttachFlags(rawValue: UInt32(BPF_F_ALLOW_MULTI))
}

public enum CgroupAttach {
    /// The attach type `word` names: a libbpf name exactly, else a prefix of
    /// bpftool's traditional names ("ingress", "sock_create", "bind4", ...).
    public static func attachType(_ word: String) -> AttachType? {
        var t: UInt32 = 0
        while let p = libbpf_bpf_attach_type_str(bpf_attach_type(rawValue: t)) {
            if String(cString: p) == word { return AttachType(rawValue: t) }
            t += 1
        }
        guard !word.isEmpty else { return nil }
        t = 0
        while let name = traditionalName(t) {
            if name.hasPrefix(word) { return AttachType(rawValue: t) }
            t += 1
        }
        return nil
    }

    /// bpftool's bpf_attach_type_input_str.
    private static func traditionalName(_ t: UInt32) -> String? {
        let names: [bpf_attach_type: String] = [
            BPF_CGROUP_INET_INGRESS: "ingress", BPF_CGROUP_INET_EGRESS: "egress",
            BPF_CGROUP_INET_SOCK_CREATE: "sock_create", BPF_CGROUP_INET_SOCK_RELEASE: "sock_release",
            BPF_CGROUP_SOCK_OPS: "sock_ops", BPF_CGROUP_DEVICE: "device",
            BPF_CGROUP_INET4_BIND: "bind4", BPF_CGROUP_INET6_BIND: "bind6",
            BPF_CGROUP_INET4_CONNECT: "connect4", BPF_CGROUP_INET6_CONNECT: "connect6",
            BPF_CGROUP_INET4_POST_BIND: "post_bind4", BPF_CGROUP_INET6_POST_BIND: "post_bind6",
            BPF_CGROUP_INET4_GETPEERNAME: "getpeername4", BPF_CGROUP_INET6_GETPEERNAME: "getpeername6",
            BPF_CGROUP_INET4_GETSOCKNAME: "getsockname4", BPF_CGROUP_INET6_GETSOCKNAME: "getsockname6",
            BPF_CGROUP_UDP4_SENDMSG: "sendmsg4", BPF_CGROUP_UDP6_SENDMSG: "sendmsg6",
            BPF_CGROUP_SYSCTL: "sysctl", BPF_CGROUP_UDP4_RECVMSG: "recvmsg4", BPF_CGROUP_UDP6_RECVMSG: "recvmsg6",
            BPF_CGROUP_GETSOCKOPT: "getsockopt", BPF_CGROUP_SETSOCKOPT: "setsockopt",
            BPF_TRACE_RAW_TP: "raw_tp", BPF_TRACE_FENTRY: "fentry", BPF_TRACE_FEXIT: "fexit",
            BPF_MODIFY_RETURN: "mod_ret", BPF_SK_REUSEPORT_SELECT: "sk_skb_reuseport_select",
            BPF_SK_REUSEPORT_SELECT_OR_MIGRATE: "sk_skb_reuseport_select_or_migrate",
        ]
        let c = bpf_attach_type(rawValue: t)
        if let n = names[c] { return n }
        return libbpf_bpf_attach_type_str(c).map { String(cString: $0) }
    }

    /// Attaches `program` to the cgroup at `path`. Calls `bpf_prog_attach`.
    public static func attach(program: FileDescriptor, cgroup: FileDescriptor, type: AttachType,
                              flags: CgroupAttachFlags) throws(BPFError) {
        let r = bpf_prog_attach(program.rawValue, cgroup.rawValue, bpf_attach_type(rawValue: type.rawValue), flags.rawValue)
        if r < 0 { throw BPFError("failed to attach program", errno: r == -1 ? Glibc.errno : -r) }
    }

    /// Detaches `program` from the cgroup. Calls `bpf_prog_detach2`.
    public static func detach(program: FileDescriptor, cgroup: FileDescriptor, type: AttachType) throws(BPFError) {
        let r = bpf_prog_detach2(program.rawValue, cgroup.rawValue, bpf_attach_type(rawValue: type.rawValue))
        if r < 0 { throw BPFError("failed to detach program", errno: r == -1 ? Glibc.errno : -r) }
    }
}

/// Walks the directories under a cgroup root as nftw(FTW_MOUNT) does: the
/// root first, then each entry in directory order, depth first, not
/// crossing onto other mounts. `body` gets each path and its depth.
public enum CgroupTree {
    /// Where the cgroup v2 hierarchy is mounted (the first cgroup2 line of /proc/mounts).
    public static func v2Mount() -> String? {
        guard let f = fopen("/proc/mounts", "r") else { return nil }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0, let line {
            // "SOURCE DIR TYPE OPTIONS ..." (DIR with spaces escaped as \040).
            let fields = String(cString: line).split(separator: " ")
            if fields.count >= 3 && fields[2] == "cgroup2" {
                return String(fields[1]).replacingOctalEscapes()
            }
        }
        return nil
    }

    public static func walk(_ root: String, _ body: (String, Int) throws -> Void) throws {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        var st = stat()
        guard stat(r, &st) == 0 else { throw BPFError("can't iterate over \(root)", errno: Glibc.errno) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return }
        try visit(r, depth: 0, device: st.st_dev, body)
    }

    private static func visit(_ path: String, depth: Int, device: UInt, _ body: (String, Int) throws -> Void) throws {
        try body(path, depth)
        guard let dir = opendir(path) else { return }
        var children: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            children.append(name)
        }
        closedir(dir)
        for name in children {
            let child = path == "/" ? "/" + name : path + "/" + name
            var st = stat()
            guard stat(child, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_dev == device else { continue }
            try visit(child, depth: depth + 1, device: device, body)
        }
    }
}

extension String {
    /// /proc/mounts escapes space, tab, newline and backslash as \\ooo.
    func replacingOctalEscapes() -> String {
        var out: [UInt8] = []
        let b = Array(utf8)
        var i = 0
        while i < b.count {
            if b[i] == 92, i + 3 < b.count + 0, i + 3 <= b.count - 1,
               let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v); i += 4
            } else {
                out.append(b[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
