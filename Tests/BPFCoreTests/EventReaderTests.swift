import Testing
import Foundation
import Synchronization
@testable import BPFCore
import TestSupport

/// `struct event` of lib_events.bpf.c as a plain Swift type (32 bytes, the C layout).
struct RawEvent: BitwiseCopyable {
    var pid: UInt32
    var seq: UInt32
    var arg: UInt64
    var comm: (Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8)

    var commString: String {
        withUnsafeBytes(of: comm) { b in String(decoding: b.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

/// `struct event` as a generated skeleton type would read it: members at their BTF offsets.
struct CodedEvent: BTFCodable {
    static let btfSize = 32
    var pid: UInt32
    var seq: UInt32
    var arg: UInt64
    var comm: [Int8]
    init(btfBytes b: UnsafeRawBufferPointer) {
        pid = UInt32.btfCodec.load(b, at: 0)
        seq = UInt32.btfCodec.load(b, at: 4)
        arg = UInt64.btfCodec.load(b, at: 8)
        comm = BTFLayout.array(Int8.btfCodec, count: 16).load(b, at: 16)
    }
    func encode(btfBytes b: UnsafeMutableRawBufferPointer) {
        UInt32.btfCodec.store(pid, b, at: 0)
        UInt32.btfCodec.store(seq, b, at: 4)
        UInt64.btfCodec.store(arg, b, at: 8)
        BTFLayout.array(Int8.btfCodec, count: 16).store(comm, b, at: 16)
    }
}

/// A record type of the wrong size (16 bytes).
struct ShortEvent: BitwiseCopyable {
    var a: UInt64
    var b: UInt64
}

/// lib_events.bpf.c loaded and attached, producing on getpgid(arg) for an
/// argument only this test uses (above any pid, so getpgid just fails).
final class EventsFixture: @unchecked Sendable {
    let skeleton: BPFSkeleton
    let arg: Int32
    let events: SkeletonMap
    let events2: SkeletonMap
    let pb: SkeletonMap
    let counts: SkeletonMap

    init(big: Bool = false, attach: Bool = true) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Fixtures.object("lib_events"))))
        skeleton = try BPFSkeleton(elf: bytes, objectName: "lib_events", source: "lib_events.bpf.o")
        // Even, unique, far above pid_max (4M): no process has it as its pid.
        arg = 0x2000_0000 + Int32.random(in: 0..<0x0800_0000) * 2
        let ro = try skeleton.globals("lib_even.rodata", access: .writableUntilLoad)
        ro.store(UInt64(arg), at: 0, UInt64.btfCodec, name: "want_arg")
        ro.store(big ? 1 : 0, at: 8, UInt32.btfCodec, name: "big")
        events = try skeleton.map("events")
        events2 = try skeleton.map("events2")
        pb = try skeleton.map("pb")
        counts = try skeleton.map("counts")
        try skeleton.load()
        if attach { try skeleton.attach() }
    }

    /// Makes `n` events (`odd`: each also goes to events2); returns the
    /// calling thread's name, which the events carry as `comm`.
    @discardableResult
    func trigger(_ n: Int, odd: Bool = false) -> String {
        for _ in 0..<n { _ = getpgid(odd ? arg | 1 : arg) }
        return ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .newlines)
    }
}

/// Runs `body` on CPU 0 only (perf buffers are per CPU: a loss shows in
/// the buffer of the CPU that lost it). sched_setaffinity is a GNU
/// extension the Glibc module hides: found with dlsym.
func onCPU0<R>(_ body: () -> R) -> R {
    typealias Affinity = @convention(c) (Int32, Int, UnsafeMutableRawPointer?) -> Int32
    guard let get = dlsym(nil, "sched_getaffinity"), let set = dlsym(nil, "sched_setaffinity") else { return body() }
    let getAffinity = unsafeBitCast(get, to: Affinity.self), setAffinity = unsafeBitCast(set, to: Affinity.self)
    var old = [UInt8](repeating: 0, count: 128), one = [UInt8](repeating: 0, count: 128)
    one[0] = 1
    _ = old.withUnsafeMutableBytes { getAffinity(0, 128, $0.baseAddress) }
    _ = one.withUnsafeMutableBytes { setAffinity(0, 128, $0.baseAddress) }
    defer { _ = old.withUnsafeMutableBytes { setAffinity(0, 128, $0.baseAddress) } }
    return body()
}

/// Descriptors of the kinds a reader opens (epoll, eventfd, BPF maps).
func readerDescriptorCount() -> Int {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return names.filter { n in
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + n)) ?? ""
        return target == "anon_inode:[eventpoll]" || target == "anon_inode:[eventfd]" || target == "anon_inode:bpf-map"
    }.count
}

@Suite(.serialized, .enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (run scripts/setup)"))
struct EventReaderTests {
    @Test func ringBufferRecordsInOrderThroughAsyncSequence() async throws {
        let f = try EventsFixture()
        let comm = f.trigger(200)
        var seen: [RawEvent] = []
        for try await e in f.events.records(as: RawEvent.self) {
            seen.append(e)
            if seen.count == 200 { break }
        }
        #expect(seen.map(\.seq) == Array(0..<200))
        #expect(seen.allSatisfy { $0.pid == UInt32(getpid()) && $0.arg == UInt64(f.arg) })
        #expect(!comm.isEmpty && seen.first?.commString == comm)
    }

    @Test func recordsArriveWhileTheLoopWaits() async throws {
        let f = try EventsFixture()
        let consumer = Task { () throws -> [CodedEvent] in
            var out: [CodedEvent] = []
            for try await e in f.events.records(as: CodedEvent.self) {
                out.append(e)
                if out.count == 50 { break }
            }
            return out
        }
        // The reader blocks in epoll meanwhile; events come later, in bursts.
        for _ in 0..<5 {
            try await Task.sleep(for: .milliseconds(20))
            f.trigger(10)
        }
        let got = try await consumer.value
        #expect(got.map(\.seq) == Array(0..<50))
        #expect(got.allSatisfy { $0.arg == UInt64(f.arg) && $0.pid == UInt32(getpid()) })
    }

    @Test func perfBufferRecordsThroughAsyncSequence() async throws {
        let f = try EventsFixture()
        let started = Atomic<Bool>(false)
        let consumer = Task { () throws -> [RawEvent] in
            var out: [RawEvent] = []
            for try await e in f.pb.records(as: RawEvent.self) {
                out.append(e)
                started.store(true, ordering: .relaxed)
                if out.count == 100 { break }
            }
            return out
        }
        // Perf buffers only take records once the reader has opened them:
        // one event at a time until the loop sees one, then the rest.
        for _ in 0..<500 where !started.load(ordering: .relaxed) {
            f.trigger(1)
            try await Task.sleep(for: .milliseconds(10))
        }
        f.trigger(99)
        let got = try await consumer.value
        #expect(got.count == 100)
        #expect(got.allSatisfy { $0.arg == UInt64(f.arg) && $0.pid == UInt32(getpid()) })
        // Per-CPU buffers: every seq at most once, the last 99 all there.
        let seqs = Set(got.map(\.seq))
        #expect(seqs.count == 100)
        if let top = seqs.max() { #expect(seqs.isSuperset(of: (top - 98)...top)) }
    }

    @Test func blockingReaderServesTwoRingBuffersAndHasAnEpollFD() throws {
        let f = try EventsFixture()
        let rb = try f.events.reader()
        try rb.add(f.events2)
        #expect(rb.mapNames == ["events", "events2"])
        // Nothing yet: the timeout passes.
        let none = try rb.poll(timeout: .milliseconds(50)) { _ in Issue.record("no record expected") }
        #expect(none == 0)
        var ready = pollfd(fd: rb.fd, events: Int16(POLLIN), revents: 0)
        #expect(Glibc.poll(&ready, 1, 0) == 0)
        f.trigger(10, odd: true)
        #expect(Glibc.poll(&ready, 1, 1000) == 1, "the epoll fd is readable once records wait")
        var seqs: [UInt32] = []
        var sizes = Set<Int>()
        while seqs.count < 20 {
            let n = try rb.poll(timeout: .seconds(1)) { bytes in
                sizes.insert(bytes.count)
                seqs.append(bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            }
            if n == 0 { break }
        }
        #expect(sizes == [32])
        // Every event went to both rings: each seq twice.
        #expect(seqs.sorted() == (0..<10).flatMap { [UInt32($0), UInt32($0)] })
        #expect(try rb.consume { _ in } == 0)
    }

    @Test func aRecordOfTheWrongSizeIsAnErrorNamingBothSizes() async throws {
        let f = try EventsFixture()
        f.trigger(3)
        await #expect {
            for try await _ in f.events.records(as: ShortEvent.self) {}
        } throws: { e in
            let d = "\(e)"
            return d.contains("events") && d.contains("a record of 32 bytes") && d.contains("ShortEvent is 16 bytes")
        }
        let big = try EventsFixture(big: true)
        big.trigger(1)
        await #expect {
            for try await _ in big.events.records(as: CodedEvent.self) {}
        } throws: { e in "\(e)".contains("a record of 40 bytes") && "\(e)".contains("CodedEvent is 32 bytes") }
        // The blocking reader hands any size over; an error its closure throws stops it.
        let rb = try big.events.reader()
        big.trigger(2)
        var calls = 0
        #expect(throws: BPFError.self) {
            try rb.poll(timeout: .seconds(1)) { b in
                calls += 1
                throw BPFError("record of \(b.count) bytes")
            }
        }
        #expect(calls == 1)
    }

    @Test func notAnEventMapOrNotLoadedIsAnError() async throws {
        let f = try EventsFixture(attach: false)
        #expect { _ = try f.counts.reader() } throws: { e in
            "\(e)".contains("counts") && "\(e)".contains("hash") && "\(e)".contains("not a ringbuf or perf_event_array")
        }
        await #expect {
            for try await _ in f.counts.records(as: RawEvent.self) {}
        } throws: { e in "\(e)".contains("not a ringbuf") }
        let rb = try f.events.reader()
        #expect { try rb.add(f.pb) } throws: { e in "\(e)".contains("perf_event_array map, not a ring buffer") }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Fixtures.object("lib_events"))))
        let unloaded = try BPFSkeleton(elf: bytes, objectName: "lib_events", source: "lib_events.bpf.o")
        #expect { _ = try unloaded.map("events").reader() } throws: { e in "\(e)".contains("not loaded") }
        #expect { _ = try EventReader.perfBuffer(map: f.pb.fd!, name: "pb", pagesPerCPU: 3) } throws: { e in
            "\(e)".contains("not a power of two")
        }
    }

    @Test func perfBufferReportsLostSamples() async throws {
        let f = try EventsFixture()
        // One page per CPU holds about 80 records: the rest are lost.
        let rb = try EventReader.perfBuffer(map: f.pb.fd!, name: "pb", pagesPerCPU: 1)
        onCPU0 { f.trigger(2000) }
        var lost: [LostSamples] = []
        var got = 0
        while try rb.poll(timeout: .milliseconds(200), lost: { lost.append($0) }, { _ in got += 1 }) > 0 {}
        // The kernel writes its lost-count record once there is room again.
        onCPU0 { f.trigger(1) }
        while try rb.poll(timeout: .milliseconds(200), lost: { lost.append($0) }, { _ in got += 1 }) > 0 {}
        let total = lost.reduce(0) { $0 + $1.count }
        #expect(total > 0 && got > 0)
        #expect(UInt64(got) + total == 2001, "got \(got), lost \(total)")
        #expect(rb.lostSamples == total)

        // In the async sequence, lost samples end the loop with an error unless onLost takes them.
        let small = try EventReader.perfBuffer(map: f.pb.fd!, name: "pb", pagesPerCPU: 1)
        onCPU0 { f.trigger(2000) }
        let records = EventRecords(open: { small }) { b throws(BPFError) in b.count }
        await #expect {
            var n = 0
            for try await _ in records {
                n += 1
                if n == 1 { onCPU0 { f.trigger(1) } }  // makes the kernel report the loss
            }
        } throws: { e in "\(e)".contains("read perf buffer pb") && "\(e)".contains("lost on CPU") }
    }

    @Test func leavingOrCancellingTheLoopFreesTheReader() async throws {
        let f = try EventsFixture()
        let before = readerDescriptorCount()
        f.trigger(5)
        for try await _ in f.events.records(as: RawEvent.self) { break }
        #expect(readerDescriptorCount() == before, "break frees the reader")

        // An idle loop blocks; cancelling its task ends it and frees the reader.
        let idle = Task { () throws -> Int in
            var n = 0
            for try await _ in f.events.records(as: RawEvent.self) { n += 1 }
            return n
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(readerDescriptorCount() > before, "the loop holds its reader while it runs")
        let cpuBefore = readerThreadCPU()
        #expect(cpuBefore.threads == 1)
        try await Task.sleep(for: .milliseconds(500))
        let cpu = readerThreadCPU().ticks - cpuBefore.ticks
        idle.cancel()
        // The first loop's reader took all five records from the ring.
        #expect(try await idle.value == 0)
        #expect(readerDescriptorCount() == before, "cancelling frees the reader")
        // An idle reader sleeps in epoll: no tick of CPU in half a second (a
        // spinning one would use about 50 ticks of 10 ms).
        #expect(cpu <= 1, "CPU ticks of the idle reader thread in 0.5 s: \(cpu)")
        #expect(readerThreadCPU().threads == 0, "the reader thread ended")

        // The same for a perf buffer after it delivered records.
        let perfIdle = Task { () throws -> Int in
            var n = 0
            for try await _ in f.pb.records(as: RawEvent.self) { n += 1 }
            return n
        }
        try await Task.sleep(for: .milliseconds(100))
        f.trigger(3)
        try await Task.sleep(for: .milliseconds(100))
        let perfBefore = readerThreadCPU()
        try await Task.sleep(for: .milliseconds(500))
        let perfCPU = readerThreadCPU().ticks - perfBefore.ticks
        perfIdle.cancel()
        #expect(try await perfIdle.value == 3)
        #expect(perfCPU <= 1, "CPU ticks of the idle perf reader thread in 0.5 s: \(perfCPU)")
        #expect(readerDescriptorCount() == before)
    }
}

/// Clock ticks of CPU the reader threads ("bpfswift-events") used so far, and how many there are.
func readerThreadCPU() -> (ticks: Int, threads: Int) {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    var ticks = 0, threads = 0
    for t in tasks {
        guard let comm = try? String(contentsOfFile: "/proc/self/task/\(t)/comm", encoding: .utf8),
              comm.trimmingCharacters(in: .newlines) == "bpfswift-events",
              let stat = try? String(contentsOfFile: "/proc/self/task/\(t)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 13 { ticks += (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) }
        threads += 1
    }
    return (ticks, threads)
}

/// Sizes in bytes of this process's perf buffer mappings (one per CPU a
/// perf buffer reads: `pages + 1` pages, the first one the header).
func perfBufferMappings() -> [Int] {
    // Read in a loop: /proc files have no size to read up to.
    var bytes: [UInt8] = []
    let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        close(fd)
    }
    let maps = String(decoding: bytes, as: UTF8.self)
    return maps.split(separator: "\n").compactMap { line -> Int? in
        guard line.hasSuffix("[perf_event]") else { return nil }
        let range = line.split(separator: " ")[0].split(separator: "-")
        guard range.count == 2, let lo = Int(range[0], radix: 16), let hi = Int(range[1], radix: 16) else { return nil }
        return hi - lo
    }
}

extension EventReaderTests {
    @Test func perfBufferPagesPerCPUSizesEachCPUsBuffer() async throws {
        let f = try EventsFixture()
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        // The blocking reader: one mapping of 8 + 1 pages per online CPU.
        do {
            let rb = try f.pb.reader(pagesPerCPU: 8)
            #expect(perfBufferMappings().filter { $0 == 9 * page }.count == cpus)
            _ = rb
        }
        #expect(perfBufferMappings().filter { $0 == 9 * page }.isEmpty, "the reader unmapped its buffers")
        // records(as:pagesPerCPU:): the loop's reader has 16 + 1 pages per CPU.
        let started = Atomic<Bool>(false)
        let consumer = Task { () throws -> Int in
            var n = 0
            for try await _ in f.pb.records(as: RawEvent.self, pagesPerCPU: 16) {
                n += 1
                started.store(true, ordering: .relaxed)
                if n == 3 { break }
            }
            return n
        }
        for _ in 0..<500 where !started.load(ordering: .relaxed) {
            f.trigger(1)
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(perfBufferMappings().filter { $0 == 17 * page }.count == cpus)
        f.trigger(3)
        #expect(try await consumer.value == 3)
        #expect(perfBufferMappings().filter { $0 == 17 * page }.isEmpty)
        // A page count that is not a power of two, or absurd, is an error of the loop.
        await #expect {
            for try await _ in f.pb.records(as: RawEvent.self, pagesPerCPU: 12) {}
        } throws: { e in "\(e)".contains("read perf buffer pb: 12 pages per CPU is not a power of two") }
        await #expect {
            for try await _ in f.pb.records(as: RawEvent.self, pagesPerCPU: 1 << 40) {}
        } throws: { e in "\(e)".contains("pages per CPU is more than") }
    }
}

extension EventReaderTests {
    @Test func ringRecordsWrapAroundTheRingAcrossLoopsAndAFullRingDropsTheRest() async throws {
        let f = try EventsFixture()
        // `events` is 256 KiB: 6553 records of 40 bytes (8 of header). Each
        // round's 5000 records wrap around the ring's end sooner or later,
        // and every loop reads them in place through the same mapping.
        var next: UInt32 = 0
        for round in 0..<3 {
            f.trigger(5000)
            var seqs: [UInt32] = []
            for try await e in f.events.records(as: RawEvent.self) {
                seqs.append(e.seq)
                if seqs.count == 5000 { break }
            }
            #expect(seqs == Array(next..<next + 5000), "round \(round)")
            next += 5000
        }
        // Nobody reads meanwhile: the ring fills and the producer drops
        // what does not fit (its reserve fails); the loop then reads the
        // records that fit, in order, and waits for more until cancelled.
        f.trigger(8000)
        let first = next
        let loop = Task { () throws -> [UInt32] in
            var seqs: [UInt32] = []
            for try await e in f.events.records(as: RawEvent.self) { seqs.append(e.seq) }
            return seqs
        }
        try await Task.sleep(for: .milliseconds(300))
        loop.cancel()
        let seqs = try await loop.value
        #expect(seqs.count > 6000 && seqs.count < 8000, "\(seqs.count) records")
        #expect(seqs == Array(first..<first + UInt32(seqs.count)))
        #expect(readerThreadCPU().threads == 0, "the reader thread ended")
    }
}
