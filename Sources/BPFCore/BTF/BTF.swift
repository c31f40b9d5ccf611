#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// BTF kinds (BTF_KIND_*).
public enum BTFKind: UInt16, Sendable {
    case unknown = 0, int, ptr, array, structure, union, enumeration, fwd, typedef, volatile, const,
         restrict, function, functionProto, variable, dataSection, float, declTag, typeTag, enum64
}

/// A member of a struct or union.
public struct BTFMember: Sendable {
    public let name: String
    public let typeID: UInt32
    /// Offset from the start of the composite, in bits.
    public let bitOffset: UInt32
    /// Bitfield width in bits, 0 when not a bitfield.
    public let bitfieldSize: UInt32
}

/// A variable of a DATASEC.
public struct BTFSectionVariable: Sendable {
    public let typeID: UInt32     // the VAR type
    public let offset: UInt32
    public let size: UInt32
}

/// An enumerator (ENUM and ENUM64).
public struct BTFEnumerator: Sendable {
    public let name: String
    /// The value's bits; read as signed when the enum is signed.
    public let rawValue: UInt64
}

/// A function parameter of a FUNC_PROTO.
public struct BTFParameter: Sendable {
    public let name: String
    public let typeID: UInt32
}

/// One BTF type, decoded from libbpf's `struct btf_type` into Swift values.
public struct BTFType: Sendable {
    public let id: UInt32
    public let kind: BTFKind
    public let name: String
    /// `size` for INT, ENUM, STRUCT, UNION, DATASEC, FLOAT, ENUM64; else 0.
    public let size: UInt32
    /// The referenced type for PTR, TYPEDEF, modifiers, FUNC, VAR, FUNC_PROTO (return), DECL_TAG.
    public let referencedType: UInt32
    public let kindFlag: Bool
    public let vlen: UInt16

    // INT
    public let intEncoding: UInt8   // BTF_INT_SIGNED = 1, CHAR = 2, BOOL = 4
    public let intBitOffset: UInt8
    public let intBits: UInt8
    // ARRAY
    public let arrayElementType: UInt32
    public let arrayIndexType: UInt32
    public let arrayCount: UInt32
    // VAR: linkage (0 static, 1 global, 2 extern)
    public let linkage: UInt32

    public let members: [BTFMember]
    public let enumerators: [BTFEnumerator]
    public let sectionVariables: [BTFSectionVariable]
    public let parameters: [BTFParameter]

    public var isSignedInt: Bool { intEncoding & 1 != 0 }
    public var isChar: Bool { intEncoding & 2 != 0 }
    public var isBool: Bool { intEncoding & 4 != 0 }
    /// ENUM/ENUM64 signedness (kind flag).
    public var isSignedEnum: Bool { kindFlag }
    public var isModifierOrTypedef: Bool {
        switch kind {
        case .typedef, .volatile, .const, .restrict, .typeTag: return true
        default: return false
        }
    }
}

/// A BTF object (`struct btf`), from the kernel by id or from an ELF file.
/// Types are decoded on first access and kept.
public final class BTF {
    let handle: OpaquePointer
    private let owned: Bool
    // Not lazy: a lazy var's subscript setter copies the whole table each time.
    private var cache: TypeIDTable<BTFType>
    /// The base BTF for split BTF (module BTF on vmlinux); kept alive here.
    private let base: BTF?
    // What a borrowed handle lives in (a BPFObject): kept alive while this is.
    private let owner: AnyObject?

    init(handle: OpaquePointer, owned: Bool, base: BTF? = nil, owner: AnyObject? = nil) {
        self.handle = handle
        self.owned = owned
        self.base = base
        self.owner = owner
        // Made on the first type() call: `prog show` reads the metadata of
        // most objects from libbpf's raw types and never decodes one.
        cache = TypeIDTable(typeCount: 0, denseLimit: 0)
    }

    private var cacheSized = false

    deinit { if owned { btf__free(handle) } }

    // MARK: loading

    nonisolated(unsafe) private static var kernelCache: [UInt32: BTF] = [:]
    nonisolated(unsafe) private static var vmlinuxCache: BTF?

    /// The BTF object with this kernel id, loaded once per run.
    /// Calls `btf__load_from_kernel_by_id` (split on vmlinux for module BTF).
    /// `cached: false` fetches it without keeping it for the rest of the run
    /// (a caller walking thousands of objects bounds its own cache; vmlinux,
    /// the base of module BTF, is still kept).
    public static func load(id: BTFID, cached: Bool = true) throws(BPFError) -> BTF {
        if let b = kernelCache[id.rawValue] { return b }
        let btf = try fetch(id)
        if cached { kernelCache[id.rawValue] = btf }
        return btf
    }

    /// One BPF_OBJ_GET_INFO_BY_FD answers whether the BTF is a module's
    /// (split BTF on top of vmlinux) and, into a buffer big enough for a
    /// program's BTF, hands over the data too, which `btf__new` parses:
    /// libbpf's btf__load_from_kernel_by_id would open the id and query it
    /// twice more (`prog show` loads one BTF per object: 3 syscalls saved
    /// each). Module BTF still goes through btf__load_from_kernel_by_id_split.
    private static func fetch(_ id: BTFID) throws(BPFError) -> BTF {
        var data: [UInt8] = []
        return try fetch(id, buffer: &data)
    }

    /// `fetch` into `data`, a buffer the caller keeps between calls (at
    /// least 16 KiB once used): `prog show` fetches one BTF object per
    /// program object, and a new 16 KiB array each time cost an allocation
    /// and, as the heap fragmented, fresh pages.
    static func fetch(_ id: BTFID, buffer data: inout [UInt8]) throws(BPFError) -> BTF {
        let fd: FileDescriptor
        do {
            fd = try Kernel.open(.btf, id: id.rawValue)
        } catch {
            throw BPFError("load BTF id \(id)", errno: error.errno)
        }
        defer { fd.close() }
        if data.count < 1 << 14 { data = [UInt8](repeating: 0, count: 1 << 14) }
        var info = bpf_btf_info()
        // The name, only to tell vmlinux from a module: 64 bytes on the stack.
        var nameBuf: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        func query() -> Int32 {
            withUnsafeMutableBytes(of: &nameBuf) { nb in
                data.withUnsafeMutableBytes { db in
                    info = bpf_btf_info()
                    info.name = UInt64(UInt(bitPattern: nb.baseAddress!))
                    info.name_len = UInt32(nb.count)
                    info.btf = UInt64(UInt(bitPattern: db.baseAddress!))
                    info.btf_size = UInt32(db.count)
                    var len = UInt32(MemoryLayout<bpf_btf_info>.size)
                    return bpf_obj_get_info_by_fd(fd.rawValue, &info, &len) == 0 ? 0 : Glibc.errno
                }
            }
        }
        var err = query()
        if err == 0 && Int(info.btf_size) > data.count {
            data = [UInt8](repeating: 0, count: Int(info.btf_size))
            err = query()
        }
        guard err == 0, Int(info.btf_size) <= data.count else {
            throw BPFError("load BTF id \(id)", errno: err == 0 ? EAGAIN : err)
        }
        let isVmlinux = withUnsafeBytes(of: &nameBuf) { nb in
            nb.count > 7 && memcmp(nb.baseAddress!, "vmlinux", 8) == 0
        }
        if info.kernel_btf != 0 && !isVmlinux {
            let base = try vmlinux()
            let p = try checkPointer(btf__load_from_kernel_by_id_split(id.rawValue, base.handle), "load BTF id \(id)")
            return BTF(handle: p, owned: true, base: base)
        }
        let p: OpaquePointer? = data.withUnsafeBytes { raw in btf__new(raw.baseAddress, info.btf_size) }
        // A module's BTF passed through here once would keep megabytes.
        if data.count > 1 << 20 { data = [] }
        return BTF(handle: try checkPointer(p, "load BTF id \(id)"), owned: true)
    }

    /// The running kernel's BTF, loaded once per run. Calls `btf__load_vmlinux_btf`.
    public static func vmlinux() throws(BPFError) -> BTF {
        if let v = vmlinuxCache { return v }
        let p = try checkPointer(btf__load_vmlinux_btf(), "load vmlinux BTF")
        let b = BTF(handle: p, owned: true)
        vmlinuxCache = b
        return b
    }

    /// BTF from an ELF object file's .BTF section. Calls `btf__parse_elf`.
    public static func parseELF(path: String) throws(BPFError) -> BTF {
        let p = try checkPointer(btf__parse_elf(path, nil), "read BTF from \(path)")
        return BTF(handle: p, owned: true)
    }

    /// BTF from raw bytes (a .BTF section). Calls `btf__new`.
    public static func parse(bytes: [UInt8]) throws(BPFError) -> BTF {
        guard let size = UInt32(exactly: bytes.count) else {
            throw BPFError("parse BTF: \(bytes.count) bytes is more than BTF can hold", errno: E2BIG)
        }
        let p: OpaquePointer? = bytes.withUnsafeBytes { raw in btf__new(raw.baseAddress, size) }
        return BTF(handle: try checkPointer(p, "parse BTF"), owned: true)
    }

    /// Wraps a `struct btf *` that lives in `owner` (e.g. a bpf_object's
    /// BTF in its BPFObject), which this keeps alive.
    static func borrowing(_ p: OpaquePointer, owner: AnyObject) -> BTF { BTF(handle: p, owned: false, owner: owner) }

    // MARK: access

    /// Number of types, including the void type 0 (and base types for split BTF).
    public var typeCount: UInt32 { btf__type_cnt(handle) }

    /// The id of the type named `name` of `kind`, if any. Calls `btf__find_by_name_kind`.
    public func find(_ name: String, kind: BTFKind) -> UInt32? {
        let r = btf__find_by_name_kind(handle, name, UInt32(kind.rawValue))
        return r > 0 ? UInt32(r) : nil
    }

    /// Size in bytes of the type (following typedefs, modifiers, arrays). Calls `btf__resolve_size`.
    public func sizeOf(_ id: UInt32) -> Int? {
        let r = btf__resolve_size(handle, id)
        return r >= 0 ? Int(r) : nil
    }

    /// Alignment of the type. Calls `btf__align_of`, once the types it would
    /// walk are known to hold no cycle and to be a bounded walk: libbpf
    /// recurses through typedefs, arrays and members without a limit or a
    /// memo, so hostile BTF (a struct holding itself, or members that share
    /// members level after level) would overflow the stack or never end.
    public func alignOf(_ id: UInt32) -> Int? {
        guard alignmentWalk(id, limit: 1 << 20) != nil else { return nil }
        let r = btf__align_of(handle, id)
        return r > 0 ? Int(r) : nil
    }

    /// How many calls btf__align_of would make for `id` (at most), or nil
    /// when the walk has a cycle or would take more than `limit` calls.
    private func alignmentWalk(_ id: UInt32, limit: Int) -> Int? {
        var memo: [UInt32: Int] = [:]
        var walking: Set<UInt32> = []
        func calls(_ id: UInt32, _ depth: Int) -> Int? {
            if let c = memo[id] { return c }
            guard depth < 512, !walking.contains(id) else { return nil }
            guard let t = type(id) else { return 1 }
            let next: [UInt32]
            switch t.kind {
            case .typedef, .volatile, .const, .restrict, .typeTag: next = [t.referencedType]
            case .array: next = [t.arrayElementType]
            case .structure, .union: next = t.members.map(\.typeID)
            default: next = []
            }
            walking.insert(id)
            defer { walking.remove(id) }
            var total = 1
            for n in next {
                guard let c = calls(n, depth + 1) else { return nil }
                total += c
                if total > limit { return nil }
            }
            memo[id] = total
            return total
        }
        return calls(id, 0)
    }

    /// The type id with typedefs and modifiers skipped.
    public func skipModifiers(_ id: UInt32) -> UInt32 {
        var cur = id
        var guardCount = 0
        while let t = type(cur), t.isModifierOrTypedef, guardCount < 64 {
            cur = t.referencedType
            guardCount += 1
        }
        return cur
    }

    /// The type with this id (id 0 is void: nil), decoded and cached.
    public func type(_ id: UInt32) -> BTFType? {
        if id == 0 { return nil }
        if !cacheSized {
            cacheSized = true
            cache = TypeIDTable(typeCount: Int(btf__type_cnt(handle)), denseLimit: 4096)
        }
        if let t = cache[id] { return t }
        guard let p = btf__type_by_id(handle, id) else { return nil }
        let t = decode(id, p)
        cache[id] = t
        return t
    }

    private func str(_ off: UInt32) -> String {
        guard let p = btf__name_by_offset(handle, off) else { return "" }
        return String(cString: p)
    }

    private func decode(_ id: UInt32, _ p: UnsafePointer<btf_type>) -> BTFType {
        let kindRaw = btf_kind(p)
        let kind = BTFKind(rawValue: kindRaw) ?? .unknown
        let vlen = btf_vlen(p)
        let kflag = btf_kflag(p)
        let name = str(p.pointee.name_off)
        let sizeOrType = p.pointee.size  // union { size; type }
        var size: UInt32 = 0, ref: UInt32 = 0
        var enc: UInt8 = 0, ioff: UInt8 = 0, ibits: UInt8 = 0
        var aElem: UInt32 = 0, aIndex: UInt32 = 0, aCount: UInt32 = 0
        var linkage: UInt32 = 0
        var members: [BTFMember] = []
        var enums: [BTFEnumerator] = []
        var secVars: [BTFSectionVariable] = []
        var params: [BTFParameter] = []
        switch kind {
        case .int:
            size = sizeOrType
            enc = btf_int_encoding(p); ioff = btf_int_offset(p); ibits = btf_int_bits(p)
        case .float:
            size = sizeOrType
        case .ptr, .typedef, .volatile, .const, .restrict, .typeTag, .function, .declTag:
            ref = sizeOrType
            if kind == .function { linkage = UInt32(vlen) }
        case .array:
            let a = btf_array(p)!
            aElem = a.pointee.type; aIndex = a.pointee.index_type; aCount = a.pointee.nelems
        case .structure, .union:
            size = sizeOrType
            let m = btf_members(p)!
            members.reserveCapacity(Int(vlen))
            for i in 0..<Int(vlen) {
                members.append(BTFMember(name: str(m[i].name_off), typeID: m[i].type,
                                         bitOffset: btf_member_bit_offset(p, UInt32(i)),
                                         bitfieldSize: btf_member_bitfield_size(p, UInt32(i))))
            }
        case .enumeration:
            size = sizeOrType
            let e = btf_enum(p)!
            for i in 0..<Int(vlen) {
                enums.append(BTFEnumerator(name: str(e[i].name_off), rawValue: UInt64(bitPattern: Int64(e[i].val))))
            }
        case .enum64:
            size = sizeOrType
            let e = btf_enum64(p)!
            for i in 0..<Int(vlen) {
                enums.append(BTFEnumerator(name: str(e[i].name_off), rawValue: btf_enum64_value(e + i)))
            }
        case .functionProto:
            ref = sizeOrType
            let ps = btf_params(p)!
            for i in 0..<Int(vlen) { params.append(BTFParameter(name: str(ps[i].name_off), typeID: ps[i].type)) }
        case .variable:
            ref = sizeOrType
            linkage = btf_var(p)!.pointee.linkage
        case .dataSection:
            size = sizeOrType
            let v = btf_var_secinfos(p)!
            for i in 0..<Int(vlen) {
                secVars.append(BTFSectionVariable(typeID: v[i].type, offset: v[i].offset, size: v[i].size))
            }
        case .fwd, .unknown:
            break
        }
        return BTFType(id: id, kind: kind, name: name, size: size, referencedType: ref, kindFlag: kflag, vlen: vlen,
                       intEncoding: enc, intBitOffset: ioff, intBits: ibits,
                       arrayElementType: aElem, arrayIndexType: aIndex, arrayCount: aCount, linkage: linkage,
                       members: members, enumerators: enums, sectionVariables: secVars, parameters: params)
    }
}
