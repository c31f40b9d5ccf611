import Testing
import Foundation
@testable import BPFCore
@testable import BPFSwiftCLI
import TestSupport

/// Renderings of program states this kernel cannot produce on demand
/// (offloaded, orphaned, unknown types), checked against bpftool's formats
/// in print_prog_plain / print_prog_json.
@Suite struct ProgOutputTests {
    static func info(type: UInt32 = 1, name: String = "prog", run: UInt64 = 0, misses: UInt64 = 0,
                     ifindex: UInt32 = 0, orphaned: Bool = false, jited: UInt32 = 20, loadTime: UInt64 = 0,
                     maps: [UInt32] = [], btf: UInt32? = nil, memlock: String? = "4096") -> ProgramInfo {
        ProgramInfo(id: ProgramID(42), type: type, kernelName: name, name: name,
                    tag: [0xaa, 0xbb, 0xcc, 0xdd, 0, 1, 2, 3], gplCompatible: true,
                    runTimeNanoseconds: run, runCount: run == 0 ? 0 : 7, recursionMisses: misses,
                    loadTime: loadTime, createdByUID: 1000, orphaned: orphaned, xlatedLength: 16, jitedLength: jited,
                    memlock: memlock, mapIDs: maps.map { MapID($0) }, btfID: btf.map { BTFID($0) },
                    ifindex: ifindex, netnsDevice: 4, netnsInode: 4026531840, verifiedInstructions: 2,
                    attachBTFObjectID: 0, attachBTFID: 0, funcInfoCount: 0, funcInfoRecordSize: 0)
    }

    func json(_ v: ProgView) throws -> [String: Any] {
        var w = JSONWriter()
        v.writeJSON(to: &w)
        return try #require(try parseJSON(String(decoding: w.bytes, as: UTF8.self)) as? [String: Any])
    }

    @Test func runStatisticsAndRecursionMisses() throws {
        let v = ProgView(info: Self.info(run: 1234, misses: 3), pinned: nil, metadata: nil)
        #expect(v.text().hasPrefix("42: socket_filter  name prog  tag aabbccdd00010203  gpl run_time_ns 1234 run_cnt 7 recursion_misses 3\n"))
        let j = try json(v)
        #expect(j["run_time_ns"] as? Int == 1234 && j["run_cnt"] as? Int == 7 && j["recursion_misses"] as? Int == 3)
    }

    @Test func unknownTypeNamelessNotJitedOrphaned() throws {
        let v = ProgView(info: Self.info(type: 999, name: "", orphaned: true, jited: 0, memlock: nil),
                         pinned: nil, metadata: nil)
        #expect(v.text() == "42: type 999  tag aabbccdd00010203  gpl\n\txlated 16B  not jited  orphaned\n")
        let j = try json(v)
        #expect(j["type"] as? Int == 999)
        #expect(j["name"] == nil && j["bytes_jited"] == nil && j["bytes_memlock"] == nil && j["loaded_at"] == nil)
        #expect(j["jited"] as? Bool == false && j["orphaned"] as? Bool == true)
    }

    @Test func offloadedToADeviceElsewhere() throws {
        // A namespace that is not ours: bpftool prints the raw numbers.
        let v = ProgView(info: Self.info(ifindex: 7), pinned: nil, metadata: nil)
        #expect(v.text().hasPrefix("42: socket_filter  name prog  tag aabbccdd00010203  offloaded_to ifindex 7 ns_dev 4 ns_ino 4026531840  gpl\n"))
        let dev = try #require(try json(v)["dev"] as? [String: Any])
        #expect(dev["ifindex"] as? Int == 7 && dev["ns_dev"] as? Int == 4 && dev["ns_inode"] as? Int == 4026531840)
        #expect(dev["ifname"] == nil)
    }

    @Test func mapsPinsAndBTFLines() throws {
        let v = ProgView(info: Self.info(maps: [3, 1, 2], btf: 9), pinned: ["/sys/fs/bpf/a", "/sys/fs/bpf/b"], metadata: nil)
        #expect(v.text() == """
            42: socket_filter  name prog  tag aabbccdd00010203  gpl
            \txlated 16B  jited 20B  memlock 4096B  map_ids 3,1,2
            \tpinned /sys/fs/bpf/a
            \tpinned /sys/fs/bpf/b
            \tbtf_id 9

            """)
        let j = try json(v)
        #expect(j["map_ids"] as? [Int] == [3, 1, 2])
        #expect(j["pinned"] as? [String] == ["/sys/fs/bpf/a", "/sys/fs/bpf/b"])
        // -f with nothing pinned for this program: an empty list.
        let none = try json(ProgView(info: Self.info(), pinned: [], metadata: nil))
        #expect(none["pinned"] as? [String] == [])
    }

    @Test func keysComeInBpftoolsOrder() {
        let v = ProgView(info: Self.info(run: 5, loadTime: 1_000_000_000, maps: [1], btf: 2), pinned: ["/p"], metadata: nil)
        var w = JSONWriter()
        v.writeJSON(to: &w)
        let text = String(decoding: w.bytes, as: UTF8.self)
        let keys = ["id", "type", "name", "tag", "gpl_compatible", "run_time_ns", "run_cnt", "loaded_at", "uid",
                    "orphaned", "bytes_xlated", "jited", "bytes_jited", "bytes_memlock", "map_ids", "btf_id", "pinned"]
        let positions = keys.map { text.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
    }
}
