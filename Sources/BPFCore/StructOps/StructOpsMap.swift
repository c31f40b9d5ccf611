#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// What the kernel says about a struct_ops map, with `struct bpf_map_info`
/// kept as the bytes the running kernel filled in (bpftool dumps them through
/// the kernel's own BTF type, which may be newer than our headers).
public struct StructOpsMapInfo: Sendable {
    public var id: MapID
    public var type: MapType
    /// The kernel's name of the map (at most 15 bytes).
    public var name: String
    public var flags: UInt32
    public var valueSize: UInt32
    /// The kernel's `bpf_struct_ops_<struct>` value type, in vmlinux or module BTF.
    public var btfVmlinuxValueTypeID: UInt32
    /// The BTF object that type lives in (0 on kernels that do not say).
    public var btfVmlinuxID: UInt32
    /// `struct bpf_map_info` as the kernel filled it, as long as the kernel's struct.
    public var rawInfo: [UInt8]

    /// Registered through a link (BPF_F_LINK), as maps of `.struct_ops.link` are.
    public var usesLink: Bool { flags & UInt32(BPF_F_LINK) != 0 }
}

/// A struct_ops map in the kernel, held open: found by id or by name, shown,
/// dumped and unregistered as bpftool's `struct_ops` commands do.
public final class StructOpsMap {
    public let fd: FileDescriptor
    public let info: StructOpsMapInfo

    init(fd: FileDescriptor, info: StructOpsMapInfo) {
        self.fd = fd
        self.info = info
    }

    /// Bytes of the running kernel's `struct bpf_map_info` (from vmlinux
    /// BTF), at least our headers' size.
    nonisolated(unsafe) private static var infoSize: Int?
    static func mapInfoSize() throws(BPFError) -> Int {
        if let n = infoSize { return n }
        let vmlinux = try BTF.vmlinux()
        let kernel = vmlinux.find("bpf_map_info", kind: .structure).flatMap { vmlinux.type($0) }.map { Int($0.size) } ?? 0
        let n = max(kernel, MemoryLayout<bpf_map_info>.size)
        infoSize = n
        return n
    }

    /// Reads the info of the map behind `fd` into a buffer of the kernel's size.
    /// Calls `bpf_map_get_info_by_fd`.
    static func readInfo(_ fd: FileDescriptor) throws(BPFError) -> StructOpsMapInfo {
        let size = try mapInfoSize()
        var raw = [UInt8](repeating: 0, count: size)
        var len = UInt32(size)
        let r = raw.withUnsafeMutableBytes { buf in
            bpf_map_get_info_by_fd(fd.rawValue, buf.baseAddress!.assumingMemoryBound(to: bpf_map_info.self), &len)
        }
        if r != 0 { throw BPFError("can't get map info", errno: r == -1 ? Glibc.errno : -r) }
        // Bytes past what the kernel filled stay zero, as in bpftool's calloc'd buffer.
        let info: bpf_map_info = raw.withUnsafeBytes { buf in
            var i = bpf_map_info()
            withUnsafeMutableBytes(of: &i) { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: buf[0..<min(buf.count, dst.count)]))
            }
            return i
        }
        return StructOpsMapInfo(id: MapID(info.id), type: MapType(rawValue: info.type), name: stringFromCArray(info.name),
                                flags: info.map_flags, valueSize: info.value_size,
                                btfVmlinuxValueTypeID: info.btf_vmlinux_value_type_id,
                                btfVmlinuxID: info.btf_vmlinux_id, rawInfo: raw)
    }

    /// The struct_ops map with this id; any other map is an error, worded as
    /// bpftool words it. Calls `bpf_map_get_fd_by_id`, `bpf_map_get_info_by_fd`.
    public static func open(id: MapID) throws(BPFError) -> StructOpsMap {
        let fd = bpf_map_get_fd_by_id(id.rawValue)
        if fd < 0 {
            throw BPFError("can't get map by id (\(id))", errno: fd == -1 ? Glibc.errno : -fd)
        }
        let owned = FileDescriptor(owning: fd)
        let info = try readInfo(owned)
        if info.type != .structOps {
            throw BPFError("\(info.name) id \(info.id) is not a struct_ops map")
        }
        return StructOpsMap(fd: owned, info: info)
    }

    /// Every struct_ops map, or those whose kernel name is `name`, in id
    /// order. Maps that go away while listing are skipped.
    /// Calls `bpf_map_get_next_id`, `bpf_map_get_fd_by_id`, `bpf_map_get_info_by_fd`.
    public static func all(named name: String? = nil) throws(BPFError) -> [StructOpsMap] {
        var out: [StructOpsMap] = []
        for id in try Kernel.ids(.map) {
            let fd = bpf_map_get_fd_by_id(id)
            if fd < 0 {
                let e = fd == -1 ? Glibc.errno : -fd
                if e == ENOENT { continue }
                throw BPFError("can't get map by id (\(id))", errno: e)
            }
            let owned = FileDescriptor(owning: fd)
            let info = try readInfo(owned)
            guard info.type == .structOps, name == nil || info.name == name else { continue }
            out.append(StructOpsMap(fd: owned, info: info))
        }
        return out
    }

    // MARK: the kernel's types

    /// The BTF that holds the map's value type: vmlinux, or the module's
    /// split BTF for a struct_ops type a module defines (bpftool 7.5 looks
    /// only in vmlinux). Calls `btf__load_vmlinux_btf` / `btf__load_from_kernel_by_id_split`.
    public func valueBTF() throws(BPFError) -> BTF {
        let vmlinux = try BTF.vmlinux()
        // Split BTF numbers its types after vmlinux's: a larger id lives in a module.
        if info.btfVmlinuxID == 0 || info.btfVmlinuxValueTypeID < vmlinux.typeCount { return vmlinux }
        return try BTF.load(id: BTFID(info.btfVmlinuxID))
    }

    /// The kernel struct the map implements ("tcp_congestion_ops"): its value
    /// type's name without bpftool's "bpf_struct_ops_" prefix.
    public func kernelStructName() throws(BPFError) -> String {
        guard let t = try valueBTF().type(info.btfVmlinuxValueTypeID) else {
            throw BPFError("struct_ops map \(info.name) id \(info.id): value type \(info.btfVmlinuxValueTypeID) is not in the kernel's BTF", errno: ENOENT)
        }
        return t.name.hasPrefix(StructOpsMap.valuePrefix) ? String(t.name.dropFirst(StructOpsMap.valuePrefix.count)) : t.name
    }

    static let valuePrefix = "bpf_struct_ops_"

    // MARK: the value

    /// The map's one value (`struct bpf_struct_ops_<name>`), where the kernel
    /// reports the programs behind function pointers by id.
    /// Calls `bpf_map_lookup_elem` with key 0.
    public func value() throws(BPFError) -> [UInt8] {
        var key: UInt32 = 0
        var value = [UInt8](repeating: 0, count: Int(info.valueSize))
        let r = value.withUnsafeMutableBytes { bpf_map_lookup_elem(fd.rawValue, &key, $0.baseAddress) }
        if r != 0 {
            throw BPFError("can't lookup struct_ops map \(info.name) id \(info.id)", errno: r == -1 ? Glibc.errno : -r)
        }
        return value
    }

    // MARK: unregistering

    /// What `unregister` undid.
    public struct Unregistration: Sendable {
        /// The struct_ops links detached (link-based maps).
        public var detachedLinks: [LinkID]
        /// Pins of those links that were removed.
        public var removedPins: [String]
    }

    /// Unregisters the map. A map registered without a link loses its one
    /// element, as bpftool does (the kernel then unregisters it). A
    /// link-based map, whose element the kernel will not delete, is
    /// unregistered by detaching every struct_ops link that holds it; the
    /// pins of those links, now defunct, are removed.
    /// Calls `bpf_map_delete_elem`, or `bpf_link_get_info_by_fd` and `bpf_link_detach`.
    public func unregister(structName: String) throws(BPFError) -> Unregistration {
        let what = "can't unload \(structName) \(info.name) id \(info.id)"
        guard info.usesLink else {
            var key: UInt32 = 0
            let r = bpf_map_delete_elem(fd.rawValue, &key)
            if r != 0 { throw BPFError(what, errno: r == -1 ? Glibc.errno : -r) }
            return Unregistration(detachedLinks: [], removedPins: [])
        }
        var links: [KernelLink] = []
        for link in try KernelLink.openAll() {
            // The raw info only: resolving other link types' details (symbols, devices) is not needed here.
            var raw = bpf_link_info()
            var len = UInt32(MemoryLayout<bpf_link_info>.size)
            guard bpf_link_get_info_by_fd(link.fd.rawValue, &raw, &len) == 0,
                  raw.type == BPF_LINK_TYPE_STRUCT_OPS.rawValue, raw.struct_ops.map_id == info.id.rawValue else { continue }
            links.append(link)
        }
        if links.isEmpty {
            throw BPFError(what + ": no struct_ops link holds it (it is not registered)", errno: ENOENT)
        }
        var result = Unregistration(detachedLinks: [], removedPins: [])
        for link in links {
            let id = try link.id()
            do {
                try link.detach()
            } catch {
                throw BPFError(what + ": detach link \(id)", errno: error.errno)
            }
            result.detachedLinks.append(id)
        }
        let pins = PinnedIndex()
        for id in result.detachedLinks {
            for path in pins.paths(.link, id: id.rawValue) where unlink(path) == 0 {
                result.removedPins.append(path)
            }
        }
        // A LINK_DIR that `register` made goes with its last link.
        for dir in Set(result.removedPins.map { parentDirectory(of: $0) }) {
            BPFFSDirectory.removeMadeLinkDirectoryIfEmpty(dir)
        }
        return result
    }
}
