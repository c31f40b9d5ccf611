#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Which instructions of a loaded program: as the verifier rewrote them
/// (BPF instructions, 8 bytes each) or as the JIT compiled them (machine code).
public enum ProgramImageKind: Sendable {
    case translated
    case jited
}

extension Program {
    /// The program's instructions as the kernel holds them: the translated
    /// (xlated) BPF instructions or the JIT's machine code. Empty when the
    /// kernel gives none (no JIT, or kernel.kptr_restrict hides them).
    /// Calls `bpf_prog_get_info_by_fd` (once for the length, once for the bytes).
    public func image(_ kind: ProgramImageKind) throws(BPFError) -> [UInt8] {
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        _ = try check(bpf_prog_get_info_by_fd(fd.rawValue, &info, &len), "get program info of id \(id)")
        let size = Int(kind == .translated ? info.xlated_prog_len : info.jited_prog_len)
        guard size > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: size)
        let r: Int32 = bytes.withUnsafeMutableBytes { buf in
            var second = bpf_prog_info()
            let address = UInt64(UInt(bitPattern: buf.baseAddress!))
            switch kind {
            case .translated:
                second.xlated_prog_len = UInt32(size); second.xlated_prog_insns = address
            case .jited:
                second.jited_prog_len = UInt32(size); second.jited_prog_insns = address
            }
            var len = UInt32(MemoryLayout<bpf_prog_info>.size)
            let r = bpf_prog_get_info_by_fd(fd.rawValue, &second, &len)
            // The program cannot change, but be exact about what came back.
            let got = Int(kind == .translated ? second.xlated_prog_len : second.jited_prog_len)
            return r == 0 && got != size ? -EAGAIN : r
        }
        _ = try check(r, "get the instructions of program id \(id)")
        return bytes
    }
}
