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
/// Iterating starts a reader thread that blocks in epoll on the map (an
/// idle loop costs no CPU) and hands records over in batches; leaving the
/// loop or cancelling its task wakes that thread through an eventfd in the
/// same epoll set, and the reader, its thread and descriptors are gone when
/// the loop has ended. A consumer that falls behind pauses the thread after
/// `EventRecords.highWater` records, so the kernel's buffer fills (and the
/// producer sees failed reserves, or the perf buffer counts lost samples)
/// instead of this process's memory.
///
/// Errors end the loop: a record whose size is not the type's (naming both
/// sizes), a reader that cannot be made (map not loaded, not an event map),
/// and, for perf buffers, lost samples unless `onLost` takes them.
public struct EventRecords<Element>: AsyncSequence, @unchecked Sendable {
    /// Records read ahead of the consumer before the reader thread pauses.
    public static var highWater: Int { 65536 }

    let open: @Sendable () throws(BPFError) -> EventReader
    @usableFromInline let decode: @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element
    let onLost: (@Sendable (LostSamples) -> Void)?

    /// Records decoded by `decode` from the reader `open` makes when the
    /// iteration starts. `onLost` takes lost perf samples (nil: they end the
    /// loop with an error).
    public init(open: @escaping @Sendable () throws(BPFError) -> EventReader,
                onLost: (@Sendable (LostSamples) -> Void)? = nil,
                decode: @escaping @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element) {
        self.open = open
        self.decode = decode
        self.onLost = onLost
    }

    public func makeAsyncIterator() -> Iterator {
        do {
            let reader = try open()
            let (stream, continuation) = AsyncThrowingStream<RecordBatch, any Error>.makeStream()
            let pump = try EventPump(reader: reader, continuation: continuation, onLost: onLost)
            continuation.onTermination = { _ in pump.stop() }
            try pump.start()
            return Iterator(stream: stream.makeAsyncIterator(), pump: pump, failure: nil, decode: decode)
        } catch {
            return Iterator(stream: nil, pump: nil, failure: error, decode: decode)
        }
    }

    /// Hands out the records of the batch in hand, decoding each as it goes
    /// (in the consumer's code: inlinable, so specialized for `Element`),
    /// and waits for the reader thread's next batch when it runs out.
    public struct Iterator: AsyncIteratorProtocol {
        var stream: AsyncThrowingStream<RecordBatch, any Error>.Iterator?
        let pump: EventPump?
        var failure: (any Error)?
        @usableFromInline var batch = RecordBatch()
        @usableFromInline var index = 0
        @usableFromInline let decode: @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element

        init(stream: AsyncThrowingStream<RecordBatch, any Error>.Iterator?, pump: EventPump?, failure: (any Error)?,
             decode: @escaping @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element) {
            self.stream = stream
            self.pump = pump
            self.failure = failure
            self.decode = decode
        }

        @inlinable
        public mutating func next() async throws -> Element? {
            try await next(isolation: nil)
        }

        /// The next record, on the caller's executor: a record of the batch
        /// in hand is decoded and returned without suspending (a loop on the
        /// main actor would otherwise hop to the global executor and back
        /// for every record, a thread switch each).
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> Element? {
            if index >= batch.count {
                guard try await refill(isolation: actor) else { return nil }
            }
            let ends = batch.ends.unsafelyUnwrapped
            let start = index == 0 ? 0 : ends[index &- 1], end = ends[index]
            index &+= 1
            do {
                return try decode(UnsafeRawBufferPointer(start: batch.bytes.unsafelyUnwrapped + start, count: end &- start))
            } catch {
                finish()  // a bad record ends the loop
                throw error
            }
        }

        /// Waits for the next batch; false at the end of the records.
        @usableFromInline
        mutating func refill(isolation actor: isolated (any Actor)?) async throws -> Bool {
            if let failure {
                self.failure = nil
                stream = nil
                throw failure
            }
            if batch.count > 0 {
                pump?.consumed(batch.count)
                batch = RecordBatch()
                index = 0
            }
            guard var s = stream else { return false }
            stream = nil
            while true {
                guard let next = try await s.next(isolation: actor) else { return false }
                if next.count == 0 { continue }
                stream = s
                batch = next
                return true
            }
        }

        /// Ends the iteration (the stream's end stops the reader thread).
        @usableFromInline
        mutating func finish() {
            stream = nil
            batch = RecordBatch()
            index = 0
        }
    }
}

/// Records as the reader thread copied them out of the kernel's buffer:
/// their bytes back to back, and where each one ends. Owns the memory.
@usableFromInline
final class RecordBatch: @unchecked Sendable {
    @usableFromInline let bytes: UnsafeMutableRawPointer?
    @usableFromInline let ends: UnsafeMutablePointer<Int>?
    @usableFromInline let count: Int

    @usableFromInline init() {
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
}

/// The thread behind one iteration of `EventRecords`: blocks in epoll on
/// the reader's epoll fd, a stop eventfd and a resume eventfd.
@usableFromInline
final class EventPump: @unchecked Sendable {
    private var reader: EventReader?
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

    private static var stopToken: UInt64 { 1 }
    private static var resumeToken: UInt64 { 2 }
    private static var readerToken: UInt64 { 3 }

    init(reader: EventReader, continuation: AsyncThrowingStream<RecordBatch, any Error>.Continuation,
         onLost: (@Sendable (LostSamples) -> Void)?) throws(BPFError) {
        self.reader = reader
        self.continuation = continuation
        self.onLost = onLost
        readerFD = reader.fd
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
                    ready = true  // what arrived while paused, whatever readiness said
                default:
                    ready = true
                }
            }
            guard ready, let reader else { continue }
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
