import Testing
import Foundation
import BPFCore
import TestSupport

/// `bpfswift map ...` against `bpftool map ...` on the running kernel: the same
/// maps, the same words, the same stdout (text byte for byte, JSON value for value).
@Suite(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (run scripts/setup)"))
struct MapCommandTests {
    // MARK: helpers

    nonisolated(unsafe) static var counter = 0
    static let lock = NSLock()

    /// A map name unique to this test process (at most 15 characters).
    static func uniqueName(_ prefix: String) -> String {
        lock.lock(); counter += 1; let n = counter; lock.unlock()
        return String("\(prefix)\(getpid() % 100_000)_\(n)".prefix(15))
    }

    /// Runs bpftool and requires success.
    @discardableResult
    static func bt(_ args: [String]) throws -> ProcessResult {
        let r = try Bpftool.run(args)
        guard r.status == 0 else { throw TestFailure("bpftool \(args.joined(separator: " ")): \(r.stderr)\(r.stdout)") }
        return r
    }

    /// Creates a map with bpftool at `path`.
    static func create(_ path: String, _ type: String, key: Int, value: Int, entries: Int, name: String,
                       extra: [String] = []) throws {
        try bt(["map", "create", path, "type", type, "key", "\(key)", "value", "\(value)",
                "entries", "\(entries)", "name", name] + extra)
    }

    /// Loads the map_types fixture; its maps are pinned under DIR/m, programs under DIR/p.
    static func loadMapTypes(_ dir: BPFFSDir) throws -> String {
        try bt(["prog", "loadall", try Fixtures.object("map_types"), dir.sub("p"), "pinmaps", dir.sub("m")])
        return dir.sub("m")
    }

    static func id(ofPinned path: String) throws -> UInt32 {
        let j = try Bpftool.json(["map", "show", "pinned", path]) as! [String: Any]
        return (j["id"] as! NSNumber).uint32Value
    }

    /// Text and JSON of bpftool and bpfswift for `args` must agree: same stdout
    /// text, same JSON (both ways, so no key is extra or missing), same success.
    static func expectSame(_ args: [String], text: Bool = true, json: Bool = true,
                           environment: [String: String]? = nil,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        if text {
            let t = try Bpftool.run(args)
            let o = try bpfswift(args: args, environment: environment)
            #expect(o.stdout == t.stdout, "text of \(args.joined(separator: " ")):\n--- bpftool\n\(t.stdout)--- bpfswift\n\(o.stdout)\(o.stderr)",
                    sourceLocation: sourceLocation)
            #expect((o.status == 0) == (t.status == 0), "status \(o.status) vs bpftool \(t.status): \(o.stderr)",
                    sourceLocation: sourceLocation)
            #expect(!o.signaled, sourceLocation: sourceLocation)
        }
        if json {
            let t = try Bpftool.run(["-j"] + args)
            let o = try bpfswift(args: ["-j"] + args, environment: environment)
            #expect(o.status == 0 && t.status == 0, "-j \(args.joined(separator: " ")): \(o.status) \(o.stderr) / bpftool \(t.status) \(t.stdout)",
                    sourceLocation: sourceLocation)
            guard o.status == 0, t.status == 0 else { return }
            let tj = try parseJSON(t.stdout), oj = try parseJSON(o.stdout)
            let d1 = jsonDifference(expected: tj, actual: oj)
            let d2 = jsonDifference(expected: oj, actual: tj)
            #expect(d1 == nil, "-j \(args.joined(separator: " ")): \(d1 ?? "")", sourceLocation: sourceLocation)
            #expect(d2 == nil, "-j \(args.joined(separator: " ")) has extra: \(d2 ?? "")", sourceLocation: sourceLocation)
        }
    }

    /// The command must fail (exit 1 unless `status` says otherwise) with one
    /// error line containing `message`, and `{"error": ...}` under -j.
    static func expectFailure(_ args: [String], status: Int32 = 1, message: String,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let o = try bpfswift(args: args)
        #expect(o.status == status, "\(args): status \(o.status), \(o.stderr)", sourceLocation: sourceLocation)
        #expect(o.stderr.contains(message), "\(args): stderr \(o.stderr)", sourceLocation: sourceLocation)
        #expect(o.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }.count == 1, sourceLocation: sourceLocation)
        let j = try bpfswift(args: ["-j"] + args)
        #expect(j.status == status, sourceLocation: sourceLocation)
        let parsed = try parseJSON(j.stdout) as? [String: Any]
        #expect((parsed?["error"] as? String)?.contains(message) == true, "\(j.stdout)", sourceLocation: sourceLocation)
    }

    /// Fills `path` through bpftool with keys 0..<n (4-byte) and values from `value(i)`.
    static func fill(_ path: String, _ n: Int, value: (Int) -> [UInt8]) throws {
        for i in 0..<n {
            let k = withUnsafeBytes(of: UInt32(i).littleEndian) { Array($0) }
            try bt(["map", "update", "pinned", path, "key"] + k.map { "\($0)" } + ["value"] + value(i).map { "\($0)" })
        }
    }

    // MARK: show

    @Test func showHashByIdPinnedAndName() throws {
        let dir = try BPFFSDir("map_show")
        let name = Self.uniqueName("show")
        try Self.create(dir.sub("h"), "hash", key: 4, value: 8, entries: 16, name: name)
        let id = try Self.id(ofPinned: dir.sub("h"))
        try Self.expectSame(["map", "show", "pinned", dir.sub("h")])
        try Self.expectSame(["map", "show", "id", "\(id)"])
        try Self.expectSame(["map", "list", "name", name])
        try Self.expectSame(["-f", "map", "show", "id", "\(id)"])
        let f = try bpfswift("-f", "map", "show", "id", "\(id)")
        #expect(f.stdout.contains("\tpinned \(dir.sub("h"))\n"))
        dir.remove()
    }

    @Test func showEveryMapAgreesWithBpftool() throws {
        let dir = try BPFFSDir("map_show_all")
        let m = try Self.loadMapTypes(dir)
        let t = try Bpftool.json(["map", "show"]) as! [[String: Any]]
        let o = try parseJSON(try bpfswift("-j", "map", "show").stdout) as! [[String: Any]]
        let ours = Dictionary(o.map { (($0["id"] as! NSNumber).intValue, $0) }, uniquingKeysWith: { a, _ in a })
        var compared = 0
        for tm in t {
            // Other tests create and drop maps meanwhile: compare the ones both saw.
            let id = (tm["id"] as! NSNumber).intValue
            guard let om = ours[id] else { continue }
            var expected = tm
            if jsonDifference(expected: tm, actual: om) != nil {
                // bpftool 7.5 reuses one bpf_map_info across its listing, and this
                // kernel reads the struct in before filling it: a map without BTF
                // then shows the previous map's btf_id. Its per-map show is right.
                guard let single = try? Bpftool.json(["map", "show", "id", "\(id)"]) as? [String: Any] else { continue }
                #expect(single["btf_id"] == nil && tm["btf_id"] != nil, "map \(id): \(jsonDifference(expected: tm, actual: om) ?? "")")
                expected = single
            }
            #expect(jsonDifference(expected: expected, actual: om) == nil, "\(jsonDifference(expected: expected, actual: om) ?? "")")
            #expect(jsonDifference(expected: om, actual: expected) == nil, "\(jsonDifference(expected: om, actual: expected) ?? "")")
            compared += 1
        }
        #expect(compared >= 13)
        // Every map of the fixture, text included.
        for name in ["flows", "counts", "pcpu_arr", "pcpu_hash", "lru", "fifo", "lifo", "events",
                     "inner_a", "outer_arr", "outer_hash", "jumps"] {
            try Self.expectSame(["map", "show", "pinned", "\(m)/\(name)"])
        }
        dir.remove()
    }

    @Test func showProgArrayOwnerAndRingbuf() throws {
        let dir = try BPFFSDir("map_show_owner")
        let m = try Self.loadMapTypes(dir)
        let s = try bpfswift("map", "show", "pinned", "\(m)/jumps")
        #expect(s.stdout.contains("\n\towner_prog_type raw_tracepoint  owner jited\n"))
        try Self.expectSame(["map", "show", "pinned", "\(m)/jumps"])
        try Self.expectSame(["map", "show", "pinned", "\(m)/events"])
        try Self.expectFailure(["map", "dump", "pinned", "\(m)/events"], message: "ringbuf maps have no keys to walk")
        dir.remove()
    }

    @Test func showNameMatchingSeveralMaps() throws {
        let dir = try BPFFSDir("map_show_dup")
        let name = Self.uniqueName("dup")
        try Self.create(dir.sub("a"), "hash", key: 4, value: 4, entries: 4, name: name)
        try Self.create(dir.sub("b"), "array", key: 4, value: 4, entries: 2, name: name)
        try Self.bt(["map", "update", "pinned", dir.sub("a"), "key", "1", "0", "0", "0", "value", "2", "0", "0", "0"])
        try Self.expectSame(["map", "show", "name", name])
        // dump prints a header per map (text) or {id, type, name, flags, elements} (JSON).
        try Self.expectSame(["map", "dump", "name", name])
        // Verbs that need one map refuse.
        try Self.expectFailure(["map", "lookup", "name", name, "key", "1", "0", "0", "0"], message: "several maps match")
        dir.remove()
    }

    @Test func showErrors() throws {
        try Self.expectFailure(["map", "show", "id", "4000000000"], message: "get map by id 4000000000")
        try Self.expectFailure(["map", "show", "name", "nosuchmap_zzz"], message: "find map named nosuchmap_zzz")
        try Self.expectFailure(["map", "show", "pinned", "/sys/fs/bpf/no/such/pin"], message: "open pinned map /sys/fs/bpf/no/such/pin: No such file or directory")
        let u = try bpfswift("map", "show", "tag", "aa")
        #expect(u.status == 2)
    }

    // MARK: dump

    @Test func dumpHashTextJSONAndBothWalks() throws {
        let dir = try BPFFSDir("map_dump_hash")
        try Self.create(dir.sub("h"), "hash", key: 4, value: 8, entries: 512, name: Self.uniqueName("dh"))
        try Self.fill(dir.sub("h"), 40) { i in (0..<8).map { UInt8(truncatingIfNeeded: i * 7 + $0) } }
        try Self.expectSame(["map", "dump", "pinned", dir.sub("h")])
        try Self.expectSame(["map", "dump", "pinned", dir.sub("h")], environment: ["BPFSWIFT_MAP_NO_BATCH": "1"])
        // Pretty JSON is the same value.
        let p = try parseJSON(try bpfswift("-p", "map", "dump", "pinned", dir.sub("h")).stdout)
        #expect(jsonDifference(expected: try Bpftool.json(["map", "dump", "pinned", dir.sub("h")]), actual: p) == nil)
        dir.remove()
    }

    @Test func dumpEmptyMapAndArray() throws {
        let dir = try BPFFSDir("map_dump_empty")
        try Self.create(dir.sub("e"), "hash", key: 4, value: 8, entries: 8, name: Self.uniqueName("de"))
        try Self.expectSame(["map", "dump", "pinned", dir.sub("e")])
        #expect(try bpfswift("map", "dump", "pinned", dir.sub("e")).stdout == "Found 0 elements\n")
        try Self.create(dir.sub("a"), "array", key: 4, value: 12, entries: 5, name: Self.uniqueName("da"))
        try Self.bt(["map", "update", "pinned", dir.sub("a"), "key", "3", "0", "0", "0", "value", "hex"]
                    + (1...12).map { String($0, radix: 16) })
        try Self.expectSame(["map", "dump", "pinned", dir.sub("a")])
        dir.remove()
    }

    @Test func dumpLargeKeysAndValuesLayout() throws {
        let dir = try BPFFSDir("map_dump_wide")
        // Keys over 16 bytes and values over 16 bytes print names on their own lines.
        try Self.create(dir.sub("w"), "hash", key: 20, value: 40, entries: 8, name: Self.uniqueName("dw"))
        for i in 0..<3 {
            try Self.bt(["map", "update", "pinned", dir.sub("w"), "key"] + (0..<20).map { "\(($0 + i) % 256)" }
                        + ["value"] + (0..<40).map { "\(($0 * 3 + i) % 256)" })
        }
        try Self.expectSame(["map", "dump", "pinned", dir.sub("w")])
        try Self.create(dir.sub("m"), "hash", key: 8, value: 16, entries: 8, name: Self.uniqueName("dm"))
        try Self.bt(["map", "update", "pinned", dir.sub("m"), "key"] + (0..<8).map { "\($0)" }
                    + ["value"] + (0..<16).map { "\($0)" })
        try Self.expectSame(["map", "dump", "pinned", dir.sub("m")])
        dir.remove()
    }

    @Test func dumpPerCPUHashAndArray() throws {
        let dir = try BPFFSDir("map_dump_pcpu")
        try Self.create(dir.sub("ph"), "percpu_hash", key: 4, value: 4, entries: 16, name: Self.uniqueName("ph"))
        try Self.fill(dir.sub("ph"), 5) { i in [UInt8(i), 1, 2, 3] }
        try Self.expectSame(["map", "dump", "pinned", dir.sub("ph")])
        try Self.expectSame(["map", "dump", "pinned", dir.sub("ph")], environment: ["BPFSWIFT_MAP_NO_BATCH": "1"])
        // A value size that is not a multiple of 8 and over 16 bytes.
        try Self.create(dir.sub("pa"), "percpu_array", key: 4, value: 20, entries: 3, name: Self.uniqueName("pa"))
        try Self.fill(dir.sub("pa"), 2) { i in (0..<20).map { UInt8($0 + i) } }
        try Self.expectSame(["map", "dump", "pinned", dir.sub("pa")])
        try Self.expectSame(["map", "lookup", "pinned", dir.sub("pa"), "key", "1", "0", "0", "0"])
        // Every CPU got the value (bpftool copies it to each CPU; so do we).
        let j = try parseJSON(try bpfswift("-j", "map", "lookup", "pinned", dir.sub("ph"), "key", "2", "0", "0", "0").stdout) as! [String: Any]
        let values = j["values"] as! [[String: Any]]
        #expect(values.count == (try possibleCPUCount()))
        for v in values { #expect((v["value"] as! [String]) == ["0x02", "0x01", "0x02", "0x03"]) }
        dir.remove()
    }

    @Test func dumpLRUHash() throws {
        let dir = try BPFFSDir("map_dump_lru")
        try Self.create(dir.sub("l"), "lru_hash", key: 4, value: 8, entries: 64, name: Self.uniqueName("lru"))
        try Self.fill(dir.sub("l"), 20) { i in [UInt8(i), 0, 0, 0, 0, 0, 0, 9] }
        try Self.expectSame(["map", "dump", "pinned", dir.sub("l")])
        try Self.create(dir.sub("lp"), "lru_percpu_hash", key: 4, value: 8, entries: 64, name: Self.uniqueName("lrp"))
        try Self.fill(dir.sub("lp"), 4) { i in [UInt8(i), 0, 0, 0, 0, 0, 0, 1] }
        try Self.expectSame(["map", "dump", "pinned", dir.sub("lp")])
        dir.remove()
    }

    @Test func dumpManyElementsInKernelOrder() throws {
        // Thousands of elements sharing hash buckets: the batched walk must print
        // get_next_key's order. Filled in-process through BPFCore.
        let dir = try BPFFSDir("map_dump_many")
        try Self.create(dir.sub("h"), "hash", key: 4, value: 4, entries: 4096, name: Self.uniqueName("many"))
        let m = try BPFMap.openOne(.pinned(dir.sub("h")))
        for i in 0..<3000 {
            let k = withUnsafeBytes(of: UInt32(truncatingIfNeeded: i &* 2654435761).littleEndian) { Array($0) }
            try m.update(key: k, value: [UInt8(i & 255), 1, 2, 3])
        }
        try Self.expectSame(["map", "dump", "pinned", dir.sub("h")])
        dir.remove()
    }

    @Test func dumpMapsOfMapsAndProgArray() throws {
        let dir = try BPFFSDir("map_dump_mim")
        let m = try Self.loadMapTypes(dir)
        try Self.expectSame(["map", "dump", "pinned", "\(m)/outer_arr"])
        try Self.expectSame(["map", "dump", "pinned", "\(m)/outer_hash"])
        try Self.expectSame(["map", "dump", "pinned", "\(m)/jumps"])
        // Insert into the hash of maps by pinned inner map; read it back.
        try Self.expectSameUpdate(["map", "update", "pinned", "\(m)/outer_hash", "key", "5", "0", "0", "0",
                                   "value", "pinned", "\(m)/inner_b"], dump: "\(m)/outer_hash")
        let inner = try Self.id(ofPinned: "\(m)/inner_b")
        let d = try bpfswift("map", "dump", "pinned", "\(m)/outer_hash")
        #expect(d.stdout == "key: 05 00 00 00  inner_map_id: \(inner) \nFound 1 element\n")
        try Self.expectSame(["map", "lookup", "pinned", "\(m)/outer_hash", "key", "5", "0", "0", "0"])
        // And a prog_array slot by pinned program.
        let r = try bpfswift("map", "update", "pinned", "\(m)/jumps", "key", "0", "0", "0", "0",
                             "value", "pinned", dir.sub("p/tail_target"))
        #expect(r.status == 0, "\(r.stderr)")
        try Self.expectSame(["map", "dump", "pinned", "\(m)/jumps"])
        dir.remove()
    }

    /// Runs the update with bpfswift and checks bpftool sees the effect via `dump`.
    static func expectSameUpdate(_ args: [String], dump: String) throws {
        let r = try bpfswift(args: args)
        #expect(r.status == 0, "\(args): \(r.stderr)")
        try expectSame(["map", "dump", "pinned", dump])
    }

    // MARK: element verbs

    @Test func lookupFoundAndNotFound() throws {
        let dir = try BPFFSDir("map_lookup")
        try Self.create(dir.sub("h"), "hash", key: 4, value: 8, entries: 8, name: Self.uniqueName("lk"))
        try Self.fill(dir.sub("h"), 2) { i in [UInt8(i), 0, 0, 0, 0, 0, 0, 0xff] }
        try Self.expectSame(["map", "lookup", "pinned", dir.sub("h"), "key", "1", "0", "0", "0"])
        try Self.expectSame(["map", "lookup", "pinned", dir.sub("h"), "key", "hex", "01", "00", "00", "00"])
        // Not found: bpftool's text on stdout, and a failure.
        try Self.expectSame(["map", "lookup", "pinned", dir.sub("h"), "key", "9", "0", "0", "0"], json: false)
        try Self.expectFailure(["map", "lookup", "pinned", dir.sub("h"), "key", "9", "0", "0", "0"],
                               message: "No such file or directory")
        try Self.expectFailure(["map", "lookup", "pinned", dir.sub("h"), "key", "1", "0"], status: 2,
                               message: "key expected 4 bytes got 2")
        dir.remove()
    }

    @Test func getnextWalksKeys() throws {
        let dir = try BPFFSDir("map_getnext")
        try Self.create(dir.sub("a"), "array", key: 4, value: 4, entries: 3, name: Self.uniqueName("gn"))
        try Self.expectSame(["map", "getnext", "pinned", dir.sub("a")])
        try Self.expectSame(["map", "getnext", "pinned", dir.sub("a"), "key", "0", "0", "0", "0"])
        try Self.expectSame(["map", "getnext", "pinned", dir.sub("a"), "key", "1", "0", "0", "0"])
        try Self.expectFailure(["map", "getnext", "pinned", dir.sub("a"), "key", "2", "0", "0", "0"],
                               message: "get next key")
        dir.remove()
    }

    @Test func updateFlagsAnyExistNoexist() throws {
        let dir = try BPFFSDir("map_update")
        try Self.create(dir.sub("h"), "hash", key: 4, value: 4, entries: 8, name: Self.uniqueName("up"))
        let h = dir.sub("h")
        func up(_ words: [String]) throws -> ProcessResult {
            try bpfswift(args: ["map", "update", "pinned", h] + words)
        }
        #expect(try up(["key", "1", "0", "0", "0", "value", "1", "1", "1", "1"]).status == 0)
        let exists = try up(["key", "1", "0", "0", "0", "value", "2", "2", "2", "2", "noexist"])
        #expect(exists.status == 1 && exists.stderr.contains("File exists"))
        let missing = try up(["key", "2", "0", "0", "0", "value", "2", "2", "2", "2", "exist"])
        #expect(missing.status == 1 && missing.stderr.contains("No such file or directory"))
        #expect(try up(["key", "1", "0", "0", "0", "value", "3", "3", "3", "3", "exist"]).status == 0)
        #expect(try up(["key", "2", "0", "0", "0", "value", "hex", "a", "b", "c", "d", "any"]).status == 0)
        let j = try bpfswift("-j", "map", "update", "pinned", h, "key", "3", "0", "0", "0", "value", "0", "0", "0", "0")
        #expect(j.stdout == "null\n" && j.status == 0)
        let t = try Bpftool.json(["map", "dump", "pinned", h]) as! [[String: Any]]
        #expect(t.count == 3)
        try Self.expectSame(["map", "dump", "pinned", h])
        try Self.expectSame(["map", "lookup", "pinned", h, "key", "1", "0", "0", "0"])
        #expect(try Self.bt(["map", "lookup", "pinned", h, "key", "1", "0", "0", "0"]).stdout
                == "key: 01 00 00 00  value: 03 03 03 03\n")
        try Self.expectFailure(["map", "update", "pinned", h, "key", "1", "0", "0", "0", "value", "1", "2", "3", "300"],
                               status: 2, message: "error parsing byte: 300")
        dir.remove()
    }

    @Test func deleteRemovesAndReportsMissing() throws {
        let dir = try BPFFSDir("map_delete")
        try Self.create(dir.sub("h"), "hash", key: 4, value: 4, entries: 8, name: Self.uniqueName("del"))
        try Self.fill(dir.sub("h"), 3) { i in [UInt8(i), 0, 0, 0] }
        let r = try bpfswift("map", "delete", "pinned", dir.sub("h"), "key", "1", "0", "0", "0")
        #expect(r.status == 0 && r.stdout.isEmpty)
        #expect(try bpfswift("-j", "map", "delete", "pinned", dir.sub("h"), "key", "2", "0", "0", "0").stdout == "null\n")
        #expect(try Self.bt(["map", "dump", "pinned", dir.sub("h")]).stdout == "key: 00 00 00 00  value: 00 00 00 00\nFound 1 element\n")
        try Self.expectFailure(["map", "delete", "pinned", dir.sub("h"), "key", "1", "0", "0", "0"],
                               message: "delete key from map id")
        try Self.expectFailure(["map", "delete", "pinned", dir.sub("h")], status: 2, message: "did not find key")
        dir.remove()
    }

    @Test func queueAndStackVerbs() throws {
        let dir = try BPFFSDir("map_queue")
        try Self.create(dir.sub("q"), "queue", key: 0, value: 4, entries: 4, name: Self.uniqueName("q"))
        try Self.create(dir.sub("s"), "stack", key: 0, value: 4, entries: 4, name: Self.uniqueName("s"))
        let q = dir.sub("q"), s = dir.sub("s")
        for v in ["1", "2", "3"] {
            #expect(try bpfswift("map", "enqueue", "pinned", q, "value", v, "0", "0", "0").status == 0)
            #expect(try bpfswift("map", "push", "pinned", s, "value", v, "0", "0", "0").status == 0)
        }
        // peek matches bpftool's peek, text and JSON.
        try Self.expectSame(["map", "peek", "pinned", q])
        try Self.expectSame(["map", "peek", "pinned", s])
        // FIFO and LIFO order.
        #expect(try bpfswift("map", "dequeue", "pinned", q).stdout == "value: 01 00 00 00\n")
        #expect(try bpfswift("map", "pop", "pinned", s).stdout == "value: 03 00 00 00\n")
        let j = try parseJSON(try bpfswift("-j", "map", "pop", "pinned", q).stdout) as! [String: Any]
        #expect((j["key"] as! [Any]).isEmpty && (j["value"] as! [String]) == ["0x02", "0x00", "0x00", "0x00"])
        // bpftool pops what we pushed.
        #expect(try Self.bt(["map", "pop", "pinned", q]).stdout == "value: 03 00 00 00\n")
        try Self.expectFailure(["map", "pop", "pinned", q], message: "empty map")
        // A queue cannot be walked by key: both fail, ours says why.
        let bd = try Bpftool.run(["map", "dump", "pinned", s])
        #expect(bd.status != 0)
        try Self.expectFailure(["map", "dump", "pinned", s], message: "stack maps have no keys to walk")
        try Self.expectFailure(["map", "push", "pinned", s, "key", "1", "value", "1", "0", "0", "0"], status: 2,
                               message: "unnecessary key")
        dir.remove()
    }

    @Test func pinMakesASecondPath() throws {
        let dir = try BPFFSDir("map_pin")
        try Self.create(dir.sub("h"), "hash", key: 4, value: 4, entries: 8, name: Self.uniqueName("pin"))
        let id = try Self.id(ofPinned: dir.sub("h"))
        let r = try bpfswift("map", "pin", "id", "\(id)", dir.sub("again"))
        #expect(r.status == 0 && r.stdout.isEmpty, "\(r.stderr)")
        #expect(try Self.id(ofPinned: dir.sub("again")) == id)
        #expect(try bpfswift("-j", "map", "pin", "pinned", dir.sub("h"), dir.sub("third")).stdout == "null\n")
        try Self.expectFailure(["map", "pin", "id", "\(id)", dir.sub("again")], message: "File exists")
        try Self.expectFailure(["map", "pin", "id", "\(id)", "/tmp/bpfswift_not_bpffs_\(getpid())"],
                               message: "is not on a bpffs mount")
        dir.remove()
    }

    @Test func createMatchesBpftoolCreate() throws {
        let dir = try BPFFSDir("map_create")
        let ours = Self.uniqueName("cro"), theirs = Self.uniqueName("crt")
        let spec = ["type", "hash", "key", "8", "value", "16", "entries", "32"]
        let r = try bpfswift(args: ["map", "create", dir.sub("o")] + spec + ["name", ours, "flags", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        try Self.bt(["map", "create", dir.sub("t")] + spec + ["name", theirs, "flags", "1"])
        var o = try Bpftool.json(["map", "show", "pinned", dir.sub("o")]) as! [String: Any]
        var t = try Bpftool.json(["map", "show", "pinned", dir.sub("t")]) as! [String: Any]
        for k in ["id", "name"] { o[k] = nil; t[k] = nil }
        #expect(jsonDifference(expected: t, actual: o) == nil, "\(jsonDifference(expected: t, actual: o) ?? "")")
        #expect((o["flags"] as! NSNumber).intValue == 1)
        // A map of maps needs an inner map template.
        let j = try bpfswift("-j", "map", "create", dir.sub("outer"), "type", "hash_of_maps", "key", "4", "value", "4",
                             "entries", "4", "name", Self.uniqueName("cro"), "inner_map", "pinned", dir.sub("o"))
        #expect(j.status == 0 && j.stdout == "null\n", "\(j.stderr)")
        #expect((try Bpftool.json(["map", "show", "pinned", dir.sub("outer")]) as! [String: Any])["type"] as? String == "hash_of_maps")
        try Self.expectFailure(["map", "create", dir.sub("x"), "type", "hashy", "key", "4", "value", "4", "entries", "1", "name", "x"],
                               status: 2, message: "unrecognized map type: hashy")
        try Self.expectFailure(["map", "create", dir.sub("x"), "type", "hash", "key", "4", "value", "4", "entries", "1"],
                               status: 2, message: "map name not specified")
        try Self.expectFailure(["map", "create", dir.sub("x"), "type", "hash", "key", "0", "value", "4", "entries", "1", "name", "x"],
                               message: "create hash map x: Invalid argument")
        #expect(access(dir.sub("x"), F_OK) != 0)
        dir.remove()
    }

    @Test func freezeMakesMapReadOnly() throws {
        let dir = try BPFFSDir("map_freeze")
        try Self.create(dir.sub("a"), "array", key: 4, value: 4, entries: 2, name: Self.uniqueName("frz"))
        #expect(try bpfswift("-j", "map", "freeze", "pinned", dir.sub("a")).stdout == "null\n")
        let show = try bpfswift("map", "show", "pinned", dir.sub("a"))
        #expect(show.stdout.hasSuffix("\n\tfrozen\n"))
        try Self.expectSame(["map", "show", "pinned", dir.sub("a")])
        try Self.expectFailure(["map", "update", "pinned", dir.sub("a"), "key", "0", "0", "0", "0", "value", "1", "0", "0", "0"],
                               message: "Operation not permitted")
        try Self.expectFailure(["map", "freeze", "pinned", dir.sub("a")], message: "freeze map id")
        dir.remove()
    }

    /// Every map verb closes what it opens: run them in-process many times and
    /// count this process's descriptors (a leak of one per run shows as 30+).
    @Test func verbsLeakNoDescriptors() throws {
        let dir = try BPFFSDir("map_fds")
        let m = try Self.loadMapTypes(dir)
        try Self.create(dir.sub("h"), "hash", key: 4, value: 4, entries: 8, name: Self.uniqueName("fd"))
        try Self.create(dir.sub("q"), "queue", key: 0, value: 4, entries: 64, name: Self.uniqueName("fdq"))
        func fdCount() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
        let h = dir.sub("h"), q = dir.sub("q")
        let runs: [[String]] = [
            ["map", "show"], ["-f", "map", "show", "pinned", h],
            ["map", "update", "pinned", h, "key", "1", "0", "0", "0", "value", "1", "0", "0", "0"],
            ["map", "lookup", "pinned", h, "key", "1", "0", "0", "0"],
            ["map", "lookup", "pinned", h, "key", "2", "0", "0", "0"],
            ["-j", "map", "dump", "pinned", h], ["map", "dump", "pinned", "\(m)/outer_arr"],
            ["map", "dump", "pinned", "\(m)/fifo"],
            ["map", "update", "pinned", "\(m)/outer_hash", "key", "1", "0", "0", "0", "value", "pinned", "\(m)/inner_a"],
            ["map", "getnext", "pinned", h], ["map", "delete", "pinned", h, "key", "1", "0", "0", "0"],
            ["map", "enqueue", "pinned", q, "value", "1", "2", "3", "4"], ["map", "dequeue", "pinned", q],
            ["map", "pop", "pinned", q], ["map", "lookup", "pinned", h, "key", "1"],
        ]
        _ = runs.map { runCLI(args: $0) }  // warm caches (BTF, CPU count)
        let before = fdCount()
        for _ in 0..<30 { for r in runs { _ = runCLI(args: r) } }
        let after = fdCount()
        #expect(after - before < 30, "descriptors grew from \(before) to \(after)")
        dir.remove()
    }
}
