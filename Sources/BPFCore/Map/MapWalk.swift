#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A run of elements read from a map: `count` keys and values laid out back
/// to back in buffers owned by the walk (valid only during the visit).
public struct MapEntries {
    public let count: Int
    public let keySize: Int
    /// Bytes per element in `values` (per-CPU maps: every CPU's slot).
    public let valueStride: Int
    let keys: UnsafeRawPointer?
    let values: UnsafeRawPointer?

    /// The key of element `i`.
    @inline(__always)
    public func key(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: keys.map { $0 + i * keySize }, count: keySize)
    }

    /// The value (all CPUs' slots for per-CPU maps) of element `i`.
    @inline(__always)
    public func value(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: values.map { $0 + i * valueStride }, count: valueStride)
    }
}

/// How a walk read the map.
public enum MapWalkMethod: Sendable, Equatable {
    /// BPF_MAP_LOOKUP_BATCH.
    case batched
    /// get_next_key followed by lookup, one element at a time.
    case elementByElement
}

/// Receives what a walk reads.
public protocol MapWalkVisitor {
    /// A run of elements read successfully.
    mutating func visit(_ entries: MapEntries) throws(BPFError)
    /// A key whose lookup failed (element-by-element walks only; e.g. ENOENT
    /// for an empty prog_array slot or an element deleted meanwhile).
    mutating func visitLookupFailure(key: UnsafeRawBufferPointer, errno: Int32) throws(BPFError)
}

extension BPFMap {
    /// Reads every element, in the kernel's iteration order (the order
    /// get_next_key gives), handing them to `visitor` in runs.
    ///
    /// Uses BPF_MAP_LOOKUP_BATCH for the hash and array families when the
    /// kernel accepts it, else get_next_key + lookup. `preferBatch: false`
    /// forces the element-by-element walk.
    /// Calls `bpf_map_lookup_batch`, `bpf_map_get_next_key`, `bpf_map_lookup_elem`.
    @discardableResult
    public func walk<V: MapWalkVisitor>(_ visitor: inout V, preferBatch: Bool = true,
                                        batchBytes: Int = 1 << 18) throws(BPFError) -> MapWalkMethod {
        if preferBatch && info.type.supportsBatchedLookup && info.keySize > 0 {
            if try walkBatched(&visitor, batchBytes: batchBytes) { return .batched }
        }
        try walkByKey(&visitor)
        return .elementByElement
    }

    /// Returns false when the kernel refuses batched lookups for this map
    /// before anything was read (the caller falls back).
    private func walkBatched<V: MapWalkVisitor>(_ visitor: inout V, batchBytes: Int) throws(BPFError) -> Bool {
        let keySize = Int(info.keySize)
        let stride = try valueBufferSize()
        var count = max(64, batchBytes / max(1, keySize + stride))
        if info.maxEntries > 0 { count = min(count, max(64, Int(info.maxEntries))) }
        var cap = count
        var keys = UnsafeMutableRawPointer.allocate(byteCount: cap * keySize, alignment: 8)
        var values = UnsafeMutableRawPointer.allocate(byteCount: max(1, cap * stride), alignment: 8)
        defer { keys.deallocate(); values.deallocate() }
        let cursorSize = max(8, keySize)
        let inBatch = UnsafeMutableRawPointer.allocate(byteCount: cursorSize, alignment: 8)
        let outBatch = UnsafeMutableRawPointer.allocate(byteCount: cursorSize, alignment: 8)
        defer { inBatch.deallocate(); outBatch.deallocate() }
        return try withLibbpfOptions(bpf_map_batch_opts.self) { (opts) throws(BPFError) -> Bool in
            var first = true
            while true {
                var n = UInt32(cap)
                let r = bpf_map_lookup_batch(fd.rawValue, first ? nil : inBatch, outBatch, keys, values, &n, opts)
                let e: Int32 = r == 0 ? 0 : (r == -1 ? Glibc.errno : -r)
                if e != 0 && e != ENOENT {
                    if e == ENOSPC && n == 0 {
                        // One hash bucket holds more elements than fit: grow and retry.
                        cap *= 2
                        keys.deallocate(); values.deallocate()
                        keys = UnsafeMutableRawPointer.allocate(byteCount: cap * keySize, alignment: 8)
                        values = UnsafeMutableRawPointer.allocate(byteCount: max(1, cap * stride), alignment: 8)
                        continue
                    }
                    if first && (e == EINVAL || e == EOPNOTSUPP || e == 524 /* ENOTSUPP */ || e == EPERM) {
                        return false
                    }
                    throw BPFError("batched lookup in \(label)", errno: e)
                }
                first = false
                if n > 0 {
                    try visitor.visit(MapEntries(count: Int(n), keySize: keySize, valueStride: stride,
                                                 keys: UnsafeRawPointer(keys), values: UnsafeRawPointer(values)))
                }
                if e == ENOENT { return true }
                inBatch.copyMemory(from: outBatch, byteCount: cursorSize)
            }
        }
    }

    private func walkByKey<V: MapWalkVisitor>(_ visitor: inout V) throws(BPFError) {
        let keySize = Int(info.keySize)
        let stride = try valueBufferSize()
        let key = UnsafeMutableRawPointer.allocate(byteCount: max(1, keySize), alignment: 8)
        let value = UnsafeMutableRawPointer.allocate(byteCount: max(1, stride), alignment: 8)
        defer { key.deallocate(); value.deallocate() }
        var havePrevious = false
        while true {
            let r = bpf_map_get_next_key(fd.rawValue, havePrevious ? key : nil, key)
            if r != 0 {
                let e = r == -1 ? Glibc.errno : -r
                if e == ENOENT { return }
                throw BPFError("get next key in \(label)", errno: e)
            }
            havePrevious = true
            let l = bpf_map_lookup_elem(fd.rawValue, key, value)
            if l != 0 {
                let e = l == -1 ? Glibc.errno : -l
                try visitor.visitLookupFailure(key: UnsafeRawBufferPointer(start: key, count: keySize), errno: e)
                continue
            }
            try visitor.visit(MapEntries(count: 1, keySize: keySize, valueStride: stride,
                                         keys: UnsafeRawPointer(key), values: UnsafeRawPointer(value)))
        }
    }
}
