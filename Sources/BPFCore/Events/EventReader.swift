#if canImport(Glibc)
import Glibc
#endif
import Synchronization
internal import CLibBPF

/// Samples a perf buffer lost: the kernel found the CPU's buffer full and
/// counted the records it dropped instead of writing them.
public struct LostSamples: Sendable, Equatable, CustomStringConvertible {
    /// The CPU whose buffer overflowed.
    public var cpu: Int
    /// How many records were dropped.
    public var count: UInt64

    public init(cpu: Int, count: UInt64) {
        self.cpu = cpu
        self.count = count
    }

    public var description: String { "\(count) sample\(count == 1 ? "" : "s") lost on CPU \(cpu)" }
}

/// A reader of BPF event maps: ring buffers (`BPF_MAP_TYPE_RINGBUF`, one
/// reader can serve several) or one perf event array
/// (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`, one buffer per CPU).
///
/// The blocking form of `records(as:)`: `poll(timeout:)` waits until
/// records arrive and hands each one to its closure, as raw bytes valid only
/// during the call. `fd` is an epoll descriptor that is readable when
/// records wait, for an event loop of your own (then call `consume`).
///
/// Calls into one reader are serialized (a lock); use one reader per thread
/// that polls. Wraps libbpf's `ring_buffer` and `perf_buffer`.
public final class EventReader: @unchecked Sendable {
    /// Which libbpf reader is behind this one.
    public enum Kind: Sendable {
        case ringBuffer
        case perfBuffer
    }

    public let kind: Kind
    /// Names of the maps read, for messages ("events", "events + events2").
    public private(set) var mapNames: [String]
    // The ring_buffer or perf_buffer; freed at deinit.
    private let handle: OpaquePointer
    // Descriptors of the maps read, held so that the maps outlive the reader
    // even when their object closes first.
    private var mapFDs: [FileDescriptor]
    private let lock = Mutex<Void>(())
    // Set while poll/consume runs: what each record and lost count goes to.
    private var onRecord: ((UnsafeRawBufferPointer) throws -> Void)?
    private var onLost: ((LostSamples) throws -> Void)?
    // The first error a handler threw (perf callbacks cannot stop the loop).
    private var handlerError: (any Error)?
    private let totalLost = Atomic<UInt64>(0)

    /// Everything perf buffers reported lost so far (0 for ring buffers,
    /// whose producers see a failed reserve instead).
    public var lostSamples: UInt64 { totalLost.load(ordering: .relaxed) }

    private init(kind: Kind, handle: OpaquePointer, fd: FileDescriptor, name: String) {
        self.kind = kind
        self.handle = handle
        mapFDs = [fd]
        mapNames = [name]
    }

    deinit {
        switch kind {
        case .ringBuffer: ring_buffer__free(handle)
        case .perfBuffer: perf_buffer__free(handle)
        }
    }

    /// Reads the ring buffer map `map` (`name` is for messages). The reader
    /// keeps its own descriptor of the map. Calls `ring_buffer__new`.
    public static func ringBuffer(map: Int32, name: String) throws(BPFError) -> EventReader {
        let fd = try checkedMap(map, name: name, expect: BPF_MAP_TYPE_RINGBUF, "ring buffer")
        // The context is set below, once the reader exists: the callback
        // finds its reader through it.
        let box = ReaderBox()
        clearLibbpfWarning()
        guard let rb = ring_buffer__new(fd.rawValue, ringSample, Unmanaged.passUnretained(box).toOpaque(), nil) else {
            throw BPFError("read ring buffer \(name)", errno: Glibc.errno, detail: takeLibbpfWarning())
        }
        let r = EventReader(kind: .ringBuffer, handle: rb, fd: fd, name: name)
        box.reader = r
        r.boxes.append(box)
        return r
    }

    /// Reads the perf event array `map`, with `pagesPerCPU` pages of buffer
    /// for each CPU (a power of two). Calls `perf_buffer__new`.
    public static func perfBuffer(map: Int32, name: String, pagesPerCPU: Int = 64) throws(BPFError) -> EventReader {
        guard pagesPerCPU > 0, pagesPerCPU & (pagesPerCPU - 1) == 0 else {
            throw BPFError("read perf buffer \(name): \(pagesPerCPU) pages per CPU is not a power of two", errno: EINVAL)
        }
        // libbpf multiplies the count by the page size in a size_t.
        guard pagesPerCPU <= 1 << 24 else {
            throw BPFError("read perf buffer \(name): \(pagesPerCPU) pages per CPU is more than \(1 << 24)", errno: E2BIG)
        }
        let fd = try checkedMap(map, name: name, expect: BPF_MAP_TYPE_PERF_EVENT_ARRAY, "perf event array")
        let box = ReaderBox()
        clearLibbpfWarning()
        guard let pb = perf_buffer__new(fd.rawValue, pagesPerCPU, perfSample, perfLost,
                                        Unmanaged.passUnretained(box).toOpaque(), nil) else {
            throw BPFError("read perf buffer \(name)", errno: Glibc.errno, detail: takeLibbpfWarning())
        }
        let r = EventReader(kind: .perfBuffer, handle: pb, fd: fd, name: name)
        box.reader = r
        r.boxes.append(box)
        return r
    }

    // The callbacks' contexts (unowned references back to this reader).
    private var boxes: [ReaderBox] = []

    /// Adds another ring buffer map to this reader: one `poll` then serves
    /// them all. Only for ring buffer readers. Calls `ring_buffer__add`.
    public func add(ringBuffer map: Int32, name: String) throws(BPFError) {
        try lock.withLock { (_) throws(BPFError) in
            guard kind == .ringBuffer else {
                throw BPFError("add ring buffer \(name) to the reader of perf buffer \(mapNames[0]): "
                               + "a perf buffer reader reads one map", errno: EINVAL)
            }
            let fd = try Self.checkedMap(map, name: name, expect: BPF_MAP_TYPE_RINGBUF, "ring buffer")
            let box = ReaderBox()
            box.reader = self
            clearLibbpfWarning()
            let r = ring_buffer__add(handle, fd.rawValue, ringSample, Unmanaged.passUnretained(box).toOpaque())
            if r != 0 {
                throw BPFError("add ring buffer \(name) to a reader", errno: r == -1 ? Glibc.errno : -r,
                               detail: takeLibbpfWarning())
            }
            boxes.append(box)
            mapFDs.append(fd)
            mapNames.append(name)
        }
    }

    /// An epoll descriptor (owned by the reader) that is readable when
    /// records wait. Calls `ring_buffer__epoll_fd` / `perf_buffer__epoll_fd`.
    public var fd: Int32 {
        switch kind {
        case .ringBuffer: return ring_buffer__epoll_fd(handle)
        case .perfBuffer: return perf_buffer__epoll_fd(handle)
        }
    }

    private var label: String {
        (kind == .ringBuffer ? "ring buffer " : "perf buffer ") + mapNames.joined(separator: " + ")
    }

    /// Waits up to `timeout` (nil: until records arrive) and hands every
    /// record that waits to `body`; returns how many it handed. The bytes are
    /// valid only during the call. An error `body` throws stops the reading
    /// (ring buffers: at once; perf buffers: at the end of the poll, later
    /// records skipped) and is rethrown. Lost perf samples go to `lost`, or
    /// are only counted in `lostSamples` when it is nil. An interrupted wait
    /// (EINTR) returns 0. Calls `ring_buffer__poll` / `perf_buffer__poll`.
    @discardableResult
    public func poll(timeout: Duration? = nil, lost: ((LostSamples) throws -> Void)? = nil,
                     _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try run("poll", timeoutMilliseconds(timeout), lost, body)
    }

    /// Hands every record that waits now to `body`, without waiting; returns
    /// how many. Calls `ring_buffer__consume` / `perf_buffer__consume`.
    @discardableResult
    public func consume(lost: ((LostSamples) throws -> Void)? = nil,
                        _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try run("consume", nil, lost, body)
    }

    private func run(_ what: String, _ timeout: Int32?, _ lost: ((LostSamples) throws -> Void)?,
                     _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try lock.withLock { _ in
            try withoutActuallyEscaping(body) { body in
                var count = 0
                onRecord = { b in count += 1; try body(b) }
                onLost = lost
                handlerError = nil
                defer { onRecord = nil; onLost = nil; handlerError = nil }
                let r: Int32
                switch (kind, timeout) {
                case (.ringBuffer, let t?): r = ring_buffer__poll(handle, t)
                case (.ringBuffer, nil): r = ring_buffer__consume(handle)
                case (.perfBuffer, let t?): r = perf_buffer__poll(handle, t)
                case (.perfBuffer, nil): r = perf_buffer__consume(handle)
                }
                if let e = handlerError { throw e }
                if r < 0 {
                    let e = r == -1 ? Glibc.errno : -r
                    if e == EINTR { return count }
                    throw BPFError("\(what) \(label)", errno: e)
                }
                return count
            }
        }
    }

    /// Copies every record that waits now into `sink` (the reader thread of
    /// `records(as:)`): no Swift closure or reference count per record.
    /// Returns true when the sink filled up before the records ended.
    func consumeRaw(_ sink: UnsafeMutablePointer<RawSink>, lost: ((LostSamples) throws -> Void)?) throws -> Bool {
        try lock.withLock { _ in
            for b in boxes { b.sink = sink }
            onLost = lost
            handlerError = nil
            defer {
                for b in boxes { b.sink = nil }
                onLost = nil
                handlerError = nil
            }
            let r = kind == .ringBuffer ? ring_buffer__consume(handle) : perf_buffer__consume(handle)
            if let e = handlerError { throw e }
            if sink.pointee.outOfMemory { throw BPFError("read \(label): out of memory for a batch of records", errno: ENOMEM) }
            if sink.pointee.full { return true }
            if r < 0 {
                let e = r == -1 ? Glibc.errno : -r
                if e == EINTR { return false }
                throw BPFError("consume \(label)", errno: e)
            }
            return false
        }
    }

    // Called by the C callbacks, on the polling thread, under the lock.
    fileprivate func deliver(_ data: UnsafeRawPointer?, _ size: Int) -> Int32 {
        if handlerError != nil { return -ECANCELED }
        do {
            try onRecord?(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        } catch {
            handlerError = error
            return -ECANCELED
        }
    }

    fileprivate func deliverLost(cpu: Int32, count: UInt64) {
        totalLost.add(count, ordering: .relaxed)
        guard handlerError == nil, let onLost else { return }
        do { try onLost(LostSamples(cpu: Int(cpu), count: count)) } catch { handlerError = error }
    }

    private static func checkedMap(_ map: Int32, name: String, expect: bpf_map_type, _ kindName: String) throws(BPFError) -> FileDescriptor {
        guard map >= 0 else { throw BPFError("read \(kindName) \(name): map is not loaded", errno: EBADF) }
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        let r = bpf_map_get_info_by_fd(map, &info, &len)
        if r != 0 { throw BPFError("read \(kindName) \(name): get map info", errno: r == -1 ? Glibc.errno : -r) }
        guard info.type == expect.rawValue else {
            let t = libbpf_bpf_map_type_str(bpf_map_type(info.type)).map { String(cString: $0) } ?? "type \(info.type)"
            throw BPFError("read \(kindName) \(name): the map is a \(t) map, not a \(kindName)", errno: EINVAL)
        }
        let d = fcntl(map, F_DUPFD_CLOEXEC, 3)
        if d < 0 { throw BPFError("read \(kindName) \(name): duplicate map fd", errno: Glibc.errno) }
        return FileDescriptor(owning: d)
    }
}

func timeoutMilliseconds(_ d: Duration?) -> Int32 {
    guard let d else { return -1 }
    let (s, atto) = d.components
    if s < 0 { return 0 }
    let ms = s.multipliedReportingOverflow(by: 1000)
    if ms.overflow || ms.partialValue > Int64(Int32.max) { return Int32.max }
    return Int32(clamping: ms.partialValue + (atto + 999_999_999_999_999) / 1_000_000_000_000_000)
}

/// The context libbpf hands back to the callbacks. The reader owns its
/// boxes and frees the libbpf reader (the only caller of the callbacks)
/// before them, so the reference needs no counting on the hot path.
private final class ReaderBox {
    unowned(unsafe) var reader: EventReader?
    // Set during consumeRaw: records are copied here.
    var sink: UnsafeMutablePointer<RawSink>?
}

/// Records copied back to back into malloc'd memory, with where each ends:
/// what the reader thread of `records(as:)` hands the consumer.
struct RawSink {
    var bytes: UnsafeMutableRawPointer?
    var used = 0
    var capacity = 0
    var ends: UnsafeMutablePointer<Int>?
    var count = 0
    var endsCapacity = 0
    /// Records after which the sink is full (the callback stops the ring).
    var limit = Int.max
    var full = false
    var outOfMemory = false

    /// Appends one record; false to stop reading (full, or no memory).
    mutating func append(_ data: UnsafeRawPointer?, _ size: Int) -> Bool {
        if used &+ size > capacity {
            let want = Swift.max(capacity * 2, used + size, 1 << 16)
            guard let p = realloc(bytes, want) else { outOfMemory = true; return false }
            bytes = p
            capacity = want
        }
        if count == endsCapacity {
            let want = Swift.max(endsCapacity * 2, 1024)
            guard let p = realloc(ends, want * MemoryLayout<Int>.stride) else { outOfMemory = true; return false }
            ends = p.assumingMemoryBound(to: Int.self)
            endsCapacity = want
        }
        if size > 0, let data { (bytes.unsafelyUnwrapped + used).copyMemory(from: data, byteCount: size) }
        used &+= size
        ends.unsafelyUnwrapped[count] = used
        count &+= 1
        if count >= limit { full = true; return false }
        return true
    }
}

private let ringSample: ring_buffer_sample_fn = { ctx, data, size in
    guard let ctx else { return 0 }
    return Unmanaged<ReaderBox>.fromOpaque(ctx)._withUnsafeGuaranteedRef { box in
        if let sink = box.sink { return sink.pointee.append(data, size) ? 0 : -ECANCELED }
        return box.reader?.deliver(data, size) ?? 0
    }
}

private let perfSample: perf_buffer_sample_fn = { ctx, _, data, size in
    guard let ctx else { return }
    Unmanaged<ReaderBox>.fromOpaque(ctx)._withUnsafeGuaranteedRef { box in
        if let sink = box.sink {
            _ = sink.pointee.append(data, Int(size))  // no limit for perf buffers
            return
        }
        _ = box.reader?.deliver(data, Int(size))
    }
}

private let perfLost: perf_buffer_lost_fn = { ctx, cpu, count in
    guard let ctx else { return }
    let box = Unmanaged<ReaderBox>.fromOpaque(ctx).takeUnretainedValue()
    box.reader?.deliverLost(cpu: cpu, count: count)
}
