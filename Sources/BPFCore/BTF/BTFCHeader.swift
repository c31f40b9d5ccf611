#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Collects what btf_dump prints for a whole header.
private final class HeaderBuffer {
    var text: [UInt8] = []
    var failed = false
}

extension BTF {
    /// Every type of this BTF as one C header (the vmlinux.h that BPF C
    /// programs include): an include guard, CO-RE's preserve_access_index on
    /// every record, then each type in id order as libbpf's btf_dump writes
    /// it (it orders dependencies itself). The same layout as
    /// `bpftool btf dump file ... format c`. Calls `btf_dump__dump_type`.
    public func cHeader(guardName: String = "__VMLINUX_H__") throws(BPFError) -> [UInt8] {
        let buffer = HeaderBuffer()
        buffer.text.reserveCapacity(4 << 20)
        func put(_ s: String) { buffer.text.append(contentsOf: Array(s.utf8)) }
        put("#ifndef \(guardName)\n#define \(guardName)\n\n")
        // bpf_helpers.h defines these too; here for programs that do not include it.
        put("#ifndef __ksym\n#define __ksym __attribute__((section(\".ksyms\")))\n#endif\n\n")
        put("#ifndef __weak\n#define __weak __attribute__((weak))\n#endif\n\n")
        put("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n")
        put("#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n")
        put("#endif\n\n")

        let ctx = Unmanaged.passUnretained(buffer).toOpaque()
        let printer: btf_dump_printf_fn_t = { ctx, fmt, args in
            guard let ctx, let fmt, let args else { return }
            let b = Unmanaged<HeaderBuffer>.fromOpaque(ctx).takeUnretainedValue()
            var chunk = [CChar](repeating: 0, count: 4096)
            let n = vsnprintf(&chunk, chunk.count, fmt, args)
            if n < 0 { b.failed = true; return }
            if Int(n) < chunk.count {
                chunk.withUnsafeBytes { b.text.append(contentsOf: $0.prefix(Int(n))) }
            } else {
                // Longer than the chunk: a va_list cannot be replayed here, so
                // say so rather than write a truncated declaration.
                b.failed = true
            }
        }
        guard let d = btf_dump__new(handle, printer, ctx, nil) else {
            throw BPFError("create BTF dumper", errno: Glibc.errno)
        }
        defer { btf_dump__free(d) }
        let count = typeCount
        var id: UInt32 = 1
        while id < count {
            try check(btf_dump__dump_type(d, id), "write C declaration of BTF type \(id)")
            id += 1
        }
        if buffer.failed { throw BPFError("write C header: a declaration longer than 4 KiB", errno: E2BIG) }
        put("\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n")
        put("#endif /* \(guardName) */\n")
        return buffer.text
    }
}
