#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// How `struct_ops dump` decodes a map, as bpftool does: the kernel's
/// `struct bpf_map_info` and the value by the kernel's BTF, where a function
/// pointer of the value holds a program id and prints as the pointer's C
/// signature, the program's name and its id
/// (`"u32 (struct sock *) my_ssthresh/prog_id:42"`).
///
/// One per run: dumpers and signatures are made once per BTF and type.
public final class StructOpsDumpFormat {
    /// vmlinux BTF and its `struct bpf_map_info`.
    public let vmlinux: BTF
    public let mapInfoTypeID: UInt32
    /// Formats `struct bpf_map_info` and values whose type lives in vmlinux.
    public private(set) var vmlinuxDumper: BTFDumper!
    private var moduleDumpers: [ObjectIdentifier: BTFDumper] = [:]
    private var signatures: [ObjectIdentifier: [UInt32: String?]] = [:]
    private var programNames: [UInt32: String?] = [:]

    /// Loads vmlinux BTF and finds `struct bpf_map_info` in it. Calls `btf__load_vmlinux_btf`.
    public init() throws(BPFError) {
        vmlinux = try BTF.vmlinux()
        guard let id = vmlinux.find("bpf_map_info", kind: .structure) else {
            throw BPFError("can't find bpf_map_info from btf_vmlinux", errno: ENOENT)
        }
        mapInfoTypeID = id
        vmlinuxDumper = makeDumper(vmlinux)
    }

    private func makeDumper(_ btf: BTF) -> BTFDumper {
        // Weak: the format owns its dumpers. A dumper that outlives it prints plain pointers.
        BTFDumper(btf: btf) { [weak self] proto, value in
            self?.functionPointer(btf, proto: proto, value: value)
        }
    }

    /// What decodes the map's value: the dumper for its BTF, the value type
    /// and its name (`bpf_struct_ops_tcp_congestion_ops`, bpftool's JSON key).
    public func valueFormat(of map: StructOpsMap) throws(BPFError) -> (dumper: BTFDumper, typeID: UInt32, typeName: String) {
        let btf = try map.valueBTF()
        let dumper: BTFDumper
        if btf === vmlinux {
            dumper = vmlinuxDumper
        } else if let d = moduleDumpers[ObjectIdentifier(btf)] {
            dumper = d
        } else {
            dumper = makeDumper(btf)
            moduleDumpers[ObjectIdentifier(btf)] = dumper
        }
        let id = map.info.btfVmlinuxValueTypeID
        guard let t = btf.type(id) else {
            throw BPFError("struct_ops map \(map.info.name) id \(map.info.id): value type \(id) is not in the kernel's BTF", errno: ENOENT)
        }
        return (dumper, id, t.name)
    }

    /// bpftool's dump_prog_id_as_func_ptr: nil (print as a pointer) for a
    /// value above 32 bits or a signature that cannot be written.
    private func functionPointer(_ btf: BTF, proto: UInt32, value: UInt64) -> String? {
        guard value <= UInt64(UInt32.max), let sig = signature(btf, proto) else { return nil }
        var s = sig
        if value == 0 {
            s += " 0"
        } else if let name = programName(UInt32(value)) {
            s += " \(name)/prog_id:\(value)"
        } else {
            s += " <unknown_prog_name>/prog_id:\(value)"
        }
        // bpftool writes into 1024 bytes.
        if s.utf8.count > 1023 { s = String(decoding: Array(s.utf8)[0..<1023], as: UTF8.self) }
        return s
    }

    private func signature(_ btf: BTF, _ proto: UInt32) -> String? {
        let key = ObjectIdentifier(btf)
        if let cached = signatures[key]?[proto] { return cached }
        var s = ""
        let sig: String? = FunctionSignature.function(btf, proto: proto, function: nil, into: &s) ? s : nil
        signatures[key, default: [:]][proto] = sig
        return sig
    }

    /// The name of the program's first function, from its BTF func_info, as
    /// bpftool names the program behind a struct_ops function pointer.
    /// Calls `bpf_prog_get_fd_by_id`, `bpf_prog_get_info_by_fd`, `btf__load_from_kernel_by_id`.
    func programName(_ id: UInt32) -> String? {
        if let cached = programNames[id] { return cached }
        let name = Self.lookUpProgramName(id)
        programNames[id] = name
        return name
    }

    private static func lookUpProgramName(_ id: UInt32) -> String? {
        let raw = bpf_prog_get_fd_by_id(id)
        guard raw >= 0 else { return nil }
        let fd = FileDescriptor(owning: raw)
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_prog_get_info_by_fd(fd.rawValue, &info, &len) == 0, info.btf_id != 0, info.nr_func_info != 0 else {
            return nil
        }
        let recordSize = info.func_info_rec_size
        let btfID = info.btf_id
        // One record; room for a record larger than ours.
        var record = [UInt8](repeating: 0, count: max(Int(recordSize), MemoryLayout<bpf_func_info>.size))
        info = bpf_prog_info()
        info.nr_func_info = 1
        info.func_info_rec_size = recordSize
        len = UInt32(MemoryLayout<bpf_prog_info>.size)
        let r = record.withUnsafeMutableBytes { buf -> Int32 in
            info.func_info = UInt64(UInt(bitPattern: buf.baseAddress))
            return bpf_prog_get_info_by_fd(fd.rawValue, &info, &len)
        }
        guard r == 0 else { return nil }
        let typeID = record.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: MemoryLayout<bpf_func_info>.offset(of: \.type_id)!, as: UInt32.self) }
        guard let btf = try? BTF.load(id: BTFID(btfID)), let t = btf.type(typeID), t.kind == .function else { return nil }
        return t.name
    }
}

/// C text of a type as bpftool's `__btf_dumper_type_only` writes it, for
/// the signatures of struct_ops function pointers: each type followed by a
/// space, pointers as "* ", unnamed parameters without their trailing space.
enum FunctionSignature {
    /// Appends the type; false when a type cannot be written (bpftool then
    /// prints the pointer's value instead).
    static func type(_ btf: BTF, _ id: UInt32, into s: inout String, depth: Int = 0) -> Bool {
        guard depth < 64 else { return false }
        if id == 0 { s += "void "; return true }
        guard let t = btf.type(id) else { return false }
        switch t.kind {
        case .int, .typedef, .float:
            s += "\(t.name) "
        case .structure:
            s += "struct \(t.name) "
        case .union:
            s += "union \(t.name) "
        case .enumeration, .enum64:
            s += "enum \(t.name) "
        case .array:
            guard type(btf, t.arrayElementType, into: &s, depth: depth + 1) else { return false }
            s += "[\(t.arrayCount)]"
        case .ptr:
            guard type(btf, t.referencedType, into: &s, depth: depth + 1) else { return false }
            s += "* "
        case .fwd:
            s += "\(t.kindFlag ? "union" : "struct") \(t.name) "
        case .volatile, .const, .restrict:
            s += t.kind == .volatile ? "volatile " : t.kind == .const ? "const " : "restrict "
            return type(btf, t.referencedType, into: &s, depth: depth + 1)
        case .functionProto:
            return function(btf, proto: id, function: nil, into: &s, depth: depth + 1)
        case .function:
            return function(btf, proto: t.referencedType, function: t.name, into: &s, depth: depth + 1)
        case .variable:
            if t.linkage == 0 { s += "static " }
            guard type(btf, t.referencedType, into: &s, depth: depth + 1) else { return false }
            s += " \(t.name)"
        case .dataSection:
            s += "section (\"\(t.name)\") "
        default:
            return false
        }
        return true
    }

    /// "RET NAME(ARG, ARG)" / "RET (ARG, ARG)" for a FUNC_PROTO.
    static func function(_ btf: BTF, proto: UInt32, function: String?, into s: inout String, depth: Int = 0) -> Bool {
        guard let p = btf.type(proto), p.kind == .functionProto else { return false }
        guard type(btf, p.referencedType, into: &s, depth: depth + 1) else { return false }
        s += function.map { "\($0)(" } ?? "("
        for (i, arg) in p.parameters.enumerated() {
            if i > 0 { s += ", " }
            if arg.typeID == 0 { s += "..."; continue }
            guard type(btf, arg.typeID, into: &s, depth: depth + 1) else { return false }
            if !arg.name.isEmpty {
                s += arg.name
            } else if s.hasSuffix(" ") {
                s.removeLast()
            }
        }
        s += ")"
        // bpftool's buffer is 1024 bytes: a longer signature is not written.
        return s.utf8.count < 1024
    }
}
