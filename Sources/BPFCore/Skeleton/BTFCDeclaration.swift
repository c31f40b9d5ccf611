#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Collects what btf_dump prints.
private final class DumpBuffer {
    var text: [UInt8] = []
    var truncated = false
}

extension BTF {
    /// The C declaration of a variable or member `name` of type `typeID`,
    /// as libbpf's btf_dump writes it ("char name[7]", "struct key k",
    /// "int (*fn)(void)"); anonymous types are written out inline, indented
    /// `indentLevel` tabs. With `stripModifiers`, const/volatile are dropped
    /// (skeleton sections are plain memory). Calls `btf_dump__emit_type_decl`.
    public func cDeclaration(of typeID: UInt32, name: String, indentLevel: Int = 0,
                             stripModifiers: Bool = false) throws(BPFError) -> String {
        let buffer = DumpBuffer()
        let ctx = Unmanaged.passUnretained(buffer).toOpaque()
        let printer: btf_dump_printf_fn_t = { ctx, fmt, args in
            guard let ctx, let fmt, let args else { return }
            let b = Unmanaged<DumpBuffer>.fromOpaque(ctx).takeUnretainedValue()
            var chunk = [CChar](repeating: 0, count: 4096)
            let n = vsnprintf(&chunk, chunk.count, fmt, args)
            if n < 0 { b.truncated = true; return }
            if Int(n) >= chunk.count { b.truncated = true }
            let len = min(Int(n), chunk.count - 1)
            chunk.withUnsafeBytes { b.text.append(contentsOf: $0.prefix(len)) }
        }
        guard let d = btf_dump__new(handle, printer, ctx, nil) else {
            throw BPFError("create BTF dumper", errno: Glibc.errno)
        }
        defer { btf_dump__free(d) }
        let r = name.withCString { n -> Int32 in
            withLibbpfOptions(btf_dump_emit_type_decl_opts.self) { opts in
                opts.pointee.indent_level = Int32(indentLevel)
                opts.pointee.strip_mods = stripModifiers
                opts.pointee.field_name = n
                return btf_dump__emit_type_decl(d, typeID, opts)
            }
        }
        try check(r, "write C declaration of \(name) (BTF type \(typeID))")
        if buffer.truncated { throw BPFError("write C declaration of \(name): output too long", errno: E2BIG) }
        return String(decoding: buffer.text, as: UTF8.self)
    }
}
