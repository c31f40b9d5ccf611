#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// What the kernel says about a loaded program (`struct bpf_prog_info`),
/// plus what bpftool adds to it: the full name from BTF, the memlock from
/// fdinfo, and whether the program is orphaned.
public struct ProgramInfo: Sendable {
    public var id: ProgramID
    /// BPF_PROG_TYPE_* value.
    public var type: UInt32
    /// The name the kernel keeps (at most 15 characters).
    public var kernelName: String
    /// The full name: the kernel name, or, when that may be truncated, the
    /// program's function name from its BTF func_info (as bpftool shows it).
    public var name: String
    /// The 8-byte program tag.
    public var tag: [UInt8] {
        get { withUnsafeBytes(of: tagWord) { Array($0) } }
        set {
            tagWord = 0
            withUnsafeMutableBytes(of: &tagWord) { w in
                for (i, b) in newValue.prefix(8).enumerated() { w[i] = b }
            }
        }
    }
    /// The tag's 8 bytes as they lie in memory: no array per program
    /// (each array allocation looks its metadata up at run time, ~650
    /// instructions, and `prog show` reads thousands of programs).
    private var tagWord: UInt64 = 0

    /// The tag's 8 bytes as one integer, in memory order (its bytes, read
    /// with `withUnsafeBytes(of:)`, are `tag`).
    public var tagBits: UInt64 { tagWord }
    public var gplCompatible: Bool
    /// Run statistics; zero unless kernel.bpf_stats_enabled was on while it ran.
    public var runTimeNanoseconds: UInt64
    public var runCount: UInt64
    public var recursionMisses: UInt64
    /// Load time in nanoseconds since boot (CLOCK_BOOTTIME); 0 when unknown.
    public var loadTime: UInt64
    public var createdByUID: UInt32
    /// Offloaded to a device that went away (the kernel answers ENODEV).
    public var orphaned: Bool
    public var xlatedLength: UInt32
    public var jitedLength: UInt32
    /// The `memlock` line of the descriptor's fdinfo, as the kernel prints it.
    public var memlock: String?
    public var mapIDs: [MapID]
    /// The program's BTF object, nil when it has none.
    public var btfID: BTFID?
    public var ifindex: UInt32
    public var netnsDevice: UInt64
    public var netnsInode: UInt64
    public var verifiedInstructions: UInt32
    public var attachBTFObjectID: UInt32
    public var attachBTFID: UInt32
    public var funcInfoCount: UInt32
    public var funcInfoRecordSize: UInt32

    public init(id: ProgramID, type: UInt32, kernelName: String, name: String, tag: [UInt8], gplCompatible: Bool,
                runTimeNanoseconds: UInt64, runCount: UInt64, recursionMisses: UInt64, loadTime: UInt64,
                createdByUID: UInt32, orphaned: Bool, xlatedLength: UInt32, jitedLength: UInt32, memlock: String?,
                mapIDs: [MapID], btfID: BTFID?, ifindex: UInt32, netnsDevice: UInt64, netnsInode: UInt64,
                verifiedInstructions: UInt32, attachBTFObjectID: UInt32, attachBTFID: UInt32,
                funcInfoCount: UInt32, funcInfoRecordSize: UInt32) {
        self.id = id
        self.type = type
        self.kernelName = kernelName
        self.name = name
        self.gplCompatible = gplCompatible
        self.runTimeNanoseconds = runTimeNanoseconds
        self.runCount = runCount
        self.recursionMisses = recursionMisses
        self.loadTime = loadTime
        self.createdByUID = createdByUID
        self.orphaned = orphaned
        self.xlatedLength = xlatedLength
        self.jitedLength = jitedLength
        self.memlock = memlock
        self.mapIDs = mapIDs
        self.btfID = btfID
        self.ifindex = ifindex
        self.netnsDevice = netnsDevice
        self.netnsInode = netnsInode
        self.verifiedInstructions = verifiedInstructions
        self.attachBTFObjectID = attachBTFObjectID
        self.attachBTFID = attachBTFID
        self.funcInfoCount = funcInfoCount
        self.funcInfoRecordSize = funcInfoRecordSize
        self.tag = tag
    }

    /// The tag in hex, as bpftool prints it ("a1a1f24b7b8f8662").
    public var tagHex: String { hexString(tag) }

    /// libbpf's name for the program type ("tracepoint", "sched_cls", ...), nil
    /// for a type this libbpf does not know. Calls `libbpf_bpf_prog_type_str`.
    public var typeName: String? { programTypeName(type) }

    /// `loadTime` as a UNIX time in seconds (bpftool's `loaded_at`).
    public var loadedAt: Int64 { bootNanosecondsToWallClock(loadTime) }

    /// The name of the device an offloaded program lives on, when that device is
    /// in this process's network namespace (bpftool's `offloaded_to`/`ifname`).
    public var deviceName: String? {
        guard ifindex != 0 else { return nil }
        var st = stat()
        // bpftool compares the namespace's device as a 32-bit value: keep that.
        guard stat("/proc/self/ns/net", &st) == 0,
              UInt64(st.st_dev) == UInt64(UInt32(truncatingIfNeeded: netnsDevice)),
              UInt64(st.st_ino) == UInt64(UInt32(truncatingIfNeeded: netnsInode)) else { return nil }
        var buf = [CChar](repeating: 0, count: 64)
        guard if_indextoname(ifindex, &buf) != nil else { return nil }
        return String(cString: buf)
    }

    /// `memlock` as a number (bpftool's `bytes_memlock`).
    public var memlockBytes: Int64? {
        guard let memlock else { return nil }
        // The leading number, read as bytes (Int64(Substring) of a Character
        // prefix cost ~2,000 instructions a program).
        var s = memlock
        return s.withUTF8 { u -> Int64 in
            var value: Int64 = 0
            var negative = false
            var digits = 0
            var i = 0
            if u.count > 0 && u[0] == UInt8(ascii: "-") { negative = true; i = 1 }
            while i < u.count {
                let c = u[i]
                guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { break }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(c - UInt8(ascii: "0")))
                if o1 || o2 { return 0 }
                value = a
                digits += 1
                i += 1
            }
            if digits == 0 { return 0 }
            return negative ? -value : value
        }
    }
}

/// libbpf's name for a BPF_PROG_TYPE_* value. Calls `libbpf_bpf_prog_type_str`.
public func programTypeName(_ type: UInt32) -> String? {
    LibbpfNames.programType(type)
}

extension ProgramInfo {
    /// Reads the info of the program behind `fd`.
    /// Calls `bpf_prog_get_info_by_fd` (twice when the program uses more maps
    /// than a first guess, once more for the first func_info of a long name).
    static func read(fd: Int32) throws(BPFError) -> ProgramInfo {
        var info = bpf_prog_info()
        var orphaned = false
        func query(_ info: inout bpf_prog_info, _ buf: UnsafeMutableBufferPointer<UInt32>) -> Int32 {
            info = bpf_prog_info()
            var len = UInt32(MemoryLayout<bpf_prog_info>.size)
            info.nr_map_ids = UInt32(buf.count)
            info.map_ids = UInt64(UInt(bitPattern: buf.baseAddress))
            let r = bpf_prog_get_info_by_fd(fd, &info, &len)
            return r == 0 ? 0 : (r == -1 ? Glibc.errno : -r)
        }
        // The map ids land in a buffer on the stack first (a program uses a
        // few maps); only a program with more than 16 asks again on the heap.
        var mapIDs: [MapID] = []
        var err = withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { buf -> Int32 in
            let e = query(&info, buf)
            if e == 0 && Int(info.nr_map_ids) > buf.count { return e }
            let n = min(Int(info.nr_map_ids), buf.count)
            if n > 0 { mapIDs = [MapID](unsafeUninitializedCapacity: n) { out, c in
                for i in 0..<n { out[i] = MapID(buf[i]) }
                c = n
            } }
            return e
        }
        if err == 0 && Int(info.nr_map_ids) > 16 {
            var ids = [UInt32](repeating: 0, count: Int(info.nr_map_ids))
            err = ids.withUnsafeMutableBufferPointer { query(&info, $0) }
            mapIDs = ids[0..<min(Int(info.nr_map_ids), ids.count)].map { MapID($0) }
        }
        if err == ENODEV {
            orphaned = true
        } else if err != 0 {
            throw BPFError("get program info", errno: err)
        }
        let kernelName = stringFromCArray(info.name)
        var result = ProgramInfo(
            id: ProgramID(info.id), type: info.type, kernelName: kernelName, name: kernelName,
            tag: [], gplCompatible: info.gpl_compatible != 0,
            runTimeNanoseconds: info.run_time_ns, runCount: info.run_cnt, recursionMisses: info.recursion_misses,
            loadTime: info.load_time, createdByUID: info.created_by_uid, orphaned: orphaned,
            xlatedLength: info.xlated_prog_len, jitedLength: info.jited_prog_len,
            memlock: FDInfo.value(fd: fd, key: "memlock"),
            mapIDs: mapIDs,
            btfID: info.btf_id == 0 ? nil : BTFID(info.btf_id),
            ifindex: info.ifindex, netnsDevice: info.netns_dev, netnsInode: info.netns_ino,
            verifiedInstructions: info.verified_insns, attachBTFObjectID: info.attach_btf_obj_id,
            attachBTFID: info.attach_btf_id, funcInfoCount: info.nr_func_info,
            funcInfoRecordSize: info.func_info_rec_size)
        result.tagWord = withUnsafeBytes(of: info.tag) { $0.loadUnaligned(as: UInt64.self) }
        if let full = fullName(fd: fd, result) { result.name = full }
        return result
    }

    /// bpftool's get_prog_full_name: a kernel name of 15 characters may be
    /// truncated; the first func_info's BTF FUNC has the whole name.
    private static func fullName(fd: Int32, _ p: ProgramInfo) -> String? {
        guard p.kernelName.utf8.count >= Int(BPF_OBJ_NAME_LEN) - 1,
              let btfID = p.btfID, p.funcInfoCount > 0 else { return nil }
        var finfo = bpf_func_info()
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        info.nr_func_info = 1
        info.func_info_rec_size = min(p.funcInfoRecordSize, UInt32(MemoryLayout<bpf_func_info>.size))
        let r = withUnsafeMutablePointer(to: &finfo) { fp -> Int32 in
            info.func_info = UInt64(UInt(bitPattern: fp))
            return bpf_prog_get_info_by_fd(fd, &info, &len)
        }
        guard r == 0, let btf = try? BTF.load(id: BTFID(info.btf_id == 0 ? btfID.rawValue : info.btf_id)),
              let t = btf.type(finfo.type_id), t.kind == .function else { return nil }
        return t.name
    }
}

