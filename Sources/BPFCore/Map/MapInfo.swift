#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Everything the kernel says about a map: `struct bpf_map_info` plus the
/// fields only /proc/self/fdinfo carries (memlock, frozen, prog_array owner),
/// which bpftool reads the same way.
public struct MapInfo: Sendable {
    public var id: MapID
    public var type: MapType
    /// The kernel's (at most 15-character) name; empty when the map has none.
    public var name: String
    public var flags: UInt32
    public var keySize: UInt32
    public var valueSize: UInt32
    public var maxEntries: UInt32
    /// 0 when the map has no BTF.
    public var btfID: UInt32
    public var btfKeyTypeID: UInt32
    public var btfValueTypeID: UInt32
    /// For struct_ops maps: the value type in vmlinux (or module) BTF.
    public var btfVmlinuxValueTypeID: UInt32
    public var btfVmlinuxID: UInt32
    public var mapExtra: UInt64
    /// Offload device, 0 when not offloaded.
    public var ifindex: UInt32
    public var netnsDev: UInt64
    public var netnsIno: UInt64

    /// `memlock` from fdinfo, in bytes (nil when the kernel does not print it).
    public var memlock: Int64?
    /// `frozen` from fdinfo (0 when absent).
    public var frozen: Int32
    /// prog_array only: the program type and JIT state of the programs it may hold,
    /// once a program using it is loaded.
    public var ownerProgType: UInt32?
    public var ownerJited: Bool?

    /// Bytes of one element's value as the syscalls exchange it: per-CPU maps hold
    /// one 8-byte-aligned slot per possible CPU.
    public func valueBufferSize(cpus: Int) -> Int {
        type.isPerCPU ? perCPUValueStride * cpus : Int(valueSize)
    }

    /// The distance between two CPUs' values in a per-CPU value buffer.
    public var perCPUValueStride: Int { (Int(valueSize) + 7) & ~7 }

    /// A description of a map that need not exist (for renderers and tests);
    /// the fields not given are zero.
    public init(id: MapID = MapID(0), type: MapType, name: String = "", flags: UInt32 = 0,
                keySize: UInt32, valueSize: UInt32, maxEntries: UInt32 = 1) {
        self.id = id
        self.type = type
        self.name = name
        self.flags = flags
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        btfID = 0; btfKeyTypeID = 0; btfValueTypeID = 0; btfVmlinuxValueTypeID = 0; btfVmlinuxID = 0
        mapExtra = 0; ifindex = 0; netnsDev = 0; netnsIno = 0
        memlock = nil; frozen = 0; ownerProgType = nil; ownerJited = nil
    }

    /// Reads the info of the map behind `fd`.
    /// Calls `bpf_map_get_info_by_fd` and reads `/proc/self/fdinfo/FD`.
    public init(fd: FileDescriptor) throws(BPFError) {
        var raw = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        let r = bpf_map_get_info_by_fd(fd.rawValue, &raw, &len)
        if r != 0 { throw BPFError("get map info", errno: r == -1 ? Glibc.errno : -r) }
        id = MapID(raw.id)
        type = MapType(rawValue: raw.type)
        name = stringFromCArray(raw.name)
        flags = raw.map_flags
        keySize = raw.key_size
        valueSize = raw.value_size
        maxEntries = raw.max_entries
        btfID = raw.btf_id
        btfKeyTypeID = raw.btf_key_type_id
        btfValueTypeID = raw.btf_value_type_id
        btfVmlinuxValueTypeID = raw.btf_vmlinux_value_type_id
        btfVmlinuxID = raw.btf_vmlinux_id
        mapExtra = raw.map_extra
        ifindex = raw.ifindex
        netnsDev = raw.netns_dev
        netnsIno = raw.netns_ino

        let fdinfo = FDInfo(fd: fd.rawValue)
        memlock = fdinfo["memlock"].flatMap { Int64($0) }
        frozen = fdinfo["frozen"].flatMap { Int32($0) } ?? 0
        if type == .progArray {
            ownerProgType = fdinfo["owner_prog_type"].flatMap { UInt32($0) }
            ownerJited = fdinfo["owner_jited"].flatMap { Int($0) }.map { $0 != 0 }
        }
    }
}

extension MapInfo {
    /// For an offloaded map: the device's interface name, when it lives in this
    /// process's network namespace (as bpftool prints `offloaded_to NAME`).
    /// Calls `if_indextoname`.
    public var offloadDeviceName: String? {
        guard ifindex != 0 else { return nil }
        var st = stat()
        guard stat("/proc/self/ns/net", &st) == 0,
              UInt64(st.st_dev) == netnsDev, UInt64(st.st_ino) == netnsIno else { return nil }
        var buf = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(ifindex, &buf) != nil else { return nil }
        return String(cString: buf)
    }
}
