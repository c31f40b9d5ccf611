import Testing
import BPFCore

@Suite struct MapTypeTests {
    @Test func namesRoundTripThroughLibbpf() {
        #expect(MapType.hash.name == "hash")
        #expect(MapType.lruPercpuHash.name == "lru_percpu_hash")
        #expect(MapType(name: "array_of_maps") == .arrayOfMaps)
        #expect(MapType(name: "ringbuf") == .ringbuf)
        // No prefix matching: a future type must not shadow an abbreviation.
        #expect(MapType(name: "has") == nil)
        #expect(MapType.allNames.first == "hash")
        #expect(MapType.allNames.contains("user_ringbuf"))
        #expect(MapType(rawValue: 9999).description == "type 9999")
    }

    @Test func perCPUAndReferenceKinds() {
        #expect(MapType.percpuArray.isPerCPU && MapType.lruPercpuHash.isPerCPU && MapType.percpuCgroupStorage.isPerCPU)
        #expect(!MapType.hash.isPerCPU)
        #expect(MapType.hashOfMaps.isMapOfMaps && !MapType.progArray.isMapOfMaps)
        #expect(MapType.progArray.isProgArray)
        #expect(MapType.hash.supportsBatchedLookup && !MapType.queue.supportsBatchedLookup)
    }

    @Test func possibleCPUsMatchSysfs() throws {
        let n = try possibleCPUCount()
        #expect(n >= 1)
    }
}
