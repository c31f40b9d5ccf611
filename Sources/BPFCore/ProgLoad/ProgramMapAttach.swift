#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// `prog attach|detach PROG ATTACH_TYPE [MAP]`: programs attached to a map
/// (sockmap/sockhash parsers and verdicts) or, for flow_dissector, to the
/// calling thread's network namespace.
public enum ProgramMapAttach {
    /// bpftool's names: the libbpf names of the types it allows, and prefixes
    /// of its traditional ones (stream_parser, stream_verdict, skb_verdict, msg_verdict).
    public static func attachType(_ word: String) -> AttachType? {
        let allowed: [(bpf_attach_type, String?)] = [
            (BPF_SK_SKB_STREAM_PARSER, "stream_parser"), (BPF_SK_SKB_STREAM_VERDICT, "stream_verdict"),
            (BPF_SK_MSG_VERDICT, "msg_verdict"), (BPF_FLOW_DISSECTOR, nil), (BPF_SK_SKB_VERDICT, "skb_verdict"),
        ].sorted { $0.0.rawValue < $1.0.rawValue }
        for (t, old) in allowed {
            if let s = libbpf_bpf_attach_type_str(t), String(cString: s) == word { return AttachType(rawValue: t.rawValue) }
            if let old, !word.isEmpty, old.hasPrefix(word) { return AttachType(rawValue: t.rawValue) }
        }
        return nil
    }

    public static func needsMap(_ t: AttachType) -> Bool { t.rawValue != BPF_FLOW_DISSECTOR.rawValue }

    /// Calls `bpf_prog_attach` (target: the map, or 0 for flow_dissector).
    public static func attach(program: FileDescriptor, type: AttachType, map: FileDescriptor?) throws(BPFError) {
        let r = bpf_prog_attach(program.rawValue, map?.rawValue ?? 0, bpf_attach_type(rawValue: type.rawValue), 0)
        if r != 0 { throw BPFError("failed prog attach to map", errno: r == -1 ? Glibc.errno : -r) }
    }

    /// Calls `bpf_prog_detach2`.
    public static func detach(program: FileDescriptor, type: AttachType, map: FileDescriptor?) throws(BPFError) {
        let r = bpf_prog_detach2(program.rawValue, map?.rawValue ?? 0, bpf_attach_type(rawValue: type.rawValue))
        if r != 0 { throw BPFError("failed prog detach from map", errno: r == -1 ? Glibc.errno : -r) }
    }
}
