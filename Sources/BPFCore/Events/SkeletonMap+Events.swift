#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

extension SkeletonMap {
    /// Whether the map is a ring buffer (`BPF_MAP_TYPE_RINGBUF`).
    public var isRingBuffer: Bool { map.type == BPF_MAP_TYPE_RINGBUF.rawValue }
    /// Whether the map is a perf event array (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`).
    public var isPerfEventArray: Bool { map.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY.rawValue }

    /// A blocking reader of this ring buffer or perf event array (loaded):
    ///
    ///     let rb = try skel.maps.events.reader()
    ///     try rb.poll(timeout: .milliseconds(100)) { bytes in ... }
    ///
    /// Add more ring buffers with `add(_:)`. Calls `ring_buffer__new` or
    /// `perf_buffer__new` (`pagesPerCPU` pages per CPU).
    public func reader(pagesPerCPU: Int = 64) throws(BPFError) -> EventReader {
        if isRingBuffer { return try EventReader.ringBuffer(map: fd ?? -1, name: name) }
        if isPerfEventArray { return try EventReader.perfBuffer(map: fd ?? -1, name: name, pagesPerCPU: pagesPerCPU) }
        throw BPFError("read events from map \(name): a \(map.typeName) map, not a ringbuf or perf_event_array", errno: EINVAL)
    }

    /// The records as typed values, decoded at their BTF offsets (generated
    /// `Types.<name>`). A record whose size is not `T.btfSize` ends the
    /// loop with an error naming both sizes. Lost perf samples go to
    /// `onLost`, or end the loop with an error when it is nil. A perf event
    /// array gets `pagesPerCPU` pages of buffer for each CPU (a power of
    /// two; libbpf's `page_cnt`); ring buffers have the size of their map.
    @inlinable
    public func records<T: BTFCodable>(as type: T.Type, onLost: (@Sendable (LostSamples) -> Void)? = nil,
                       pagesPerCPU: Int = 64) -> EventRecords<T> {
        typedRecords(size: T.btfSize, layoutExact: false, onLost: onLost, pagesPerCPU: pagesPerCPU) { T(btfBytes: $0) }
    }

    /// The records as values of a plain Swift type laid out like the C
    /// record (`MemoryLayout<T>.size` bytes, copied as they are). A record
    /// of another size ends the loop with an error naming both sizes.
    @inlinable
    public func records<T: BitwiseCopyable>(as type: T.Type, onLost: (@Sendable (LostSamples) -> Void)? = nil,
                       pagesPerCPU: Int = 64) -> EventRecords<T> {
        typedRecords(size: MemoryLayout<T>.size, layoutExact: true, onLost: onLost, pagesPerCPU: pagesPerCPU) {
            $0.loadUnaligned(as: T.self)
        }
    }

    /// For types that are both (integers): decoded as BTF values.
    @inlinable
    public func records<T: BTFCodable & BitwiseCopyable>(as type: T.Type, onLost: (@Sendable (LostSamples) -> Void)? = nil,
                       pagesPerCPU: Int = 64) -> EventRecords<T> {
        typedRecords(size: T.btfSize, layoutExact: false, onLost: onLost, pagesPerCPU: pagesPerCPU) { T(btfBytes: $0) }
    }

    /// Generated `Types.<name>` (layout-exact): past the first record of a
    /// run of one size, each record is one unaligned load, unless the type
    /// has C `bool` members, which its decoder normalizes to 0 or 1.
    @inlinable
    public func records<T: BTFRecord>(as type: T.Type, onLost: (@Sendable (LostSamples) -> Void)? = nil,
                       pagesPerCPU: Int = 64) -> EventRecords<T> {
        typedRecords(size: T.btfSize, layoutExact: T.btfBools.isEmpty && T.btfSize == MemoryLayout<T>.size,
                     onLost: onLost, pagesPerCPU: pagesPerCPU) { T(btfBytes: $0) }
    }

    /// What every typed `records(as:)` builds: records of `size` bytes
    /// (perf buffers: up to 7 bytes of the kernel's padding more), checked
    /// and then decoded by `decode`. `layoutExact`: past the first record of
    /// a run of one size, the iterator loads records itself (one unaligned
    /// load, what `decode` does for such a type).
    @inlinable
    func typedRecords<T>(size: Int, layoutExact: Bool, onLost: (@Sendable (LostSamples) -> Void)?, pagesPerCPU: Int,
                         decode: @escaping @Sendable (UnsafeRawBufferPointer) -> T) -> EventRecords<T> {
        let perf = isPerfEventArray, name = name
        return EventRecords(open: { () throws(BPFError) in try self.reader(pagesPerCPU: pagesPerCPU) }, onLost: onLost,
                            ringMap: isRingBuffer ? self : nil, layoutExact: layoutExact) { (b) throws(BPFError) -> T in
            try RecordDecoding.check(b, expected: size, type: T.self, map: name, perf: perf)
            return decode(b)
        }
    }

    /// The records as bytes, whatever their size.
    @inlinable
    public func records(onLost: (@Sendable (LostSamples) -> Void)? = nil,
                       pagesPerCPU: Int = 64) -> EventRecords<[UInt8]> {
        EventRecords(open: { () throws(BPFError) in try self.reader(pagesPerCPU: pagesPerCPU) }, onLost: onLost,
                     ringMap: isRingBuffer ? self : nil, layoutExact: false) { (b) throws(BPFError) -> [UInt8] in Array(b) }
    }
}

extension EventReader {
    /// Adds the ring buffer `map` (of any skeleton) to this reader. Calls `ring_buffer__add`.
    public func add(_ map: SkeletonMap) throws(BPFError) {
        try add(ringBuffer: map.fd ?? -1, name: map.name)
    }
}
