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

@Suite(.serialized, .enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (run scripts/setup)"))
struct SkeletonPerCPUMapTests {
    @Test func perCPUMapIsALazySequenceWithSubscriptFlagsAndBatchOperations() throws {
        let f = try EventsFixture(attach: false)
        let m = try f.skeleton.perCPUMap("pcounts", key: UInt32.btfCodec, value: UInt64.btfCodec)
        let cpus = SkeletonMap.possibleCPUs
        func values(_ k: Int) -> [UInt64] { (0..<cpus).map { UInt64(k * 100 + $0) } }
        // Batch update of 300 keys, one value per CPU each.
        try m.update(batch: (0..<300).map { (UInt32($0), values($0)) })
        // The lazy sequence (bpf_map_lookup_batch under the hood) sees them all.
        var seen: [UInt32: [UInt64]] = [:]
        for (k, v) in m { seen[k] = v }
        #expect(seen.count == 300)
        #expect(seen.allSatisfy { $0.value == values(Int($0.key)) })
        #expect(m[7] == values(7))
        #expect(m[4000] == nil)
        #expect(try m.lookupAll(chunk: 7).count == 300)
        // Flags: noExist on an existing key fails, exist on a missing key fails.
        #expect { try m.update(7, values(1), flags: .noExist) } throws: { e in (e as? BPFError)?.errno == EEXIST }
        #expect { try m.update(4000, values(1), flags: .exist) } throws: { e in (e as? BPFError)?.errno == ENOENT }
        try m.update(7, allCPUs: 9, flags: .exist)
        #expect(m[7] == Array(repeating: 9, count: cpus))
        #expect { try m.update(batch: [(1, [1])]) } throws: { e in
            cpus == 1 || "\(e)".contains("1 per-CPU values given, the host has \(cpus) possible CPUs")
        }
        try m.update(allCPUs: [(500, 5), (501, 6)])
        #expect(m[501] == Array(repeating: 6, count: cpus))
        // Batch updates take only the lock flag (the kernel's rule): said before the call.
        #expect { try m.update(allCPUs: [(502, 1)], flags: .noExist) } throws: { e in
            "\(e)".contains("batch update map pcounts: flags other than lock do not apply to batch updates")
        }
        // Batch delete, then a missing key in a batch is an error naming the map.
        try m.delete(batch: (0..<100).map { UInt32($0) })
        #expect(Array(m).count == 202)
        #expect { try m.delete(batch: [1]) } throws: { e in "\(e)".contains("batch delete from map pcounts") }
        #expect(try m.delete(150))
        #expect(try !m.delete(150))
        #expect(Array(m).count == 201)
        // The kernel's view of the map matches: bpftool counts the entries.
        let id = try MapInfo(fd: try m.map.duplicateFD()).id
        let dump = try Bpftool.json(["map", "dump", "id", "\(id)"])
        #expect((dump as? [Any])?.count == 201)
    }
}
