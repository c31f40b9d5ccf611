#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// What the kernel says about a loaded BTF object (`struct bpf_btf_info`).
public struct BTFInfo: Sendable {
    public let id: BTFID
    /// Size of the raw BTF data in bytes.
    public let size: UInt32
    /// "vmlinux" or the module's name for kernel BTF; the name a loader gave, or "".
    public let name: String
    /// True for the kernel's own BTF (vmlinux and modules).
    public let isKernel: Bool

    /// Reads the info of an open BTF descriptor, name included.
    /// Calls `bpf_btf_get_info_by_fd`.
    public static func read(fd: FileDescriptor) throws(BPFError) -> BTFInfo {
        var info = bpf_btf_info()
        var nameBuf = [CChar](repeating: 0, count: 64)
        let r: Int32 = nameBuf.withUnsafeMutableBufferPointer { buf in
            info.name = UInt64(UInt(bitPattern: buf.baseAddress!))
            info.name_len = UInt32(buf.count)
            var len = UInt32(MemoryLayout<bpf_btf_info>.size)
            return bpf_btf_get_info_by_fd(fd.rawValue, &info, &len)
        }
        _ = try check(r, "get BTF object info")
        nameBuf[nameBuf.count - 1] = 0
        return BTFInfo(id: BTFID(info.id), size: info.btf_size,
                       name: String(decoding: nameBuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                       isKernel: info.kernel_btf != 0)
    }

    /// The BTF object with this id. Calls `bpf_btf_get_fd_by_id`.
    public static func read(id: BTFID) throws(BPFError) -> BTFInfo {
        let fd = try Kernel.open(.btf, id: id.rawValue)
        defer { fd.close() }
        return try read(fd: fd)
    }

    /// Every loaded BTF object in id order; those gone since listed are skipped.
    /// Calls `bpf_btf_get_next_id` and `bpf_btf_get_fd_by_id`.
    public static func all() throws(BPFError) -> [BTFInfo] {
        var out: [BTFInfo] = []
        for id in try Kernel.ids(.btf) {
            do {
                out.append(try read(id: BTFID(id)))
            } catch {
                if error.errno == ENOENT { continue }
                throw error
            }
        }
        return out
    }

    /// True for module BTF (kernel BTF that is not vmlinux): split BTF on vmlinux.
    public var isModule: Bool { isKernel && name != "vmlinux" }
}

extension BTF {
    /// BTF from a file (raw BTF such as /sys/kernel/btf/NAME, or an ELF
    /// object's .BTF), on top of `base` for split BTF. A file under
    /// /sys/kernel/btf/ other than vmlinux is module BTF and gets the running
    /// kernel's BTF as its base unless one is given, as bpftool does.
    /// Calls `btf__parse_split` (`btf__parse` for vmlinux).
    public static func parse(path: String, base: BTF? = nil) throws(BPFError) -> BTF {
        var base = base
        if base == nil, path.hasPrefix("/sys/kernel/btf/"), path != "/sys/kernel/btf/vmlinux" {
            let p = try checkPointer(btf__parse("/sys/kernel/btf/vmlinux", nil), "read vmlinux BTF at /sys/kernel/btf/vmlinux")
            base = BTF(handle: p, owned: true)
        }
        let p = try checkPointer(btf__parse_split(path, base?.handle), "read BTF from \(path)")
        return BTF(handle: p, owned: true, base: base)
    }

    /// The first type id that belongs to this BTF itself: 1, or the type
    /// count of the base for split BTF. Calls `btf__base_btf`.
    public var firstOwnTypeID: UInt32 {
        guard let base = btf__base_btf(handle) else { return 1 }
        return btf__type_cnt(base)
    }

    /// The name at `nameOffset` as bpftool prints it: "(anon)" for none,
    /// "(invalid)" for an offset outside the strings.
    func displayName(offset: UInt32) -> String {
        if offset == 0 { return "(anon)" }
        guard let p = btf__name_by_offset(handle, offset) else { return "(invalid)" }
        return String(cString: p)
    }

    /// One type as `btf dump ... format raw` describes it: the raw fields of
    /// `struct btf_type` and what follows it, names resolved. Type 0 is void
    /// (kind UNKNOWN). nil for an id beyond the last type.
    /// Calls `btf__type_by_id`.
    public func rawType(id: UInt32) -> BTFRawType? {
        guard let t = btf__type_by_id(handle, id) else { return nil }
        let kind = btf_kind(t)
        let vlen = Int(btf_vlen(t))
        let kflag = btf_kflag(t)
        var r = BTFRawType(id: id, kind: kind, name: displayName(offset: t.pointee.name_off),
                           sizeOrType: t.pointee.size, vlen: vlen, kindFlag: kflag)
        switch kind {
        case BTFKind.int.rawValue:
            let v = UnsafeRawPointer(t + 1).loadUnaligned(as: UInt32.self)
            r.intEncoding = UInt8((v & 0x0f00_0000) >> 24)
            r.intOffset = (v & 0x00ff_0000) >> 16
            r.intBits = v & 0xff
        case BTFKind.array.rawValue:
            let a = btf_array(t)!
            r.arrayType = a.pointee.type; r.arrayIndexType = a.pointee.index_type; r.arrayCount = a.pointee.nelems
        case BTFKind.structure.rawValue, BTFKind.union.rawValue:
            let m = btf_members(t)!
            for i in 0..<vlen {
                // bpftool reads offsets as bitfield-encoded only when kflag is set.
                let off = kflag ? m[i].offset & 0xff_ffff : m[i].offset
                let bits = kflag ? m[i].offset >> 24 : 0
                r.members.append(.init(name: displayName(offset: m[i].name_off), typeID: m[i].type,
                                       bitOffset: off, bitfieldSize: bits))
            }
        case BTFKind.enumeration.rawValue:
            let e = btf_enum(t)!
            for i in 0..<vlen {
                r.enumerators.append(.init(name: displayName(offset: e[i].name_off),
                                           value: UInt64(bitPattern: Int64(e[i].val))))
            }
        case BTFKind.enum64.rawValue:
            let e = btf_enum64(t)!
            for i in 0..<vlen {
                r.enumerators.append(.init(name: displayName(offset: e[i].name_off),
                                           value: UInt64(e[i].val_hi32) << 32 | UInt64(e[i].val_lo32)))
            }
        case BTFKind.functionProto.rawValue:
            let p = btf_params(t)!
            for i in 0..<vlen {
                r.members.append(.init(name: displayName(offset: p[i].name_off), typeID: p[i].type,
                                       bitOffset: 0, bitfieldSize: 0))
            }
        case BTFKind.variable.rawValue:
            r.linkage = btf_var(t)!.pointee.linkage
        case BTFKind.dataSection.rawValue:
            let v = btf_var_secinfos(t)!
            let count = btf__type_cnt(handle)
            for i in 0..<vlen {
                var s = BTFRawType.SectionVariable(typeID: v[i].type, offset: v[i].offset, size: v[i].size)
                if v[i].type < count, let vt = btf__type_by_id(handle, v[i].type) {
                    s.kind = btf_kind(vt)
                    s.name = displayName(offset: vt.pointee.name_off)
                }
                r.sectionVariables.append(s)
            }
        case BTFKind.declTag.rawValue:
            r.componentIndex = btf_decl_tag(t)!.pointee.component_idx
        default:
            break
        }
        return r
    }
}

/// One BTF type's raw fields, for `btf dump ... format raw`.
public struct BTFRawType: Sendable {
    public struct Member: Sendable {
        public let name: String
        public let typeID: UInt32
        public let bitOffset: UInt32
        public let bitfieldSize: UInt32
    }
    public struct Enumerator: Sendable {
        public let name: String
        /// The value's bits (ENUM's 32-bit value sign-extended, as bpftool widens it).
        public let value: UInt64
    }
    public struct SectionVariable: Sendable {
        public let typeID: UInt32
        public let offset: UInt32
        public let size: UInt32
        /// The kind and name of `typeID`, when it is a valid id.
        public var kind: UInt16?
        public var name: String?
    }

    public let id: UInt32
    /// BTF_KIND_* (may be beyond the kinds this libbpf knows).
    public let kind: UInt16
    public let name: String
    /// `size` or `type`, by kind.
    public let sizeOrType: UInt32
    public let vlen: Int
    public let kindFlag: Bool
    public var intEncoding: UInt8 = 0
    public var intOffset: UInt32 = 0
    public var intBits: UInt32 = 0
    public var arrayType: UInt32 = 0
    public var arrayIndexType: UInt32 = 0
    public var arrayCount: UInt32 = 0
    /// STRUCT/UNION members, or FUNC_PROTO parameters (name and type only).
    public var members: [Member] = []
    public var enumerators: [Enumerator] = []
    public var sectionVariables: [SectionVariable] = []
    public var linkage: UInt32 = 0
    public var componentIndex: Int32 = 0
}
