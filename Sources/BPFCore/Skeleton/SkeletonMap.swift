#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A map of a skeleton's object, with byte-level element access. Typed maps
/// (`SkeletonTypedMap`, `SkeletonPerCPUMap`) add access with generated Swift
/// key and value types.
public class SkeletonMap: @unchecked Sendable {
    /// Flags of an update (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK).
    public struct UpdateFlags: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        /// Create or replace (BPF_ANY).
        public static let any: UpdateFlags = []
        /// Only create (BPF_NOEXIST).
        public static let noExist = UpdateFlags(rawValue: 1)
        /// Only replace (BPF_EXIST).
        public static let exist = UpdateFlags(rawValue: 2)
        /// Take the value's bpf_spin_lock (BPF_F_LOCK).
        public static let lock = UpdateFlags(rawValue: 4)
    }

    /// The map in the object.
    public let map: ObjectMap
    /// A ring buffer's mapping kept between `records(as:)` loops (Events/EventRecords.swift).
    @usableFromInline let ringMappings = RingMappingCache()

    init(map: ObjectMap) { self.map = map }

    /// The map's name in the object (e.g. "hit_map" or "counter.bss").
    public var name: String { map.name }
    /// The map's fd once loaded (borrowed), or nil.
    public var fd: Int32? { map.fd }
    public var keySize: Int { Int(map.keySize) }
    public var valueSize: Int { Int(map.valueSize) }
    public var maxEntries: Int { Int(map.maxEntries) }
    /// Whether the map is created at load. Calls `bpf_map__autocreate`.
    public var autocreate: Bool { map.autocreate }
    /// Turns creation at load on or off (before load). Calls `bpf_map__set_autocreate`.
    public func setAutocreate(_ on: Bool) throws(BPFError) { try map.setAutocreate(on) }

    /// Whether a value holds one slot per possible CPU.
    public var isPerCPU: Bool {
        switch bpf_map_type(map.type) {
        case BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_PERCPU_HASH,
             BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
            return true
        default:
            return false
        }
    }

    /// Bytes of one lookup result: the value size, or for per-CPU maps the
    /// value size rounded up to 8 times the number of possible CPUs.
    public var valueBufferSize: Int {
        isPerCPU ? (valueSize + 7) / 8 * 8 * SkeletonMap.possibleCPUs : valueSize
    }

    /// Number of possible CPUs (per-CPU values have one slot each). Calls `libbpf_num_possible_cpus`.
    public static var possibleCPUs: Int { (try? possibleCPUCount()) ?? 1 }

    private func requireLoaded(_ what: String) throws(BPFError) {
        guard map.object.isLoaded, map.autocreate, map.fd != nil else {
            throw BPFError("\(what) map \(name): map is not loaded", errno: EBADF)
        }
    }

    private func checkKey(_ key: [UInt8], _ what: String) throws(BPFError) {
        if key.count != keySize {
            throw BPFError("\(what) map \(name): key has \(key.count) bytes, the map's keys have \(keySize)", errno: EINVAL)
        }
    }

    /// The value at `key`, or nil when there is none. Calls `bpf_map__lookup_elem`.
    public func lookup(bytes key: [UInt8], flags: UInt64 = 0) throws(BPFError) -> [UInt8]? {
        try requireLoaded("look up in")
        try checkKey(key, "look up in")
        var value = [UInt8](repeating: 0, count: valueBufferSize)
        let r = key.withUnsafeBytes { k in
            value.withUnsafeMutableBytes { v in
                bpf_map__lookup_elem(map.handle, k.baseAddress, k.count, v.baseAddress, v.count, flags)
            }
        }
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            if e == ENOENT { return nil }
            throw BPFError("look up key \(hexString(key)) in map \(name)", errno: e)
        }
        return value
    }

    /// Creates or replaces the value at `key`. Calls `bpf_map__update_elem`.
    public func update(bytes key: [UInt8], value: [UInt8], flags: UpdateFlags = .any) throws(BPFError) {
        try requireLoaded("update")
        try checkKey(key, "update")
        if value.count != valueBufferSize {
            throw BPFError("update map \(name): value has \(value.count) bytes, the map needs \(valueBufferSize)", errno: EINVAL)
        }
        let r = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                bpf_map__update_elem(map.handle, k.baseAddress, k.count, v.baseAddress, v.count, flags.rawValue)
            }
        }
        try check(r, "update key \(hexString(key)) in map \(name)")
    }

    /// Deletes the value at `key`; false when there was none. Calls `bpf_map__delete_elem`.
    @discardableResult
    public func delete(bytes key: [UInt8]) throws(BPFError) -> Bool {
        try requireLoaded("delete from")
        try checkKey(key, "delete from")
        let r = key.withUnsafeBytes { k in bpf_map__delete_elem(map.handle, k.baseAddress, k.count, 0) }
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            if e == ENOENT { return false }
            throw BPFError("delete key \(hexString(key)) from map \(name)", errno: e)
        }
        return true
    }

    /// The key after `key` (the first key when nil), or nil at the end. Calls `bpf_map__get_next_key`.
    public func nextKey(bytes key: [UInt8]?) throws(BPFError) -> [UInt8]? {
        try requireLoaded("iterate")
        if let key { try checkKey(key, "iterate") }
        var next = [UInt8](repeating: 0, count: keySize)
        let r: Int32 = next.withUnsafeMutableBytes { n in
            if let key {
                return key.withUnsafeBytes { k in bpf_map__get_next_key(map.handle, k.baseAddress, n.baseAddress, n.count) }
            }
            return bpf_map__get_next_key(map.handle, nil, n.baseAddress, n.count)
        }
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            if e == ENOENT { return nil }
            throw BPFError("get next key of map \(name)", errno: e)
        }
        return next
    }

    /// Every key, in the kernel's iteration order.
    public func keyBytes() throws(BPFError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var cur: [UInt8]? = nil
        // A hash map restarts from its first key when the previous key is
        // deleted meanwhile; the bound keeps such a race from looping forever.
        let bound = max(maxEntries, 1) * 2 + 16
        while out.count < bound, let k = try nextKey(bytes: cur) {
            out.append(k)
            cur = k
        }
        return out
    }
}

/// A map whose key and value types come from BTF (`__type(key, ...)`,
/// `__type(value, ...)`): elements are read and written as generated Swift
/// types, encoded at their BTF offsets.
public final class SkeletonTypedMap<Key, Value>: SkeletonMap {
    public let keyCodec: BTFCodec<Key>
    public let valueCodec: BTFCodec<Value>

    init(map: ObjectMap, key: BTFCodec<Key>, value: BTFCodec<Value>) {
        keyCodec = key
        valueCodec = value
        super.init(map: map)
    }

    /// The value at `key`, or nil when there is none. Calls `bpf_map__lookup_elem`.
    public func lookup(_ key: Key) throws(BPFError) -> Value? {
        guard let v = try lookup(bytes: keyCodec.encode(key)) else { return nil }
        return v.withUnsafeBytes { valueCodec.load($0, at: 0) }
    }

    /// Creates or replaces the value at `key`. Calls `bpf_map__update_elem`.
    public func update(_ key: Key, _ value: Value, flags: UpdateFlags = .any) throws(BPFError) {
        try update(bytes: keyCodec.encode(key), value: valueCodec.encode(value), flags: flags)
    }

    /// Deletes the value at `key`; false when there was none. Calls `bpf_map__delete_elem`.
    @discardableResult
    public func delete(_ key: Key) throws(BPFError) -> Bool {
        try delete(bytes: keyCodec.encode(key))
    }

    /// Every key. Calls `bpf_map__get_next_key`.
    public func keys() throws(BPFError) -> [Key] {
        try keyBytes().map { k in k.withUnsafeBytes { keyCodec.load($0, at: 0) } }
    }

    /// Every key with its value (keys deleted while iterating are left out).
    public func entries() throws(BPFError) -> [(key: Key, value: Value)] {
        var out: [(key: Key, value: Value)] = []
        for k in try keyBytes() {
            guard let v = try lookup(bytes: k) else { continue }
            out.append((k.withUnsafeBytes { keyCodec.load($0, at: 0) }, v.withUnsafeBytes { valueCodec.load($0, at: 0) }))
        }
        return out
    }
}

/// A per-CPU map with BTF key and value types: a value is one slot per
/// possible CPU.
public final class SkeletonPerCPUMap<Key, Value>: SkeletonMap {
    public let keyCodec: BTFCodec<Key>
    public let valueCodec: BTFCodec<Value>

    init(map: ObjectMap, key: BTFCodec<Key>, value: BTFCodec<Value>) {
        keyCodec = key
        valueCodec = value
        super.init(map: map)
    }

    private var slotStride: Int { (valueSize + 7) / 8 * 8 }

    func decodeSlots(_ bytes: [UInt8]) -> [Value] {
        let stride = slotStride
        guard stride > 0, valueCodec.size <= stride else { return [] }
        return bytes.withUnsafeBytes { b in
            (0..<bytes.count / stride).map { valueCodec.load(b, at: $0 * stride) }
        }
    }

    /// The bytes of one per-CPU value (`values.count` must be `SkeletonMap.possibleCPUs`).
    func encodeSlots(_ values: [Value], _ what: String) throws(BPFError) -> [UInt8] {
        let n = SkeletonMap.possibleCPUs
        guard values.count == n else {
            throw BPFError("\(what) map \(name): \(values.count) per-CPU values given, the host has \(n) possible CPUs", errno: EINVAL)
        }
        guard valueCodec.size <= slotStride else {
            throw BPFError("\(what) map \(name): the value type has \(valueCodec.size) bytes, the map's values have \(valueSize)", errno: EINVAL)
        }
        var bytes = [UInt8](repeating: 0, count: valueBufferSize)
        bytes.withUnsafeMutableBytes { b in
            for (i, v) in values.enumerated() { valueCodec.store(v, b, at: i * slotStride) }
        }
        return bytes
    }

    /// The value of each possible CPU at `key`, or nil. Calls `bpf_map__lookup_elem`.
    public func lookup(_ key: Key) throws(BPFError) -> [Value]? {
        guard let v = try lookup(bytes: keyCodec.encode(key)) else { return nil }
        return decodeSlots(v)
    }

    /// Sets the value of each possible CPU (`values.count` must be
    /// `SkeletonMap.possibleCPUs`). Calls `bpf_map__update_elem`.
    public func update(_ key: Key, _ values: [Value], flags: UpdateFlags = .any) throws(BPFError) {
        try update(bytes: keyCodec.encode(key), value: encodeSlots(values, "update"), flags: flags)
    }

    /// Sets the same value on every CPU.
    public func update(_ key: Key, allCPUs value: Value, flags: UpdateFlags = .any) throws(BPFError) {
        try update(key, Array(repeating: value, count: SkeletonMap.possibleCPUs), flags: flags)
    }

    /// Deletes the values at `key`; false when there were none. Calls `bpf_map__delete_elem`.
    @discardableResult
    public func delete(_ key: Key) throws(BPFError) -> Bool {
        try delete(bytes: keyCodec.encode(key))
    }

    /// Every key. Calls `bpf_map__get_next_key`.
    public func keys() throws(BPFError) -> [Key] {
        try keyBytes().map { k in k.withUnsafeBytes { keyCodec.load($0, at: 0) } }
    }

    /// Every key with its per-CPU values.
    public func entries() throws(BPFError) -> [(key: Key, values: [Value])] {
        var out: [(key: Key, values: [Value])] = []
        for k in try keyBytes() {
            guard let v = try lookup(bytes: k) else { continue }
            out.append((k.withUnsafeBytes { keyCodec.load($0, at: 0) }, decodeSlots(v)))
        }
        return out
    }
}
