#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// The tracing pipe bpf_printk writes to.
public enum TracePipe {
    /// trace_pipe under the first tracefs mount bpftool would find.
    public static func path() -> String? {
        let known = ["/sys/kernel/debug/tracing", "/sys/kernel/tracing", "/tracing", "/trace"]
        for k in known {
            var st = statfs()
            if statfs(k, &st) == 0 && UInt(st.f_type) == 0x7472_6163 { return k + "/trace_pipe" }   // TRACEFS_MAGIC
        }
        return nil
    }
}
