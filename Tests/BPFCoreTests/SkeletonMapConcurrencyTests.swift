import Testing
import Foundation
@testable import BPFCore
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (run scripts/setup)"))
struct SkeletonMapConcurrencyTests {
    @Test func typedMapIsALazySequenceWithSubscriptAndBatchOperations() throws {
        let f = try EventsFixture(attach: false)
        let counts = try f.skeleton.map("counts", key: UInt32.btfCodec, value: UInt64.btfCodec)
        try counts.update(batch: (0..<300).map { (UInt32($0), UInt64($0) * 10) })
        var seen: [UInt32: UInt64] = [:]
        for (k, v) in counts { seen[k] = v }
        #expect(seen.count == 300 && seen.allSatisfy { $0.value == UInt64($0.key) * 10 })
        #expect(counts[7] == 70)
        #expect(counts[5000] == nil)
        #expect(try counts.lookupAll(chunk: 7).count == 300)
        #expect(throws: BPFError.self) { try counts.update(batch: [(1, 1)], flags: .noExist) }
        try counts.delete(batch: (0..<100).map { UInt32($0) })
        #expect(Array(counts).count == 200)
        #expect { try counts.delete(batch: [1]) } throws: { e in "\(e)".contains("batch delete from map counts") }
        #expect { try counts.updateBatch([(key: [1], value: [2])]) } throws: { e in
            "\(e)".contains("entry 0 has a 1-byte key and a 1-byte value, the map needs 4 and 8")
        }
        // An array map: iterated in batches too.
        let rodataBytes = try f.skeleton.map("lib_even.rodata")
        #expect(rodataBytes.keySize == 4)
    }

    @Test func eventsOnOneTaskWhileAnotherUpdatesMapsAndGlobals() async throws {
        let f = try EventsFixture()
        let skeleton = f.skeleton  // Sendable: handed to both tasks
        let bss = try skeleton.globals("lib_even.bss", access: .writable)
        let counts = try skeleton.map("counts", key: UInt32.btfCodec, value: UInt64.btfCodec)
        let events = try skeleton.map("events")
        let reader = Task { () throws -> Int in
            var n = 0
            for try await _ in events.records(as: RawEvent.self) {
                n += 1
                if n == 500 { break }
            }
            return n
        }
        let writer = Task { () throws -> Int in
            var updates = 0
            for i in 0..<500 {
                f.trigger(1)
                try counts.update(UInt32(2000 + i % 7), UInt64(i))
                _ = counts[UInt32(i % 7)]
                bss.store(UInt32(bss.load(at: 0, UInt32.btfCodec)), at: 0, UInt32.btfCodec, name: "seq")
                updates += 1
            }
            return updates
        }
        #expect(try await writer.value == 500)
        #expect(try await reader.value == 500)
        #expect(try counts.lookup(2000) != nil)
        #expect(skeleton.isLoaded && skeleton.isAttached)
    }

    @Test func pinReplaceSwapsAnExistingTree() throws {
        let dir = try BPFFSDir("lib_replace")
        defer { dir.remove() }
        let path = dir.sub("ev")
        let first = try EventsFixture(attach: false)
        try first.skeleton.pin(at: path)
        let second = try EventsFixture(attach: false)
        #expect { try second.skeleton.pin(at: path) } throws: { e in
            "\(e)".hasPrefix("pin object lib_events at \(path)") && (e as? BPFError)?.errno == EEXIST
        }
        try second.skeleton.pin(at: path, replace: true)
        // The pinned events map is the second skeleton's now.
        let pinned = try BPFMap.open(.pinned(path + "/maps/events"))
        let secondID = try MapInfo(fd: try second.events.map.duplicateFD()).id
        #expect(pinned.first?.info.id == secondID)
        #expect { try second.skeleton.pin(at: dir.sub("x"), replace: true) } throws: { e in "\(e)".contains("already pinned") }
    }
}
