// Compiled in the Swift 6 language mode (strict concurrency: every value
// handed to a task must be Sendable), and run by scripts/test --tsan under
// ThreadSanitizer: a skeleton's events are read on one task while other
// tasks update its maps and globals. (XCTest: Swift Testing's macros do not
// build in the Swift 6 language mode with this toolchain.)
import XCTest
import Foundation
import Synchronization
import BPFCore
import TestSupport

/// `struct event` of lib_events.bpf.c (32 bytes, the C layout).
struct Event: BitwiseCopyable {
    var pid: UInt32
    var seq: UInt32
    var arg: UInt64
    var comm: (UInt64, UInt64)
}

/// A flag tasks share.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

final class ConcurrentSkeletonTests: XCTestCase {
    func testEventsOnOneTaskWhileOthersUpdateMapsAndGlobals() async throws {
        try XCTSkipUnless(TestEnv.kernelTestsEnabled, "needs root and bpffs (run scripts/setup)")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Fixtures.object("lib_events"))))
        let skeleton = try BPFSkeleton(elf: bytes, objectName: "lib_events", source: "lib_events.bpf.o")
        // An argument no other test or process uses (see lib_events.bpf.c).
        let arg = 0x2800_0000 + Int32.random(in: 0..<0x0400_0000) * 2
        let rodata = try skeleton.globals("lib_even.rodata", access: .writableUntilLoad)
        rodata.store(UInt64(arg), at: 0, UInt64.btfCodec, name: "want_arg")
        let events = try skeleton.map("events")
        let counts = try skeleton.map("counts", key: UInt32.btfCodec, value: UInt64.btfCodec)
        let pcounts = try skeleton.perCPUMap("pcounts", key: UInt32.btfCodec, value: UInt64.btfCodec)
        try skeleton.load()
        try skeleton.attach()
        let bss = try skeleton.globals("lib_even.bss", access: .writable)
        let total = 2000

        // Task 1 reads the events; tasks 2 and 3 make events, write the maps
        // and the .bss; task 4 reads maps and globals meanwhile.
        let reader = Task { () throws -> [UInt32] in
            var seqs: [UInt32] = []
            for try await e in events.records(as: Event.self) {
                if e.arg != UInt64(arg) { throw TestFailure("an event for argument \(e.arg), not \(arg)") }
                seqs.append(e.seq)
                if seqs.count == total { break }
            }
            return seqs
        }
        let done = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<2 {
                group.addTask {
                    for i in 0..<(total / 2) {
                        _ = getpgid(arg)
                        try counts.update(UInt32(3000 + w * 1000 + i % 50), UInt64(i))
                        try pcounts.update(UInt32(w * 100 + i % 10), allCPUs: UInt64(i))
                        bss.store(UInt64(w * 1_000_000 + i), at: 8, UInt64.btfCodec, name: "marker")
                        if i % 100 == 0 { try counts.update(batch: (0..<10).map { (UInt32(5000 + w * 10 + $0), UInt64(i)) }) }
                    }
                }
            }
            group.addTask {
                var reads = 0
                while !done.isSet || reads < 10 {
                    _ = bss.load(at: 0, UInt32.btfCodec)
                    _ = bss.load(at: 8, UInt64.btfCodec)
                    _ = counts[3000]
                    _ = Array(pcounts.prefix(5))
                    reads += 1
                    await Task.yield()
                }
            }
            // Wait for the two writers, then stop the map reader.
            try await group.next()
            try await group.next()
            done.set()
            try await group.waitForAll()
        }
        let seqs = try await reader.value
        // Every event exactly once (two CPUs: not necessarily in seq order).
        XCTAssertEqual(seqs.count, total)
        XCTAssertEqual(Set(seqs), Set(0..<UInt32(total)))
        // The program's counter in .bss saw every event; the maps hold what the tasks wrote.
        XCTAssertEqual(bss.load(at: 0, UInt32.btfCodec), UInt32(total))
        XCTAssertEqual(bss.load(at: 8, UInt64.btfCodec) % 1_000_000, UInt64(total / 2 - 1))
        XCTAssertEqual(try counts.lookup(3000 + 49), UInt64(total / 2 - 1))
        XCTAssertEqual(try pcounts.lookup(109), Array(repeating: UInt64(total / 2 - 1), count: SkeletonMap.possibleCPUs))
        XCTAssertEqual(counts.count { $0.key >= 5000 }, 20)
    }
}
