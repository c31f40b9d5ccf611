internal import CLibBPF

/// A BPF map type (`enum bpf_map_type`), named as libbpf and bpftool name it.
public struct MapType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let hash = MapType(rawValue: 1)
    public static let array = MapType(rawValue: 2)
    public static let progArray = MapType(rawValue: 3)
    public static let perfEventArray = MapType(rawValue: 4)
    public static let percpuHash = MapType(rawValue: 5)
    public static let percpuArray = MapType(rawValue: 6)
    public static let stackTrace = MapType(rawValue: 7)
    public static let cgroupArray = MapType(rawValue: 8)
    public static let lruHash = MapType(rawValue: 9)
    public static let lruPercpuHash = MapType(rawValue: 10)
    public static let lpmTrie = MapType(rawValue: 11)
    public static let arrayOfMaps = MapType(rawValue: 12)
    public static let hashOfMaps = MapType(rawValue: 13)
    public static let reuseportSockarray = MapType(rawValue: 20)
    public static let percpuCgroupStorage = MapType(rawValue: 21)
    public static let queue = MapType(rawValue: 22)
    public static let stack = MapType(rawValue: 23)
    public static let structOps = MapType(rawValue: 26)
    public static let ringbuf = MapType(rawValue: 27)
    public static let bloomFilter = MapType(rawValue: 30)
    public static let userRingbuf = MapType(rawValue: 31)

    /// libbpf's name for the type ("hash", "lru_percpu_hash", ...), or nil for a
    /// type this libbpf does not know. Calls `libbpf_bpf_map_type_str`.
    public var name: String? {
        LibbpfNames.mapType(rawValue)
    }

    public var description: String { name ?? "type \(rawValue)" }

    /// The type with this exact libbpf name (no prefix matching, as bpftool: a
    /// future type must not shadow an abbreviation). Calls `libbpf_bpf_map_type_str`.
    public init?(name: String) {
        var i: UInt32 = 0
        while let p = LibbpfNames.mapType(i) {
            if p == name { self.rawValue = i; return }
            i += 1
        }
        return nil
    }

    /// Every type name this libbpf knows that a map can be created with, in enum order.
    /// Calls `libbpf_bpf_map_type_str`.
    public static var allNames: [String] {
        var out: [String] = []
        var i: UInt32 = 1  // skip "unspec"
        while let p = LibbpfNames.mapType(i) {
            out.append(p)
            i += 1
        }
        return out
    }

    /// Values are stored once per possible CPU (each rounded up to 8 bytes).
    public var isPerCPU: Bool {
        self == .percpuHash || self == .percpuArray || self == .lruPercpuHash || self == .percpuCgroupStorage
    }

    /// Values are inner map ids (array_of_maps, hash_of_maps).
    public var isMapOfMaps: Bool { self == .arrayOfMaps || self == .hashOfMaps }

    /// Values are program ids (prog_array).
    public var isProgArray: Bool { self == .progArray }

    /// Types whose BPF_MAP_LOOKUP_BATCH this tool relies on: the hash family
    /// walks buckets in the same order as get_next_key, arrays walk indexes.
    public var supportsBatchedLookup: Bool {
        self == .hash || self == .percpuHash || self == .lruHash || self == .lruPercpuHash
            || self == .array || self == .percpuArray
    }

    /// The hash family takes a 4-byte bucket cursor in batched lookups,
    /// the others a key-sized one.
    var batchCursorIsBucket: Bool {
        self == .hash || self == .percpuHash || self == .lruHash || self == .lruPercpuHash
    }
}

nonisolated(unsafe) private var possibleCPUCache: Int?

/// The number of possible CPUs: how many values a per-CPU map holds per key.
/// Read once per run; every per-CPU path (map verbs, skeletons, reuse
/// checks) asks here. Calls `libbpf_num_possible_cpus`.
public func possibleCPUCount() throws(BPFError) -> Int {
    if let n = possibleCPUCache { return n }
    let n = libbpf_num_possible_cpus()
    if n < 0 { throw BPFError("get number of possible CPUs", errno: -n) }
    possibleCPUCache = Int(n)
    return Int(n)
}
