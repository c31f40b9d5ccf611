#if canImport(Glibc)
import Glibc
#endif

/// Every pinned BPF object under the bpffs mounts, by kind and id: what `-f` prints.
/// Built once per run by walking the mounts, as bpftool's `-f` does.
public final class PinnedIndex {
    private var paths: [BPFObjectKind: [UInt32: [String]]] = [:]
    /// Every pin in walk order (readdir order, depth first, as nftw walks).
    private var walkOrder: [BPFObjectKind: [(id: UInt32, path: String)]] = [:]
    private var bpftoolOrder: [BPFObjectKind: [UInt32: [String]]] = [:]

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

    /// Whether any object of `kind` is pinned (bpftool's `-f` then prints a
    /// `pinned` list, maybe empty, for every object of that kind).
    public func hasPins(_ kind: BPFObjectKind) -> Bool {
        !(paths[kind]?.isEmpty ?? true)
    }

    /// Pinned paths of the object in the order bpftool 7.5 prints them. bpftool
    /// appends each pin found by nftw to a libbpf hashmap keyed by id: an
    /// append puts the path first in its bucket, and every time the map grows
    /// (before the insert that would pass 75% of its capacity, from 4 slots,
    /// doubling) each bucket's chain is relinked in reverse. Replaying that on
    /// the walk order gives bpftool's order exactly.
    public func pathsInBpftoolOrder(_ kind: BPFObjectKind, id: UInt32) -> [String] {
        if let table = bpftoolOrder[kind] { return table[id] ?? [] }
        var table: [UInt32: [String]] = [:]
        var size = 0, capacityBits = 0, capacity = 0
        for (pinID, path) in walkOrder[kind] ?? [] {
            if capacity == 0 || (size + 1) * 4 / 3 > capacity {
                capacityBits = max(capacityBits + 1, 2)
                capacity = 1 << capacityBits
                for k in table.keys { table[k]!.reverse() }
            }
            table[pinID, default: []].insert(path, at: 0)
            size += 1
        }
        bpftoolOrder[kind] = table
        return table[id] ?? []
    }

    private func walk(_ dir: String, depth: Int) {
        guard depth < 64, let d = opendir(dir) else { return }
        defer { closedir(d) }
        while let ent = readdir(d) {
            let name = direntName(ent)
            if name == "." || name == ".." { continue }
            let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
            switch direntType(ent) {
            case Int32(DT_DIR):
                walk(path, depth: depth + 1)
            case Int32(DT_REG):
                guard let fd = try? Kernel.openPinned(path),
                      let kind = Kernel.kind(of: fd),
                      let id = try? Kernel.id(of: fd) else { continue }
                paths[kind, default: [:]][id, default: []].append(path)
                walkOrder[kind, default: []].append((id, path))
            default:
                continue
            }
        }
    }
}
