#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// `iter pin OBJ PATH [map MAP]`: attaches the object's first program as an
/// iterator and pins the link; reading PATH runs it.
public enum IteratorPin {
    /// Calls `bpf_object__open`, `bpf_object__load`, `bpf_program__attach_iter`, `bpf_link__pin`.
    public static func pin(objectFile: String, at path: String, map: FileDescriptor?) throws(BPFError) {
        try requireRegularFile(objectFile, "can't open objfile \(objectFile)")
        clearLibbpfWarning()
        guard let obj = bpf_object__open(objectFile) else {
            throw BPFError("can't open objfile \(objectFile)", errno: Glibc.errno, detail: takeLibbpfWarning())
        }
        defer { bpf_object__close(obj) }
        let e = bpf_object__load(obj)
        if e != 0 { throw BPFError("can't load objfile \(objectFile)", errno: -e, detail: takeLibbpfWarning()) }
        guard let prog = bpf_object__next_program(obj, nil) else {
            throw BPFError("can't find bpf program in objfile \(objectFile)", errno: ENOENT)
        }
        let name = String(cString: bpf_program__name(prog))
        var info = bpf_iter_link_info()
        if let map { info.map.map_fd = UInt32(bitPattern: map.rawValue) }
        let link: OpaquePointer? = withUnsafeMutablePointer(to: &info) { ip in
            withLibbpfOptions(bpf_iter_attach_opts.self) { opts in
                if map != nil {
                    opts.pointee.link_info = ip
                    opts.pointee.link_info_len = UInt32(MemoryLayout<bpf_iter_link_info>.size)
                }
                return bpf_program__attach_iter(prog, opts)
            }
        }
        guard let link else {
            throw BPFError("attach_iter failed for program \(name)", errno: Glibc.errno, detail: takeLibbpfWarning())
        }
        defer { bpf_link__destroy(link) }
        let r = bpf_link__pin(link, path)
        if r != 0 { throw BPFError("pin_iter failed for program \(name) to path \(path)", errno: -r) }
    }
}
