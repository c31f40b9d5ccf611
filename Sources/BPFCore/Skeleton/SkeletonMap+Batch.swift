#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

extension SkeletonMap {
    /// Up to `maxCount` entries after the position `token` (nil: from the
    /// start), and the token of the next chunk (nil: the map ended). Per-CPU
    /// values are `valueBufferSize` bytes. Calls `bpf_map_lookup_batch`.
    public func lookupBatch(after token: [UInt8]?, maxCount: Int = 128) throws(BPFError) -> (entries: [(key: [UInt8], value: [UInt8])], next: [UInt8]?) {
        guard let f = fd, map.object.isLoaded else { throw BPFError("batch look up in map \(name): map is not loaded", errno: EBADF) }
        guard maxCount > 0 else { throw BPFError("batch look up in map \(name): count \(maxCount) is not positive", errno: EINVAL) }
        // The kernel hands back at most the map's entries: no bigger buffers than that.
        let maxCount = Swift.min(maxCount, Swift.max(maxEntries, 1))
        let tokenSize = max(keySize, 8)
        if let token, token.count != tokenSize {
            throw BPFError("batch look up in map \(name): a token of \(token.count) bytes, not \(tokenSize)", errno: EINVAL)
        }
        var keys = [UInt8](repeating: 0, count: keySize * maxCount)
        var values = [UInt8](repeating: 0, count: valueBufferSize * maxCount)
        var out = [UInt8](repeating: 0, count: tokenSize)
        var count = UInt32(maxCount)
        var input = token ?? []
        let r = keys.withUnsafeMutableBytes { k in
            values.withUnsafeMutableBytes { v in
                out.withUnsafeMutableBytes { o in
                    input.withUnsafeMutableBytes { i in
                        bpf_map_lookup_batch(f, token == nil ? nil : i.baseAddress, o.baseAddress, k.baseAddress, v.baseAddress, &count, nil)
                    }
                }
            }
        }
        var ended = false
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            guard e == ENOENT else { throw BPFError("batch look up in map \(name)", errno: e) }
            ended = true  // the last chunk (possibly empty)
        }
        let n = min(Int(count), maxCount)
        var entries: [(key: [UInt8], value: [UInt8])] = []
        entries.reserveCapacity(n)
        for i in 0..<n {
            entries.append((Array(keys[i * keySize..<(i + 1) * keySize]),
                            Array(values[i * valueBufferSize..<(i + 1) * valueBufferSize])))
        }
        return (entries, ended ? nil : out)
    }

    /// Creates or replaces every entry in one call. Calls `bpf_map_update_batch`.
    public func updateBatch(_ entries: [(key: [UInt8], value: [UInt8])], flags: UpdateFlags = .any) throws(BPFError) {
        guard let f = fd, map.object.isLoaded else { throw BPFError("batch update map \(name): map is not loaded", errno: EBADF) }
        guard flags.subtracting(.lock).isEmpty else {
            throw BPFError("batch update map \(name): flags other than lock do not apply to batch updates "
                           + "(the kernel takes BPF_F_LOCK only)", errno: EINVAL)
        }
        guard let _ = UInt32(exactly: entries.count) else {
            throw BPFError("batch update map \(name): \(entries.count) entries are more than one call takes", errno: E2BIG)
        }
        var keys: [UInt8] = [], values: [UInt8] = []
        for (i, e) in entries.enumerated() {
            guard e.key.count == keySize, e.value.count == valueBufferSize else {
                throw BPFError("batch update map \(name): entry \(i) has a \(e.key.count)-byte key and a \(e.value.count)-byte value, "
                               + "the map needs \(keySize) and \(valueBufferSize)", errno: EINVAL)
            }
            keys += e.key
            values += e.value
        }
        if entries.isEmpty { return }
        var count = UInt32(entries.count)
        let r = withLibbpfOptions(bpf_map_batch_opts.self) { o in
            o.pointee.elem_flags = flags.rawValue
            return keys.withUnsafeBytes { k in values.withUnsafeBytes { v in bpf_map_update_batch(f, k.baseAddress, v.baseAddress, &count, o) } }
        }
        try check(r, "batch update map \(name) (\(count) of \(entries.count) entries written)")
    }

    /// Deletes every key in one call; a missing key is an error (ENOENT),
    /// naming how many went before it. Calls `bpf_map_delete_batch`.
    public func deleteBatch(_ keys: [[UInt8]]) throws(BPFError) {
        guard let f = fd, map.object.isLoaded else { throw BPFError("batch delete from map \(name): map is not loaded", errno: EBADF) }
        var flat: [UInt8] = []
        for (i, k) in keys.enumerated() {
            guard k.count == keySize else {
                throw BPFError("batch delete from map \(name): key \(i) has \(k.count) bytes, the map's keys have \(keySize)", errno: EINVAL)
            }
            flat += k
        }
        if keys.isEmpty { return }
        guard var count = UInt32(exactly: keys.count) else {
            throw BPFError("batch delete from map \(name): \(keys.count) keys are more than one call takes", errno: E2BIG)
        }
        let r = flat.withUnsafeBytes { k in bpf_map_delete_batch(f, k.baseAddress, &count, nil) }
        try check(r, "batch delete from map \(name) (\(count) of \(keys.count) keys deleted)")
    }
}

/// The entries of a typed map, read lazily in batches (`bpf_map_lookup_batch`,
/// or key by key where the map type has no batch lookup). A read that fails
/// ends the sequence; `error` then says why.
public final class TypedMapEntries<Key, Value>: Sequence, IteratorProtocol {
    private let map: SkeletonMap
    private let decode: ([UInt8], [UInt8]) -> (key: Key, value: Value)
    private var chunk: [(key: [UInt8], value: [UInt8])] = []
    private var index = 0
    private var token: [UInt8]?
    private var started = false
    private var ended = false
    private var keyByKey = false
    private var lastKey: [UInt8]?
    private var steps = 0
    /// Why the iteration ended early, if it did.
    public private(set) var error: BPFError?

    init(map: SkeletonMap, decode: @escaping ([UInt8], [UInt8]) -> (key: Key, value: Value)) {
        self.map = map
        self.decode = decode
    }

    public func next() -> (key: Key, value: Value)? {
        while index >= chunk.count {
            guard !ended else { return nil }
            do { try refill() } catch {
                self.error = error
                ended = true
                return nil
            }
        }
        defer { index += 1 }
        return decode(chunk[index].key, chunk[index].value)
    }

    private func refill() throws(BPFError) {
        chunk = []
        index = 0
        if !keyByKey {
            do {
                let r = try map.lookupBatch(after: started ? token : nil)
                started = true
                chunk = r.entries
                token = r.next
                if token == nil { ended = true }
                return
            } catch where error.errno == EINVAL || error.errno == ENOTSUP || error.errno == EOPNOTSUPP || error.errno == 524 {
                keyByKey = true  // this map type has no batch lookup
            }
        }
        // A hash map restarts when the previous key is deleted meanwhile: bounded.
        steps += 1
        guard steps <= Swift.max(map.maxEntries, 1) * 2 + 16, let k = try map.nextKey(bytes: lastKey) else {
            ended = true
            return
        }
        lastKey = k
        if let v = try map.lookup(bytes: k) { chunk = [(k, v)] }
    }
}

extension SkeletonTypedMap: Sequence {
    /// The entries, lazily, in batches: `for (key, value) in map`.
    public func makeIterator() -> TypedMapEntries<Key, Value> {
        TypedMapEntries(map: self) { [keyCodec, valueCodec] k, v in
            (k.withUnsafeBytes { keyCodec.load($0, at: 0) }, v.withUnsafeBytes { valueCodec.load($0, at: 0) })
        }
    }

    /// The value at `key`, or nil when there is none or the lookup failed
    /// (`lookup` says why). Calls `bpf_map__lookup_elem`.
    public subscript(key: Key) -> Value? {
        (try? lookup(key)) ?? nil
    }

    /// Creates or replaces every pair in one call. Calls `bpf_map_update_batch`.
    public func update(batch: [(Key, Value)], flags: UpdateFlags = .any) throws(BPFError) {
        try updateBatch(batch.map { (keyCodec.encode($0.0), valueCodec.encode($0.1)) }, flags: flags)
    }

    /// Deletes every key in one call. Calls `bpf_map_delete_batch`.
    public func delete(batch keys: [Key]) throws(BPFError) {
        try deleteBatch(keys.map { keyCodec.encode($0) })
    }

    /// Every entry, read in batches of `chunk`. Calls `bpf_map_lookup_batch`.
    public func lookupAll(chunk: Int = 128) throws(BPFError) -> [(key: Key, value: Value)] {
        var out: [(key: Key, value: Value)] = []
        var token: [UInt8]? = nil
        repeat {
            let r = try lookupBatch(after: token, maxCount: chunk)
            for e in r.entries {
                out.append((e.key.withUnsafeBytes { keyCodec.load($0, at: 0) }, e.value.withUnsafeBytes { valueCodec.load($0, at: 0) }))
            }
            token = r.next
        } while token != nil
        return out
    }
}

extension SkeletonPerCPUMap: Sequence {
    /// The entries with one value per possible CPU, lazily, in batches:
    /// `for (key, values) in map`.
    public func makeIterator() -> TypedMapEntries<Key, [Value]> {
        TypedMapEntries(map: self) { [keyCodec] k, v in
            (k.withUnsafeBytes { keyCodec.load($0, at: 0) }, self.decodeSlots(v))
        }
    }

    /// The value of each possible CPU at `key`, or nil when there is none or
    /// the lookup failed (`lookup` says why). Calls `bpf_map__lookup_elem`.
    public subscript(key: Key) -> [Value]? {
        (try? lookup(key)) ?? nil
    }

    /// Sets every key's per-CPU values in one call (each `values.count`
    /// must be `SkeletonMap.possibleCPUs`). Calls `bpf_map_update_batch`.
    public func update(batch: [(Key, [Value])], flags: UpdateFlags = .any) throws(BPFError) {
        var entries: [(key: [UInt8], value: [UInt8])] = []
        entries.reserveCapacity(batch.count)
        for (k, vs) in batch { entries.append((keyCodec.encode(k), try encodeSlots(vs, "batch update"))) }
        try updateBatch(entries, flags: flags)
    }

    /// Sets the same value on every CPU of every key, in one call.
    public func update(allCPUs batch: [(Key, Value)], flags: UpdateFlags = .any) throws(BPFError) {
        let n = SkeletonMap.possibleCPUs
        try update(batch: batch.map { ($0.0, Array(repeating: $0.1, count: n)) }, flags: flags)
    }

    /// Deletes every key in one call. Calls `bpf_map_delete_batch`.
    public func delete(batch keys: [Key]) throws(BPFError) {
        try deleteBatch(keys.map { keyCodec.encode($0) })
    }

    /// Every entry with its per-CPU values, read in batches of `chunk`.
    /// Calls `bpf_map_lookup_batch`.
    public func lookupAll(chunk: Int = 128) throws(BPFError) -> [(key: Key, values: [Value])] {
        var out: [(key: Key, values: [Value])] = []
        var token: [UInt8]? = nil
        repeat {
            let r = try lookupBatch(after: token, maxCount: chunk)
            for e in r.entries { out.append((e.key.withUnsafeBytes { keyCodec.load($0, at: 0) }, decodeSlots(e.value))) }
            token = r.next
        } while token != nil
        return out
    }
}
