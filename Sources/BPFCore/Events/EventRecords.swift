#if canImport(Glibc)
import Glibc
#endif
import Synchronization
internal import CLibBPF

/// The records of a ring buffer or perf event array as an AsyncSequence of
/// typed values:
///
///     for try await e in skel.maps.events.records(as: Types.event.self) {
///         print(e.pid)
///     }
///
/// The records of a skeleton's ring buffer are read where the kernel wrote
/// them, through a mapping of the ring the map keeps between loops: no copy
/// and no call per record. They are handed out in runs of one size (at most
/// 128 KiB of ring), and the ring's space goes back to the producers run by
/// run; a consumer that falls behind leaves the records in the kernel's
/// buffer, which fills (the producer sees failed reserves) instead of this
/// process's memory. When the loop finds the ring empty, a reader thread
/// blocks in epoll on the map (an idle loop costs no CPU) until records
/// arrive. Leaving the loop or cancelling its task wakes that thread through
/// an eventfd in the same epoll set, and the thread and its descriptors are
/// gone when the loop has ended; the records of the run in hand go with it.
///
/// Perf buffers (and the reader an `open` closure makes) are read by the
/// thread, which copies records out in batches and pauses after
/// `EventRecords.highWater` records the consumer has not taken yet (the
/// perf buffer then counts lost samples).
///
/// Errors end the loop: a record whose size is not the type's (naming both
/// sizes), a reader that cannot be made (map not loaded, not an event map),
/// and, for perf buffers, lost samples unless `onLost` takes them.
public struct EventRecords<Element>: AsyncSequence, @unchecked Sendable {
    /// Records of a perf buffer read ahead of the consumer before the reader thread pauses.
    public static var highWater: Int { 65536 }

    let open: @Sendable () throws(BPFError) -> EventReader
    @usableFromInline let decode: @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element
    let onLost: (@Sendable (LostSamples) -> Void)?
    /// `Element` is a bitwise-copyable type laid out like the record, and
    /// `decode` only checks the size and loads it: the records after the
    /// first of a run of one size are loaded without calling it.
    @usableFromInline let layoutExact: Bool
    /// A ring buffer map of a skeleton read in place (nil: `open`'s reader).
    @usableFromInline let ringMap: SkeletonMap?

    /// Records decoded by `decode` from the reader `open` makes when the
    /// iteration starts. `onLost` takes lost perf samples (nil: they end the
    /// loop with an error).
    public init(open: @escaping @Sendable () throws(BPFError) -> EventReader,
                onLost: (@Sendable (LostSamples) -> Void)? = nil,
                decode: @escaping @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element) {
        self.init(open: open, onLost: onLost, ringMap: nil, layoutExact: false, decode: decode)
    }

    /// `ringMap`: a ring buffer map read in place instead of through `open`.
    @usableFromInline
    init(open: @escaping @Sendable () throws(BPFError) -> EventReader,
         onLost: (@Sendable (LostSamples) -> Void)?, ringMap: SkeletonMap?, layoutExact: Bool,
         decode: @escaping @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element) {
        self.open = open
        self.decode = decode
        self.onLost = onLost
        self.ringMap = ringMap
        self.layoutExact = layoutExact
    }

    public func makeAsyncIterator() -> Iterator {
        do {
            let source = try ringMap.map { m throws(BPFError) in try RecordSource(ring: m) }
                ?? RecordSource(reader: open(), onLost: onLost)
            return Iterator(source: source, failure: nil, decode: decode, layoutExact: layoutExact)
        } catch {
            return Iterator(source: nil, failure: error, decode: decode, layoutExact: layoutExact)
        }
    }

    /// Hands out the records of the run in hand: a run is records of one
    /// size back to back at a fixed stride, whose first record `decode`
    /// has checked. The per-record path below is inlinable (specialized
    /// for `Element` in the consumer's code), has no await and no call for
    /// a layout-exact type: a pointer compare, (in a ring) a compare of the
    /// record's header with the run's, an unaligned load and a pointer
    /// step. Only the end of a run goes to `nextRun`.
    public struct Iterator: AsyncIteratorProtocol {
        @usableFromInline var cursor: UnsafeRawPointer?
        @usableFromInline var end: UnsafeRawPointer?
        @usableFromInline var stride = 0
        @usableFromInline var size = 0
        /// A run in a ring buffer: each record is handed out once its
        /// header is `header` (committed, kept, the run's size).
        @usableFromInline var inRing = false
        @usableFromInline var header: UInt32 = 0
        @usableFromInline var source: RecordSource?
        var failure: (any Error)?
        @usableFromInline let decode: @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element
        @usableFromInline let layoutExact: Bool

        init(source: RecordSource?, failure: (any Error)?,
             decode: @escaping @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element, layoutExact: Bool) {
            self.source = source
            self.failure = failure
            self.decode = decode
            self.layoutExact = layoutExact
        }

        @inlinable
        public mutating func next() async throws -> Element? {
            try await next(isolation: nil)
        }

        /// The next record, on the caller's executor (what `for try await`
        /// calls). It runs where its caller runs (nonisolated(nonsending):
        /// no executor hop at its start nor after it returns, which an
        /// `isolated` parameter costs twice per record on the main actor,
        /// the caller's isolation not being provably `actor`), and a record
        /// of the run in hand is returned without suspending.
        @inlinable @inline(__always)
        nonisolated(nonsending) public mutating func next(isolation actor: (any Actor)?) async throws -> Element? {
            if _fastPath(cursor != end) {
                let p = cursor.unsafelyUnwrapped
                if _fastPath(!inRing || RingHeader.load(before: p) == header) {
                    cursor = p + stride
                    // Same size as the run's first record, which decode accepted.
                    if layoutExact { return p.loadUnaligned(as: Element.self) }
                    return try decodeInRun(p)
                }
            }
            return try await nextRun()
        }

        @usableFromInline
        mutating func decodeInRun(_ p: UnsafeRawPointer) throws -> Element {
            do {
                return try decode(UnsafeRawBufferPointer(start: p, count: size))
            } catch {
                finish()  // a bad record ends the loop
                throw error
            }
        }

        /// Waits for the next run of records and hands out its first.
        @usableFromInline
        nonisolated(nonsending) mutating func nextRun() async throws -> Element? {
            if let failure {
                self.failure = nil
                finish()
                throw failure
            }
            guard let source else { return nil }
            do {
                guard let run = try await source.nextRun(stoppedAt: cursor) else {
                    finish()
                    return nil
                }
                // decode checks the size once for the whole run.
                let value = try decode(UnsafeRawBufferPointer(start: run.start, count: run.size))
                size = run.size
                stride = run.stride
                inRing = run.header != nil
                header = run.header ?? 0
                cursor = run.start.map { $0 + run.stride }
                end = run.start.map { $0 + run.stride * run.count }
                return value
            } catch {
                finish()  // a bad record or a failed reader ends the loop
                throw error
            }
        }

        /// Ends the iteration (dropping the source stops the reader thread).
        @usableFromInline
        mutating func finish() {
            source = nil
            cursor = nil
            end = nil
        }
    }
}

/// Records of one size back to back, `stride` bytes apart: `count` records
/// of `size` bytes from `start`. In a ring buffer (`header` set), only the
/// first is known to be committed: the others are the record's slots while
/// their header is `header`.
struct RecordRun {
    let start: UnsafeRawPointer?
    let count: Int
    let stride: Int
    let size: Int
    var header: UInt32? = nil
}

/// The header of a ring buffer record: 8 bytes before its data, the first
/// 32 bits its length with a busy bit (31: still being written) and a
/// discard bit (30). Loaded with acquire ordering: the record's bytes are
/// read after the kernel's commit of them.
@usableFromInline
enum RingHeader {
    @inlinable @inline(__always)
    static func load(before data: UnsafeRawPointer) -> UInt32 {
        UnsafeMutablePointer<Atomic<UInt32>>(OpaquePointer(UnsafeMutableRawPointer(mutating: data - 8)))
            .pointee.load(ordering: .acquiring)
    }
}

/// Where the runs of one iteration come from: one ring buffer read in
/// place (the thread only waits for it), or the batches the reader thread
/// copies out of a perf buffer (or several rings).
@usableFromInline
final class RecordSource: @unchecked Sendable {
    private var stream: AsyncThrowingStream<RecordBatch, any Error>.Iterator?
    private var pump: EventPump?
    private let ring: RingMapping?
    private let ringMap: SkeletonMap?
    /// The stream ended (or failed): no more records.
    private var ended = false
    private var batch: RecordBatch?
    private var index = 0

    /// Batches the reader thread reads from `reader`.
    init(reader: EventReader, onLost: (@Sendable (LostSamples) -> Void)?) throws(BPFError) {
        ring = nil
        ringMap = nil
        let (stream, continuation) = AsyncThrowingStream<RecordBatch, any Error>.makeStream()
        let pump = try EventPump(reader: reader, continuation: continuation, onLost: onLost)
        continuation.onTermination = { _ in pump.stop() }
        try pump.start()
        self.pump = pump
        self.stream = stream.makeAsyncIterator()
    }

    /// The ring buffer `map` read in place, through the mapping the map
    /// keeps between loops. The thread that waits on the map for records
    /// starts when the loop first finds the ring empty: a loop that finds
    /// its records waiting starts none.
    init(ring map: SkeletonMap) throws(BPFError) {
        guard let fd = map.fd, fd >= 0 else {
            throw BPFError("read ring buffer \(map.name): map is not loaded", errno: EBADF)
        }
        ring = try map.ringMappings.take(fd: fd, name: map.name)
        ringMap = map
    }

    deinit {
        // Records handed out are consumed, also when the loop left early.
        if let ring, let ringMap {
            ring.giveBackHandedOut()
            ringMap.ringMappings.give(ring)
        }
    }

    /// (Ring) Starts the thread that waits on a descriptor of the map.
    private func startWaiting(_ map: SkeletonMap) throws(BPFError) {
        guard let fd = map.fd, fd >= 0 else {
            throw BPFError("read ring buffer \(map.name): map is not loaded", errno: EBADF)
        }
        let d = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        if d < 0 { throw BPFError("read ring buffer \(map.name): duplicate map fd", errno: Glibc.errno) }
        let (stream, continuation) = AsyncThrowingStream<RecordBatch, any Error>.makeStream()
        let pump = try EventPump(waitingOn: FileDescriptor(owning: d), continuation: continuation)
        continuation.onTermination = { _ in pump.stop() }
        try pump.start()
        self.pump = pump
        self.stream = stream.makeAsyncIterator()
    }

    /// The next run of records; nil when the records end (the loop's task
    /// cancelled). The records of the previous run are given back first.
    /// `cursor`: where the iterator stopped in the run in hand.
    nonisolated(nonsending) func nextRun(stoppedAt cursor: UnsafeRawPointer?) async throws -> RecordRun? {
        var cursor = cursor
        while !ended {
            if let ring, let ringMap {
                if Task.isCancelled { break }
                if let run = ring.nextRun(stoppedAt: cursor) { return run }
                cursor = nil
                // The ring is empty: the thread waits for it (a wakeup that
                // is already pending makes this loop look again).
                if pump == nil { try startWaiting(ringMap) }
                pump?.resume()
            } else if let batch {
                if index < batch.count {
                    let run = batch.run(from: index)
                    index += run.count
                    return run
                }
                pump?.consumed(batch.count)
                self.batch = nil
                index = 0
            }
            guard var s = stream else { break }
            stream = nil
            ended = true
            guard let next = try await s.next(isolation: #isolation) else { break }
            ended = false
            stream = s
            if ring == nil && next.count > 0 { batch = next }
        }
        ended = true
        return nil
    }
}

/// This process's mapping of a ring buffer map, read in place: the
/// consumer position page (read-write), then the producer position page and
/// the data pages, mapped twice in a row by the kernel so that a record
/// that wraps around the end is contiguous. Each record has an 8-byte
/// header: its length in the low 30 bits of the first 32, with a busy bit
/// (still being written) and a discard bit; records start 8-byte aligned.
final class RingMapping: @unchecked Sendable {
    /// The map's ID: a cached mapping is of the map the descriptor names now.
    let mapID: UInt32
    private let consumerPage: UnsafeMutableRawPointer
    private let producerArea: UnsafeMutableRawPointer
    private let data: UnsafeRawPointer
    private let mask: Int
    private let pageSize: Int
    private let dataSize: Int
    /// Where the records not handed out yet start (before the run in hand).
    private var position: Int
    /// The run in hand: where its first record is in the ring and in
    /// memory, its stride, header, and the end of its slots.
    private var runFirst = 0
    private var runStart: UnsafeRawPointer?
    private var runStride = 0
    private var runHeader: UInt32 = 0
    private var runLimit = 0

    private static var busyBit: UInt32 { 1 << 31 }
    private static var discardBit: UInt32 { 1 << 30 }
    private static var headerSize: Int { 8 }
    /// Bytes of ring per run at most: the space goes back to producers run
    /// by run.
    private var runBytes: Int { Swift.min(128 * 1024, dataSize) }

    init(fd: Int32, name: String) throws(BPFError) {
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        let r = bpf_map_get_info_by_fd(fd, &info, &len)
        if r != 0 { throw BPFError("read ring buffer \(name): get map info", errno: r == -1 ? Glibc.errno : -r) }
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        dataSize = Int(info.max_entries)
        guard dataSize > 0, dataSize & (dataSize - 1) == 0 else {
            throw BPFError("read ring buffer \(name): size \(dataSize) is not a power of two", errno: EINVAL)
        }
        mask = dataSize - 1
        mapID = info.id
        guard let c = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), c != MAP_FAILED else {
            throw BPFError("read ring buffer \(name): map its consumer page", errno: Glibc.errno)
        }
        guard let p = mmap(nil, pageSize + 2 * dataSize, PROT_READ, MAP_SHARED, fd, off_t(pageSize)), p != MAP_FAILED else {
            let e = Glibc.errno
            munmap(c, pageSize)
            throw BPFError("read ring buffer \(name): map its data", errno: e)
        }
        consumerPage = c
        producerArea = p
        data = UnsafeRawPointer(p + pageSize)
        position = Int(Self.atomic(c).pointee.load(ordering: .acquiring))
    }

    deinit {
        munmap(consumerPage, pageSize)
        munmap(producerArea, pageSize + 2 * dataSize)
    }

    private static func atomic(_ p: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        UnsafeMutablePointer(OpaquePointer(p))
    }

    /// Starts where the ring's consumer position is now (another reader may
    /// have read since this mapping was last used).
    func resync() {
        position = Int(Self.atomic(consumerPage).pointee.load(ordering: .acquiring))
        runStart = nil
    }

    /// Gives the space of the records handed out so far back to producers:
    /// the loop has ended, and the records of the run in hand go with it
    /// (as far as they are committed).
    func giveBackHandedOut() {
        if runStart != nil {
            var p = runFirst
            while p < runLimit && Self.header(data, p & mask) == runHeader { p &+= runStride }
            position = p
            runStart = nil
        }
        Self.atomic(consumerPage).pointee.store(UInt64(truncatingIfNeeded: position), ordering: .releasing)
    }

    /// Gives back the space of the records handed out so far (the run in
    /// hand up to `cursor`, where the iterator stopped), and returns the run
    /// that follows: its first record committed, the others that many
    /// slots of its size up to the producer position (at most `runBytes`),
    /// each one the iterator's as long as its header equals the first's.
    /// Nil when no record is committed yet. Discarded records are skipped.
    func nextRun(stoppedAt cursor: UnsafeRawPointer?) -> RecordRun? {
        if let start = runStart, let cursor { position = runFirst &+ (cursor - start) }
        runStart = nil
        let consumer = Self.atomic(consumerPage)
        consumer.pointee.store(UInt64(truncatingIfNeeded: position), ordering: .releasing)
        let produced = Int(truncatingIfNeeded: Self.atomic(producerArea).pointee.load(ordering: .acquiring))
        let data = self.data, mask = self.mask, maxLength = dataSize &- Self.headerSize
        var p = position
        // Discarded records first: skipped.
        var header: UInt32 = 0
        while p < produced {
            header = Self.header(data, p & mask)
            guard header & Self.discardBit != 0, header & Self.busyBit == 0 else { break }
            p &+= Self.total(Int(header & ~Self.discardBit))
        }
        position = p
        let size = Int(header)
        guard p < produced, header & (Self.busyBit | Self.discardBit) == 0, size <= maxLength else {
            // Nothing committed (or not a record the kernel wrote: another
            // reader of the ring moved on; stop rather than read past the mapping).
            consumer.pointee.store(UInt64(truncatingIfNeeded: p), ordering: .releasing)
            return nil
        }
        let stride = Self.total(size)
        // Slots wholly below the producer position: records of this size
        // back to back, until one's header says otherwise.
        let limit = Swift.min(produced, p &+ runBytes)
        let count = Swift.max(1, (limit &- p) / stride)
        let start = data + (p & mask) + Self.headerSize
        runFirst = p
        runStart = start
        runStride = stride
        runHeader = header
        runLimit = p &+ count &* stride
        return RecordRun(start: start, count: count, stride: stride, size: size, header: header)
    }

    /// The first 32 bits of the header at `offset`: length and flags.
    @inline(__always)
    private static func header(_ data: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UnsafeMutablePointer<Atomic<UInt32>>(OpaquePointer(UnsafeMutableRawPointer(mutating: data + offset)))
            .pointee.load(ordering: .acquiring)
    }

    /// Bytes a record of `length` bytes takes in the ring, header included.
    @inline(__always)
    private static func total(_ length: Int) -> Int {
        (length &+ headerSize &+ 7) & ~7
    }
}

/// The mapping of a skeleton's ring buffer map kept between loops over it:
/// mapping a ring sets up a page-table entry for each of its pages, twice
/// (milliseconds for a ring of 64 MiB), which a loop per burst of records
/// would otherwise pay each time. One loop uses it at a time; a second
/// loop at the same time maps the ring for itself. Unmapped when the
/// skeleton map is freed.
@usableFromInline
final class RingMappingCache: Sendable {
    private let slot = Mutex<RingMapping?>(nil)

    @usableFromInline init() {}

    /// The cached mapping when it is of the map `fd` names, else a new one.
    func take(fd: Int32, name: String) throws(BPFError) -> RingMapping {
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        let r = bpf_map_get_info_by_fd(fd, &info, &len)
        if r != 0 { throw BPFError("read ring buffer \(name): get map info", errno: r == -1 ? Glibc.errno : -r) }
        guard info.type == BPF_MAP_TYPE_RINGBUF.rawValue else {
            throw BPFError("read ring buffer \(name): not a ring buffer map", errno: EINVAL)
        }
        let cached = slot.withLock { s in
            let m = s
            s = nil
            return m
        }
        if let cached, cached.mapID == info.id {
            cached.resync()
            return cached
        }
        return try RingMapping(fd: fd, name: name)
    }

    /// Keeps `mapping` for the next loop (unless one is kept already).
    func give(_ mapping: RingMapping) {
        slot.withLock { s in
            if s == nil { s = mapping }
        }
    }
}

/// Records as the reader thread copied them out of the kernel's buffer:
/// their bytes back to back, and where each one ends. Owns the memory.
final class RecordBatch: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer?
    let ends: UnsafeMutablePointer<Int>?
    let count: Int

    init() {
        bytes = nil
        ends = nil
        count = 0
    }

    /// Takes the sink's memory; the sink is empty after.
    init(taking sink: inout RawSink) {
        bytes = sink.bytes
        ends = sink.ends
        count = sink.count
        let limit = sink.limit
        sink = RawSink()
        sink.limit = limit
    }

    deinit {
        free(bytes)
        free(ends)
    }

    /// The records from `i` on while they have the size of record `i`
    /// (only record `i` when it is empty). Valid while the batch lives.
    func run(from i: Int) -> RecordRun {
        let ends = ends.unsafelyUnwrapped
        let start = i == 0 ? 0 : ends[i - 1]
        let size = ends[i] - start
        var j = i + 1
        if size > 0 {
            while j < count && ends[j] - ends[j - 1] == size { j += 1 }
        }
        return RecordRun(start: bytes.map { UnsafeRawPointer($0 + start) }, count: j - i, stride: size, size: size)
    }
}

/// The thread behind one iteration of `EventRecords`: blocks in epoll on
/// the reader's epoll fd (or, `waitOnly`, the ring buffer map itself), a
/// stop eventfd and a resume eventfd. `waitOnly`, it reads nothing: it
/// hands an empty batch over when the ring has records, then waits for
/// `resume()` before it looks again.
final class EventPump: @unchecked Sendable {
    private var reader: EventReader?
    // waitOnly: the ring buffer map's own descriptor, waited on.
    private let waitFD: FileDescriptor?
    private let continuation: AsyncThrowingStream<RecordBatch, any Error>.Continuation
    private let onLost: (@Sendable (LostSamples) -> Void)?
    private let epfd: FileDescriptor
    private let stopFD: FileDescriptor
    private let resumeFD: FileDescriptor
    private let readerFD: Int32
    private let pending = Atomic<Int>(0)
    private let paused = Atomic<Bool>(false)
    private var thread = pthread_t()
    // Set (on the pump thread) when the stream ended from the pump itself:
    // nobody joins then, the thread detaches.
    private var endedByPump = false
    private let started = Atomic<Bool>(false)
    private let waitOnly: Bool

    private static var stopToken: UInt64 { 1 }
    private static var resumeToken: UInt64 { 2 }
    private static var readerToken: UInt64 { 3 }

    convenience init(reader: EventReader, continuation: AsyncThrowingStream<RecordBatch, any Error>.Continuation,
         onLost: (@Sendable (LostSamples) -> Void)?) throws(BPFError) {
        try self.init(reader: reader, waitFD: nil, continuation: continuation, onLost: onLost)
    }

    /// waitOnly: wakes the consumer when the ring buffer map `fd` has records.
    convenience init(waitingOn fd: FileDescriptor,
                     continuation: AsyncThrowingStream<RecordBatch, any Error>.Continuation) throws(BPFError) {
        try self.init(reader: nil, waitFD: fd, continuation: continuation, onLost: nil)
    }

    private init(reader: EventReader?, waitFD: FileDescriptor?,
                 continuation: AsyncThrowingStream<RecordBatch, any Error>.Continuation,
                 onLost: (@Sendable (LostSamples) -> Void)?) throws(BPFError) {
        self.reader = reader
        self.waitFD = waitFD
        self.continuation = continuation
        self.onLost = onLost
        waitOnly = waitFD != nil
        readerFD = waitFD?.rawValue ?? reader?.fd ?? -1
        let ep = epoll_create1(Int32(EPOLL_CLOEXEC))
        if ep < 0 { throw BPFError("read events: epoll_create1", errno: Glibc.errno) }
        epfd = FileDescriptor(owning: ep)
        let s = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        if s < 0 { throw BPFError("read events: eventfd", errno: Glibc.errno) }
        stopFD = FileDescriptor(owning: s)
        let r = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        if r < 0 { throw BPFError("read events: eventfd", errno: Glibc.errno) }
        resumeFD = FileDescriptor(owning: r)
        try control(EPOLL_CTL_ADD, stopFD.rawValue, Self.stopToken, events: EPOLLIN.rawValue)
        try control(EPOLL_CTL_ADD, resumeFD.rawValue, Self.resumeToken, events: EPOLLIN.rawValue)
        try control(EPOLL_CTL_ADD, readerFD, Self.readerToken, events: EPOLLIN.rawValue)
    }

    private func control(_ op: Int32, _ fd: Int32, _ token: UInt64, events: UInt32) throws(BPFError) {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = token
        if epoll_ctl(epfd.rawValue, op, fd, &ev) != 0 {
            throw BPFError("read events: epoll_ctl", errno: Glibc.errno)
        }
    }

    func start() throws(BPFError) {
        let me = Unmanaged.passRetained(ThreadBody { self.run() }).toOpaque()
        let r = pthread_create(&thread, nil, { arg in
            Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, me)
        if r != 0 {
            Unmanaged<ThreadBody>.fromOpaque(me).release()
            throw BPFError("read events: start the reader thread", errno: r)
        }
        started.store(true, ordering: .releasing)
    }

    /// Asks the thread to stop and waits until it has freed the reader.
    /// Called once, by the stream's termination (the loop left, its task
    /// cancelled, or the pump finished the stream itself).
    func stop() {
        guard started.load(ordering: .acquiring) else { return }
        if pthread_equal(pthread_self(), thread) != 0 {
            endedByPump = true
            return
        }
        var one: UInt64 = 1
        _ = write(stopFD.rawValue, &one, 8)
        pthread_join(thread, nil)
    }

    /// The consumer took `n` records; resumes a paused thread once it has caught up.
    func consumed(_ n: Int) {
        let now = pending.subtract(n, ordering: .acquiringAndReleasing).newValue
        if now <= EventRecords<Void>.highWater / 2 && paused.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged {
            var one: UInt64 = 1
            _ = write(resumeFD.rawValue, &one, 8)
        }
    }

    /// (`waitOnly`) The consumer found the ring empty: wait for records
    /// again, unless the thread already does.
    func resume() {
        if paused.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged {
            var one: UInt64 = 1
            _ = write(resumeFD.rawValue, &one, 8)
        }
    }

    private func run() {
        // Named, so that it can be found in /proc/PID/task and `top -H`.
        _ = bpfswift_name_thread("bpfswift-events")
        defer {
            reader = nil  // frees libbpf's reader and its map descriptors
            if endedByPump { pthread_detach(pthread_self()) }
        }
        var events = [epoll_event](repeating: epoll_event(), count: 4)
        let high = EventRecords<Void>.highWater
        // The first round reads what waited before the loop started without
        // waiting: a perf event reports readiness once per wakeup, and that
        // one may have been taken before this epoll set existed.
        var first = true
        while true {
            let n = first ? 0 : epoll_wait(epfd.rawValue, &events, Int32(events.count), -1)
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                continuation.finish(throwing: BPFError("read events: epoll_wait", errno: Glibc.errno))
                return
            }
            var ready = first
            first = false
            for i in 0..<Int(n) {
                switch events[i].data.u64 {
                case Self.stopToken:
                    return
                case Self.resumeToken:
                    var v: UInt64 = 0
                    _ = read(resumeFD.rawValue, &v, 8)
                    try? control(EPOLL_CTL_MOD, readerFD, Self.readerToken, events: EPOLLIN.rawValue)
                    // What arrived while paused, whatever readiness said;
                    // waitOnly, the ring's own readiness tells.
                    if !waitOnly { ready = true }
                default:
                    ready = true
                }
            }
            guard ready else { continue }
            if waitOnly {
                // Paused before the consumer can see the wakeup, so that
                // its resume() always finds the flag set.
                paused.store(true, ordering: .sequentiallyConsistent)
                try? control(EPOLL_CTL_MOD, readerFD, Self.readerToken, events: 0)
                continuation.yield(RecordBatch())
                continue
            }
            guard let reader else { continue }
            // Ring buffers are read in batches of at most `batchLimit`
            // records (the consumer starts on the first while this thread
            // copies the next); a perf buffer's poll cannot stop midway
            // without skipping records, so its batches are what waited.
            var sink = RawSink()
            sink.limit = reader.kind == .ringBuffer ? Self.batchLimit : Int.max
            defer { free(sink.bytes); free(sink.ends) }
            var more = true
            while more {
                do {
                    more = try reader.consumeRaw(&sink, lost: { [onLost] lost in
                        guard let onLost else {
                            throw BPFError("read perf buffer \(reader.mapNames.joined(separator: " + ")): \(lost)", errno: ENOBUFS)
                        }
                        onLost(lost)
                    })
                } catch {
                    // Records read before the failure still reach the consumer.
                    if sink.count > 0 { continuation.yield(RecordBatch(taking: &sink)) }
                    continuation.finish(throwing: error)
                    return
                }
                if sink.count == 0 { break }
                let count = sink.count
                let now = pending.add(count, ordering: .acquiringAndReleasing).newValue
                continuation.yield(RecordBatch(taking: &sink))
                if now > high {
                    paused.store(true, ordering: .sequentiallyConsistent)
                    try? control(EPOLL_CTL_MOD, readerFD, Self.readerToken, events: 0)
                    // The consumer may have caught up before it could see the flag.
                    if pending.load(ordering: .sequentiallyConsistent) <= high / 2,
                       paused.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged {
                        try? control(EPOLL_CTL_MOD, readerFD, Self.readerToken, events: EPOLLIN.rawValue)
                    } else {
                        break  // resumed through the resume eventfd
                    }
                }
            }
        }
    }

    /// Records per batch of a ring buffer.
    static var batchLimit: Int { 4096 }
}

/// What a new thread runs (a C thread entry cannot capture generic types).
final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Decoders of one record into a Swift value, checking its size.
@usableFromInline
enum RecordDecoding {
    /// Ring buffer records have the size the producer gave; perf buffer
    /// records are padded by the kernel to a multiple of 8 bytes (with the
    /// 4-byte size header), so up to 7 extra bytes are padding.
    @inlinable
    static func check(_ bytes: UnsafeRawBufferPointer, expected: Int, type: Any.Type, map: String, perf: Bool) throws(BPFError) {
        let n = bytes.count
        if n == expected || (perf && n > expected && n - expected < 8) { return }
        throw mismatch(n, expected: expected, type: type, map: map, perf: perf)
    }

    @usableFromInline
    static func mismatch(_ n: Int, expected: Int, type: Any.Type, map: String, perf: Bool) -> BPFError {
        BPFError("read \(perf ? "perf buffer" : "ring buffer") \(map): a record of \(n) bytes, "
                 + "but \(String(reflecting: type)) is \(expected) bytes", errno: EBADMSG)
    }
}
