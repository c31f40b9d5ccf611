import Testing
import Foundation
import BPFCore
import TestSupport

/// Collects every element a walk reads.
struct Collector: MapWalkVisitor {
    var entries: [([UInt8], [UInt8])] = []
    var failures: [([UInt8], Int32)] = []
    mutating func visit(_ e: MapEntries) throws(BPFError) {
        for i in 0..<e.count { entries.append((Array(e.key(i)), Array(e.value(i)))) }
    }
    mutating func visitLookupFailure(key: UnsafeRawBufferPointer, errno: Int32) throws(BPFError) {
        failures.append((Array(key), errno))
    }
}

@Suite(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (run scripts/setup)"))
struct MapWalkTests {
    static func make(_ type: MapType, key: UInt32 = 4, value: UInt32, entries: UInt32) throws -> BPFMap {
        try BPFMap.create(type: type, name: "walk_test", keySize: key, valueSize: value, maxEntries: entries)
    }

    static func key(_ i: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: i &* 2654435761).littleEndian) { Array($0) }
    }

    @Test func batchedWalkEqualsKeyWalkAcrossManyBatches() throws {
        let m = try Self.make(.hash, value: 8, entries: 5000)
        for i in 0..<4000 { try m.update(key: Self.key(i), value: (0..<8).map { UInt8(truncatingIfNeeded: i + $0) }) }
        var batched = Collector(), byKey = Collector()
        // 64 elements per batch: many batches, buckets split across calls.
        #expect(try m.walk(&batched, batchBytes: 64) == .batched)
        #expect(try m.walk(&byKey, preferBatch: false) == .elementByElement)
        #expect(batched.entries.count == 4000)
        #expect(batched.entries.map { $0.0 } == byKey.entries.map { $0.0 })
        #expect(batched.entries.map { $0.1 } == byKey.entries.map { $0.1 })
        #expect(batched.failures.isEmpty && byKey.failures.isEmpty)
    }

    @Test func perCPUValuesHaveOneSlotPerPossibleCPU() throws {
        let cpus = try possibleCPUCount()
        let m = try Self.make(.percpuArray, value: 12, entries: 3)
        #expect(m.info.perCPUValueStride == 16)
        #expect(try m.valueBufferSize() == 16 * cpus)
        var v = [UInt8](repeating: 0, count: 16 * cpus)
        for c in 0..<cpus { v[c * 16] = UInt8(c + 1); v[c * 16 + 11] = 0xee }
        try m.update(key: [1, 0, 0, 0], value: v)
        var c = Collector()
        #expect(try m.walk(&c) == .batched)
        #expect(c.entries.count == 3)
        #expect(c.entries[1].1 == v)
        #expect(try m.lookup(key: [1, 0, 0, 0]) == v)
    }

    @Test func mapsOfMapsAndQueuesFallBackOrFail() throws {
        let inner = try Self.make(.array, value: 4, entries: 1)
        let outer = try BPFMap.create(type: .arrayOfMaps, name: "walk_outer", keySize: 4, valueSize: 4,
                                      maxEntries: 3, innerMap: inner)
        try outer.update(key: [2, 0, 0, 0], value: withUnsafeBytes(of: UInt32(bitPattern: inner.fd.rawValue)) { Array($0) })
        var c = Collector()
        #expect(try outer.walk(&c) == .elementByElement)
        // Empty slots answer ENOENT; slot 2 holds the inner map's id.
        #expect(c.entries.count == 1 && c.failures.map { $0.1 } == [ENOENT, ENOENT])
        #expect(c.entries[0].1 == withUnsafeBytes(of: inner.info.id.rawValue) { Array($0) })

        let q = try Self.make(.queue, key: 0, value: 4, entries: 2)
        try q.update(key: nil, value: [1, 2, 3, 4])
        #expect(try q.lookup(key: nil) == [1, 2, 3, 4])
        var qc = Collector()
        #expect(throws: BPFError.self) { try q.walk(&qc) }
        #expect(try q.lookupAndDelete(key: nil) == [1, 2, 3, 4])
        #expect(try q.lookupAndDelete(key: nil) == nil)
    }

    @Test func elementOperationsAndInfo() throws {
        let m = try BPFMap.create(type: .hash, name: "walk_ops", keySize: 4, valueSize: 4, maxEntries: 8, flags: 1)
        #expect(m.info.type == .hash && m.info.name == "walk_ops" && m.info.flags == 1)
        #expect(m.info.keySize == 4 && m.info.valueSize == 4 && m.info.maxEntries == 8)
        #expect(m.info.memlock != nil && m.info.frozen == 0 && m.info.btfID == 0)
        try m.update(key: [1, 0, 0, 0], value: [9, 9, 9, 9], flag: .noExist)
        #expect(throws: BPFError.self) { try m.update(key: [1, 0, 0, 0], value: [1, 1, 1, 1], flag: .noExist) }
        #expect(throws: BPFError.self) { try m.update(key: [2, 0, 0, 0], value: [1, 1, 1, 1], flag: .exist) }
        #expect(try m.nextKey(after: nil) == [1, 0, 0, 0])
        #expect(try m.nextKey(after: [1, 0, 0, 0]) == nil)
        try m.delete(key: [1, 0, 0, 0])
        #expect(try m.lookup(key: [1, 0, 0, 0]) == nil)
        do {
            try m.delete(key: [1, 0, 0, 0])
            Issue.record("delete of a missing key succeeded")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.description.hasPrefix("delete key from map id \(m.info.id) (walk_ops): No such file"))
        }
        #expect(throws: BPFError.self) { try m.lookup(key: [1, 0]) }
        try m.freeze()
        #expect(try MapInfo(fd: m.fd).frozen == 1)
    }
}
