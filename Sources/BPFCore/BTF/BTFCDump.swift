#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Collects what btf_dump prints, handing full chunks to the caller.
private final class CDumpOutput {
    var buffer: [UInt8] = []
    var failed = false
    /// libbpf before 1.5 writes a prototype without parameters as `()`,
    /// 1.5 (bpftool 7.5's) as `(void)`: it prints "(" and then ")" alone.
    var voidParameters = false
    var lastWasOpenParen = false
    static let scratchSize = 1 << 14
    let scratch = UnsafeMutablePointer<CChar>.allocate(capacity: scratchSize)
    deinit { scratch.deallocate() }
    let write: (UnsafeRawBufferPointer) -> Void

    init(write: @escaping (UnsafeRawBufferPointer) -> Void) {
        self.write = write
        buffer.reserveCapacity(1 << 16)
    }

    func append(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        buffer.withUnsafeBytes { write($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}

extension BTF {
    /// Writes the BTF as a C header, as `bpftool btf dump ... format c` does:
    /// the `__VMLINUX_H__` guard, the `preserve_access_index` pragma, the
    /// `__ksym`/`__weak` macros, every type (or only
    /// `rootTypes` and what they need) as libbpf's btf_dump writes it, and,
    /// for a whole dump, the `bpf_kfunc`-tagged functions as `extern ...
    /// __weak __ksym` declarations sorted by name. (bpftool 7.5 as the
    /// distributions ship it, from the Linux 6.12 tree, has no
    /// `__bpf_fastcall` macro: later bpftool marks `bpf_fastcall` kfuncs.)
    ///
    /// `sorted` orders the types as bpftool 7.5 does (by a rank of kind,
    /// then by name, then by a hash of member names, then by id), which keeps
    /// vmlinux.h stable across kernel builds; without it types come in id
    /// order (bpftool's `unsorted`).
    ///
    /// bpftool skips the first type of the sorted list, meaning to skip void
    /// (id 0), but void does not sort first: it drops one anonymous enum from
    /// the header. With `bpftoolCompatible` the same type is skipped, so the
    /// output is byte for byte bpftool's; without it, void is skipped and
    /// nothing is lost.
    ///
    /// Calls `btf_dump__new`, `btf_dump__dump_type`, `btf_dump__emit_type_decl`.
    public func writeC(rootTypes: [UInt32] = [], sorted: Bool = true, bpftoolCompatible: Bool = true,
                       to write: @escaping (UnsafeRawBufferPointer) -> Void) throws(BPFError) {
        let out = CDumpOutput(write: write)
        out.voidParameters = libbpf_major_version() < 1 || (libbpf_major_version() == 1 && libbpf_minor_version() < 5)
        let ctx = Unmanaged.passUnretained(out).toOpaque()
        let printer: btf_dump_printf_fn_t = { ctx, fmt, args in
            guard let ctx, let fmt, let args else { return }
            let o = Unmanaged<CDumpOutput>.fromOpaque(ctx).takeUnretainedValue()
            // btf_dump prints a name or a keyword at a time: far below this.
            let text = o.scratch
            let n = vsnprintf(text, CDumpOutput.scratchSize, fmt, args)
            guard n >= 0, Int(n) < CDumpOutput.scratchSize else { o.failed = true; return }
            if o.voidParameters {
                if o.lastWasOpenParen && n == 1 && text[0] == 0x29 /* ) */ {
                    o.buffer.append(contentsOf: "void".utf8)
                }
                o.lastWasOpenParen = n == 1 && text[0] == 0x28 /* ( */
            }
            o.buffer.append(contentsOf: UnsafeRawBufferPointer(start: text, count: Int(n)))
            if o.buffer.count >= 1 << 16 { o.flush() }
        }
        guard let d = btf_dump__new(handle, printer, ctx, nil) else {
            throw BPFError("create BTF dumper", errno: Glibc.errno)
        }
        defer { btf_dump__free(d) }

        out.append("""
            #ifndef __VMLINUX_H__
            #define __VMLINUX_H__

            #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
            #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
            #endif

            #ifndef __ksym
            #define __ksym __attribute__((section(".ksyms")))
            #endif

            #ifndef __weak
            #define __weak __attribute__((weak))
            #endif


            """)

        func dump(_ id: UInt32) throws(BPFError) {
            try check(btf_dump__dump_type(d, id), "dump BTF type \(id) as C")
        }
        if !rootTypes.isEmpty {
            for id in rootTypes { try dump(id) }
        } else {
            let count = typeCount
            if sorted {
                let order = bpftoolSortOrder()
                // bpftool walks positions 1..<count of its sorted list.
                let skip = bpftoolCompatible ? order.first : 0
                for id in order where id != skip { try dump(id) }
            } else {
                var id: UInt32 = 1
                while id < count { try dump(id); id += 1 }
            }
            try writeKfuncs(d, out)
        }

        out.append("""
            #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
            #pragma clang attribute pop
            #endif

            #endif /* __VMLINUX_H__ */

            """)
        if out.failed { throw BPFError("dump BTF as C: formatting failed", errno: ENOMEM) }
        out.flush()
    }

    /// The `bpf_kfunc` functions, as bpftool declares them at the end of vmlinux.h.
    private func writeKfuncs(_ d: OpaquePointer, _ out: CDumpOutput) throws(BPFError) {
        out.append("\n/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n")
        var kfuncs: [(name: UnsafePointer<CChar>, id: UInt32, proto: UInt32)] = []
        let count = typeCount
        var i: UInt32 = 1
        while i < count {
            defer { i += 1 }
            guard let t = btf__type_by_id(handle, i), btf_kind(t) == BTFKind.declTag.rawValue,
                  btf_decl_tag(t).pointee.component_idx == -1,
                  let ft = btf__type_by_id(handle, t.pointee.type), btf_kind(ft) == BTFKind.function.rawValue,
                  let tag = btf__name_by_offset(handle, t.pointee.name_off) else { continue }
            if strcmp(tag, "bpf_kfunc") == 0, let name = btf__name_by_offset(handle, ft.pointee.name_off) {
                kfuncs.append((name, t.pointee.type, ft.pointee.type))
            }
        }
        kfuncs.sort { a, b in
            let r = strcmp(a.name, b.name)
            return r != 0 ? r < 0 : a.id < b.id
        }
        for k in kfuncs {
            out.append("extern ")
            let r = withLibbpfOptions(btf_dump_emit_type_decl_opts.self) { opts in
                opts.pointee.field_name = k.name
                return btf_dump__emit_type_decl(d, k.proto, opts)
            }
            try check(r, "write the declaration of kfunc \(String(cString: k.name))")
            out.append(" __weak __ksym;\n")
        }
        out.append("#endif\n\n")
    }

    // MARK: bpftool's order

    /// Every type id (0 included) in bpftool 7.5's sorted order (`sort_btf_c`).
    func bpftoolSortOrder() -> [UInt32] {
        struct Datum {
            var id: UInt32
            var rank: Int
            var sortName: UnsafePointer<CChar>
            var ownName: UnsafePointer<CChar>
            var hash: UInt64
        }
        let count = typeCount
        var data: [Datum] = []
        data.reserveCapacity(Int(count))
        var id: UInt32 = 0
        while id < count {
            data.append(Datum(id: id, rank: sortRank(id, hasName: false, depth: 0),
                              sortName: sortName(id, fromReference: false, depth: 0),
                              ownName: rawName(id), hash: disambiguationHash(id, includeMembers: true, depth: 0)))
            id += 1
        }
        data.sort { a, b in
            if a.rank != b.rank { return a.rank < b.rank }
            var r = strcmp(a.sortName, b.sortName)
            if r != 0 { return r < 0 }
            r = strcmp(a.ownName, b.ownName)
            if r != 0 { return r < 0 }
            if a.hash != b.hash { return a.hash < b.hash }
            return a.id < b.id
        }
        return data.map(\.id)
    }

    private static let emptyName: UnsafePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        p.pointee = 0
        return UnsafePointer(p)
    }()

    /// Deeper chains than this only come from malformed (cyclic) BTF.
    private static let maxChain = 64

    private func rawType(_ id: UInt32) -> UnsafePointer<btf_type>? { btf__type_by_id(handle, id) }

    private func rawName(_ id: UInt32) -> UnsafePointer<CChar> {
        guard let t = rawType(id) else { return Self.emptyName }
        return btf__name_by_offset(handle, t.pointee.name_off) ?? Self.emptyName
    }

    /// bpftool's btf_type_rank: anonymous enums, named enums, base types,
    /// named structs and unions, named function prototypes, the rest.
    private func sortRank(_ id: UInt32, hasName: Bool, depth: Int) -> Int {
        let maxRank = 10
        guard depth < Self.maxChain, let t = rawType(id) else { return maxRank }
        let named = hasName || t.pointee.name_off != 0
        switch Int(btf_kind(t)) {
        case Int(BTFKind.enumeration.rawValue), Int(BTFKind.enum64.rawValue): return named ? 1 : 0
        case Int(BTFKind.int.rawValue), Int(BTFKind.float.rawValue): return 2
        case Int(BTFKind.structure.rawValue), Int(BTFKind.union.rawValue): return named ? 3 : maxRank
        case Int(BTFKind.functionProto.rawValue): return named ? 4 : maxRank
        case Int(BTFKind.array.rawValue):
            return named ? sortRank(btf_array(t).pointee.type, hasName: true, depth: depth + 1) : maxRank
        case Int(BTFKind.typeTag.rawValue), Int(BTFKind.const.rawValue), Int(BTFKind.ptr.rawValue), Int(BTFKind.volatile.rawValue),
             Int(BTFKind.restrict.rawValue), Int(BTFKind.typedef.rawValue), Int(BTFKind.declTag.rawValue):
            return named ? sortRank(t.pointee.type, hasName: true, depth: depth + 1) : maxRank
        default: return maxRank
        }
    }

    /// bpftool's btf_type_sort_name: the name of the type a reference leads
    /// to; an anonymous enum sorts by its first enumerator.
    private func sortName(_ id: UInt32, fromReference: Bool, depth: Int) -> UnsafePointer<CChar> {
        guard depth < Self.maxChain, let t = rawType(id) else { return Self.emptyName }
        switch Int(btf_kind(t)) {
        case Int(BTFKind.enumeration.rawValue), Int(BTFKind.enum64.rawValue):
            var off = t.pointee.name_off
            if !fromReference && off == 0 && btf_vlen(t) > 0 {
                off = btf_kind(t) == BTFKind.enum64.rawValue ? btf_enum64(t).pointee.name_off : btf_enum(t).pointee.name_off
            }
            return btf__name_by_offset(handle, off) ?? Self.emptyName
        case Int(BTFKind.array.rawValue):
            return sortName(btf_array(t).pointee.type, fromReference: true, depth: depth + 1)
        case Int(BTFKind.typeTag.rawValue), Int(BTFKind.const.rawValue), Int(BTFKind.ptr.rawValue), Int(BTFKind.volatile.rawValue),
             Int(BTFKind.restrict.rawValue), Int(BTFKind.typedef.rawValue), Int(BTFKind.declTag.rawValue):
            return sortName(t.pointee.type, fromReference: true, depth: depth + 1)
        default:
            return btf__name_by_offset(handle, t.pointee.name_off) ?? Self.emptyName
        }
    }

    /// libbpf's str_hash (hashmap.h): h * 31 + c over the (signed) chars.
    private static func stringHash(_ s: UnsafePointer<CChar>) -> UInt64 {
        var h: UInt64 = 0
        var p = s
        while p.pointee != 0 {
            h = h &* 31 &+ UInt64(bitPattern: Int64(p.pointee))
            p += 1
        }
        return h
    }

    private func nameHash(_ hash: UInt64, _ off: UInt32) -> UInt64 {
        guard off != 0 else { return hash }
        return hash &* 31 &+ Self.stringHash(btf__name_by_offset(handle, off) ?? Self.emptyName)
    }

    /// bpftool's btf_type_disambig_hash: names of the type, its enumerators,
    /// its members and their types, through references and arrays.
    private func disambiguationHash(_ id: UInt32, includeMembers: Bool, depth: Int) -> UInt64 {
        guard depth < Self.maxChain, let t = rawType(id) else { return 0 }
        var hash = nameHash(0, t.pointee.name_off)
        let vlen = Int(btf_vlen(t))
        switch Int(btf_kind(t)) {
        case Int(BTFKind.enumeration.rawValue):
            let e = btf_enum(t)!
            for i in 0..<vlen { hash = nameHash(hash, e[i].name_off) }
        case Int(BTFKind.enum64.rawValue):
            let e = btf_enum64(t)!
            for i in 0..<vlen { hash = nameHash(hash, e[i].name_off) }
        case Int(BTFKind.structure.rawValue), Int(BTFKind.union.rawValue):
            guard includeMembers else { break }
            let m = btf_members(t)!
            for i in 0..<vlen {
                hash = nameHash(hash, m[i].name_off)
                hash = hash &* 31 &+ disambiguationHash(m[i].type, includeMembers: false, depth: depth + 1)
            }
        case Int(BTFKind.typeTag.rawValue), Int(BTFKind.const.rawValue), Int(BTFKind.ptr.rawValue), Int(BTFKind.volatile.rawValue),
             Int(BTFKind.restrict.rawValue), Int(BTFKind.typedef.rawValue), Int(BTFKind.declTag.rawValue):
            hash = hash &* 31 &+ disambiguationHash(t.pointee.type, includeMembers: includeMembers, depth: depth + 1)
        case Int(BTFKind.array.rawValue):
            let a = btf_array(t)!
            hash = hash &* 31 &+ UInt64(a.pointee.nelems)
            hash = hash &* 31 &+ disambiguationHash(a.pointee.type, includeMembers: includeMembers, depth: depth + 1)
        default:
            break
        }
        return hash
    }
}
