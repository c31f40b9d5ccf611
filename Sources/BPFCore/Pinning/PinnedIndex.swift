#if canImport(Glibc)
import Glibc
#endif

/// Every pinned BPF object under the bpffs mounts, by kind and id: what `-f` prints.
/// Built once per run by walking the mounts, as bpftool's `-f` does.
public final class PinnedIndex {
    private var paths: [BPFObjectKind: [UInt32: [String]]] = [:]

    /// Walks every bpffs mount (or `roots`, when given).
    public init(roots: [String]? = nil) {
        for root in roots ?? Kernel.bpffsMounts() {
            walk(root, depth: 0)
        }
        for k in paths.keys {
            for id in paths[k]!.keys { paths[k]![id]!.sort() }
        }
    }

    /// Pinned paths of the object of `kind` with `id`, sorted.
    public func paths(_ kind: BPFObjectKind, id: UInt32) -> [String] {
        paths[kind]?[id] ?? []
    }

    /// Whether any object of `kind` is pinned (bpftool prints `pinned` keys only then).
    public func hasAny(_ kind: BPFObjectKind) -> Bool {
        !(paths[kind]?.isEmpty ?? true)
    }

    private func walk(_ dir: String, depth: Int) {
        guard depth < 64, let d = opendir(dir) else { return }
        defer { closedir(d) }
        while let ent = readdir(d) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
            switch Int32(ent.pointee.d_type) {
            case Int32(DT_DIR):
                walk(path, depth: depth + 1)
            case Int32(DT_REG):
                guard let fd = try? Kernel.openPinned(path),
                      let kind = Kernel.kind(of: fd),
                      let id = try? Kernel.id(of: fd) else { continue }
                paths[kind, default: [:]][id, default: []].append(path)
            default:
                continue
            }
        }
    }
}
