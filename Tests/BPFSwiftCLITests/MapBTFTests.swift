import Testing
import Foundation
import BPFCore
import TestSupport

/// Maps with BTF: bpftool adds `formatted` to JSON and prints text through its
/// pretty JSON writer. Struct keys and values, enums, char arrays, bitfields,
/// per-CPU values and DATASEC (.bss) values against bpftool.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (run scripts/setup)"))
struct MapBTFTests {
    typealias T = MapCommandTests

    /// The flows map key and value of the fixture as bpftool update words.
    static let flowKey = ["1", "0", "0", "10", "2", "0", "0", "10", "0", "80", "1", "187", "6", "0", "0", "0"]
    static func flowValue(_ packets: UInt8, label: String, delta: Int32, bits: UInt8) -> [String] {
        var v = [UInt8](repeating: 0, count: 40)
        v[0] = packets
        v[9] = 1                                  // bytes = 256
        v[16] = 2                                 // state = FLOW_OPEN
        for (i, c) in label.utf8.prefix(8).enumerated() { v[20 + i] = c }
        withUnsafeBytes(of: delta.littleEndian) { for i in 0..<4 { v[28 + i] = $0[i] } }
        v[32] = bits                              // flag_a:1, flag_b:3, level:4
        return v.map { "\($0)" }
    }

    @Test func structKeyAndValueDumpAndLookup() throws {
        let dir = try BPFFSDir("map_btf_flows")
        let m = try T.loadMapTypes(dir)
        let flows = "\(m)/flows"
        try T.bt(["map", "update", "pinned", flows, "key"] + Self.flowKey
                 + ["value"] + Self.flowValue(5, label: "hi", delta: -1, bits: 0xf3))
        var key2 = Self.flowKey
        key2[12] = "17"
        try T.bt(["map", "update", "pinned", flows, "key"] + key2
                 + ["value"] + Self.flowValue(9, label: "abcdefgh", delta: 7, bits: 0x0e))
        try T.expectSame(["map", "dump", "pinned", flows])
        try T.expectSame(["map", "dump", "pinned", flows], environment: ["BPFSWIFT_MAP_NO_BATCH": "1"])
        try T.expectSame(["map", "lookup", "pinned", flows, "key"] + Self.flowKey)
        let j = try parseJSON(try bpfswift(args: ["-j", "map", "lookup", "pinned", flows, "key"] + Self.flowKey).stdout) as! [String: Any]
        let value = (j["formatted"] as! [String: Any])["value"] as! [String: Any]
        #expect(value["state"] as? String == "FLOW_OPEN" && value["label"] as? String == "hi")
        #expect((value["delta"] as? NSNumber)?.intValue == -1)
        // Pretty JSON holds the same values.
        let p = try parseJSON(try bpfswift(args: ["-p", "map", "dump", "pinned", flows]).stdout)
        #expect(jsonDifference(expected: try Bpftool.json(["map", "dump", "pinned", flows]), actual: p) == nil)
        dir.remove()
    }

    @Test func arrayAndPerCPUWithBTF() throws {
        let dir = try BPFFSDir("map_btf_pcpu")
        let m = try T.loadMapTypes(dir)
        try T.bt(["map", "update", "pinned", "\(m)/counts", "key", "2", "0", "0", "0", "value", "7", "0", "0", "0", "0", "0", "0", "1"])
        try T.expectSame(["map", "dump", "pinned", "\(m)/counts"])
        try T.bt(["map", "update", "pinned", "\(m)/pcpu_arr", "key", "1", "0", "0", "0", "value", "255", "255", "255", "255"])
        try T.expectSame(["map", "dump", "pinned", "\(m)/pcpu_arr"])
        try T.expectSame(["map", "lookup", "pinned", "\(m)/pcpu_arr", "key", "1", "0", "0", "0"])
        try T.bt(["map", "update", "pinned", "\(m)/pcpu_hash", "key", "3", "0", "0", "0", "value"]
                 + Self.flowValue(1, label: "cpu", delta: 3, bits: 0x81))
        try T.expectSame(["map", "dump", "pinned", "\(m)/pcpu_hash"])
        try T.bt(["map", "update", "pinned", "\(m)/lru", "key", "1", "2", "3", "4", "5", "6", "7", "8", "value", "9", "0", "0", "0"])
        try T.expectSame(["map", "dump", "pinned", "\(m)/lru"])
        dir.remove()
    }

    @Test func queueAndStackWithBTF() throws {
        let dir = try BPFFSDir("map_btf_queue")
        let m = try T.loadMapTypes(dir)
        #expect(try bpfswift("map", "push", "pinned", "\(m)/lifo", "value", "1", "2", "3", "4", "5", "6", "7", "8").status == 0)
        #expect(try bpfswift("map", "enqueue", "pinned", "\(m)/fifo", "value", "4", "0", "0", "0").status == 0)
        try T.expectSame(["map", "peek", "pinned", "\(m)/lifo"])
        try T.expectSame(["map", "peek", "pinned", "\(m)/fifo"])
        // bpftool's text for a popped element with BTF; then pop ours.
        let theirs = try T.bt(["map", "pop", "pinned", "\(m)/lifo"]).stdout
        #expect(try bpfswift("map", "push", "pinned", "\(m)/lifo", "value", "1", "2", "3", "4", "5", "6", "7", "8").status == 0)
        #expect(try bpfswift("map", "pop", "pinned", "\(m)/lifo").stdout == theirs)
        dir.remove()
    }

    @Test func dataSectionValues() throws {
        // counter.bpf.o's .bss and .rodata maps hold DATASEC values.
        let dir = try BPFFSDir("map_btf_datasec")
        try T.bt(["prog", "loadall", try Fixtures.object("counter"), dir.sub("p"), "pinmaps", dir.sub("m")])
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.sub("m"))
        #expect(names.contains { $0.hasSuffix("bss") } && names.contains { $0.hasSuffix("rodata") })
        for n in names {
            try T.expectSame(["map", "dump", "pinned", dir.sub("m") + "/" + n])
            try T.expectSame(["map", "show", "pinned", dir.sub("m") + "/" + n])
        }
        dir.remove()
    }
}
