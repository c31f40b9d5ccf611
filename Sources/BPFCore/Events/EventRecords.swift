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
    let decode: @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element
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
            let (stream, continuation) = AsyncThrowingStream<[Element], any Error>.makeStream()
            let pump = try EventPump<Element>(reader: reader, continuation: continuation, decode: decode, onLost: onLost)
            continuation.onTermination = { _ in pump.stop() }
            try pump.start()
            return Iterator(stream: stream.makeAsyncIterator(), pump: pump, failure: nil)
        } catch {
            return Iterator(stream: nil, pump: nil, failure: error)
        }
    }

    public struct Iterator: AsyncIteratorProtocol {
        var stream: AsyncThrowingStream<[Element], any Error>.Iterator?
        let pump: EventPump<Element>?
        var failure: (any Error)?
        var batch: [Element] = []
        var index = 0

        init(stream: AsyncThrowingStream<[Element], any Error>.Iterator?, pump: EventPump<Element>?, failure: (any Error)?) {
            self.stream = stream
            self.pump = pump
            self.failure = failure
        }

        public mutating func next() async throws -> Element? {
            if index < batch.count {
                defer { index += 1 }
                return batch[index]
            }
            if let failure {
                self.failure = nil
                stream = nil
                throw failure
            }
            if !batch.isEmpty {
                pump?.consumed(batch.count)
                batch = []
                index = 0
            }
            guard stream != nil, let next = try await stream!.next() else {
                stream = nil
                return nil
            }
            batch = next
            index = 1
            return next[0]
        }
    }
}

/// The thread behind one iteration of `EventRecords`: blocks in epoll on
/// the reader's epoll fd, a stop eventfd and a resume eventfd.
final class EventPump<Element>: @unchecked Sendable {
    private var reader: EventReader?
    private let continuation: AsyncThrowingStream<[Element], any Error>.Continuation
    private let decode: @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element
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

    init(reader: EventReader, continuation: AsyncThrowingStream<[Element], any Error>.Continuation,
         decode: @escaping @Sendable (UnsafeRawBufferPointer) throws(BPFError) -> Element,
         onLost: (@Sendable (LostSamples) -> Void)?) throws(BPFError) {
        self.reader = reader
        self.continuation = continuation
        self.decode = decode
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
        if now <= EventRecords<Element>.highWater / 2 && paused.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged {
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
        let high = EventRecords<Element>.highWater
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
            var batch: [Element] = []
            do {
                try reader.consume(lost: { [onLost] lost in
                    guard let onLost else {
                        throw BPFError("read perf buffer \(reader.mapNames.joined(separator: " + ")): \(lost)", errno: ENOBUFS)
                    }
                    onLost(lost)
                }) { bytes in
                    batch.append(try decode(bytes))
                }
            } catch {
                // Records decoded before the bad one still reach the consumer.
                if !batch.isEmpty { continuation.yield(batch) }
                continuation.finish(throwing: error)
                return
            }
            if batch.isEmpty { continue }
            let now = pending.add(batch.count, ordering: .acquiringAndReleasing).newValue
            continuation.yield(batch)
            if now > high {
                paused.store(true, ordering: .sequentiallyConsistent)
                try? control(EPOLL_CTL_MOD, readerFD, Self.readerToken, events: 0)
                // The consumer may have caught up before it could see the flag.
                if pending.load(ordering: .sequentiallyConsistent) <= high / 2,
                   paused.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged {
                    try? control(EPOLL_CTL_MOD, readerFD, Self.readerToken, events: EPOLLIN.rawValue)
                }
            }
        }
    }
}

/// What a new thread runs (a C thread entry cannot capture generic types).
final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Decoders of one record into a Swift value, checking its size.
enum RecordDecoding {
    /// Ring buffer records have the size the producer gave; perf buffer
    /// records are padded by the kernel to a multiple of 8 bytes (with the
    /// 4-byte size header), so up to 7 extra bytes are padding.
    static func check(_ bytes: UnsafeRawBufferPointer, expected: Int, type: Any.Type, map: String, perf: Bool) throws(BPFError) {
        let n = bytes.count
        if n == expected || (perf && n > expected && n - expected < 8) { return }
        throw BPFError("read \(perf ? "perf buffer" : "ring buffer") \(map): a record of \(n) bytes, "
                       + "but \(String(reflecting: type)) is \(expected) bytes", errno: EBADMSG)
    }
}
