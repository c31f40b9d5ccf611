import Testing
import Foundation
import BPFCore
import TestSupport

/// `object inspect OBJ`: offline, checked against readelf, against what the
/// kernel reports once the object is loaded, and run without privileges.
@Suite struct ObjectInspectTests {
    static func inspect(_ fixture: String) throws -> [String: Any] {
        let r = try bpfswift("-j", "object", "inspect", try Fixtures.object(fixture))
        guard r.status == 0 else { throw TestFailure("object inspect \(fixture): \(r.stderr)") }
        return try #require(try parseJSON(r.stdout) as? [String: Any])
    }

    static func byName(_ d: [String: Any], _ key: String, _ nameKey: String = "name") -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for e in d[key] as? [[String: Any]] ?? [] { out[e[nameKey] as! String] = e }
        return out
    }

    @Test func sectionsMatchReadelf() throws {
        let file = try Fixtures.object("counter")
        let d = try Self.inspect("counter")
        let r = try runProcess("/usr/bin/readelf", ["-SW", file])
        try #require(r.status == 0)
        // "  [ 3] tracepoint/syscalls/sys_enter_getpid PROGBITS  0000... off size ..."
        var expected: [(Int, String, String, UInt64)] = []
        for line in r.stdout.split(separator: "\n") {
            guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]"),
                  let idx = Int(line[line.index(after: open)..<close].trimmingCharacters(in: .whitespaces)), idx > 0 else { continue }
            let f = line[line.index(after: close)...].split(separator: " ")
            // Name, type, address, offset, size: binutils calls SHT_LLVM_ADDRSIG by its number.
            let type = f[1] == "LOOS+0xfff4c03" ? "LLVM_ADDRSIG" : String(f[1])
            expected.append((idx, String(f[0]), type, UInt64(f[4], radix: 16)!))
        }
        let sections = try #require(d["sections"] as? [[String: Any]])
        #expect(sections.count == expected.count)
        for (s, e) in zip(sections, expected) {
            #expect(s["index"] as? Int == e.0)
            #expect(s["name"] as? String == e.1)
            #expect(s["type"] as? String == e.2)
            #expect((s["size"] as? NSNumber)?.uint64Value == e.3, "\(e.1)")
        }
        #expect(d["license"] as? String == "GPL")
        #expect(d["name"] as? String == "counter")
        #expect(d["sha256"] as? String == String(try runProcess("/usr/bin/sha256sum", [file]).stdout.prefix(64)))
        let md = try #require(d["metadata"] as? [String: Any])
        #expect(md.count == 2)
        #expect(md["commit"] as? String == "abc123")
        #expect(md["build"] as? Int == 42)
    }

    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func mapsAndProgramsMatchWhatTheKernelLoads() throws {
        let d = try Self.inspect("counter")
        let dir = try BPFFSDir("obj_inspect")
        let path = dir.sub("t")
        try #require(try ObjectKit.pin("counter", path, root: nil).status == 0)
        let maps = Self.byName(d, "maps")
        #expect(Set(maps.keys) == ["hit_map", "counter.rodata", "counter.bss"])
        for (name, m) in maps {
            let k = try #require(try Bpftool.json(["map", "show", "pinned", path + "/maps/" + (m["pin_name"] as! String)]) as? [String: Any])
            #expect(k["type"] as? String == m["type"] as? String, "\(name)")
            #expect(k["bytes_key"] as? Int == m["key_size"] as? Int, "\(name)")
            #expect(k["bytes_value"] as? Int == m["value_size"] as? Int, "\(name)")
            #expect(k["max_entries"] as? Int == m["max_entries"] as? Int, "\(name)")
            #expect(k["flags"] as? Int == m["flags"] as? Int, "\(name)")
            #expect(m["internal"] as? Bool == (name != "hit_map"))
            #expect(m["pinning"] as? String == "none")
        }
        for (name, p) in Self.byName(d, "programs") {
            let k = try #require(try Bpftool.json(["prog", "show", "pinned", path + "/programs/" + name]) as? [String: Any])
            #expect(k["type"] as? String == p["type"] as? String)
            // The metadata inspect reads offline is what bpftool reads from the loaded program.
            #expect(jsonDifference(expected: try #require(k["metadata"]), actual: try #require(d["metadata"])) == nil)
        }
        #expect(Self.byName(d, "programs")["count_enter"]?["section"] as? String == "tracepoint/syscalls/sys_enter_getpid")
        #expect(try bpfswift("object", "unpin", path).status == 0)
        dir.remove()
    }

    @Test func pinningAndStructOps() throws {
        let a = Self.byName(try Self.inspect("obj_shared_a"), "maps")
        #expect(a["obj_shared"]?["pinning"] as? String == "by_name")
        #expect(a["obj_shared"]?["pin_path"] as? String == "/sys/fs/bpf/obj_shared")
        #expect(a["obj_local"]?["pinning"] as? String == "none")
        #expect(a["obj_local"]?["pin_path"] is NSNull)

        let link = try Self.inspect("obj_cclink")
        let ops = try #require(link["struct_ops"] as? [[String: Any]])
        #expect(ops.count == 1)
        #expect(ops[0]["map"] as? String == "objl_ca")
        #expect(ops[0]["type"] as? String == "tcp_congestion_ops")
        #expect(ops[0]["section"] as? String == ".struct_ops.link")
        #expect(ops[0]["link"] as? Bool == true)
        #expect(ops[0]["members"] as? [String: String] == ["ssthresh": "objl_ssthresh", "cong_avoid": "objl_cong_avoid",
                                                          "undo_cwnd": "objl_undo_cwnd"])

        let plain = Self.byName(try Self.inspect("obj_ccmap"), "struct_ops", "map")
        #expect(plain["objm_ca"]?["link"] as? Bool == false)
        #expect(plain["objm_ca"]?["autocreate"] as? Bool == true)
        #expect(plain["objm_opt"]?["section"] as? String == "?.struct_ops")
        #expect(plain["objm_opt"]?["autocreate"] as? Bool == false)
        #expect((plain["objm_opt"]?["members"] as? [String: String])?["ssthresh"] == "objm_opt_ssthresh")

        let text = try bpfswift("object", "inspect", try Fixtures.object("obj_cclink")).stdout
        #expect(text.contains("struct_ops:\n\tobjl_ca  tcp_congestion_ops  section .struct_ops.link  link\n\t\tssthresh = objl_ssthresh\n"))
        let tp = Self.byName(try Self.inspect("obj_tpbtf"), "programs")
        #expect(tp["obj_tpbtf_enter"]?["expected_attach_type"] as? String == "trace_raw_tp")
    }

    @Test func needsNoPrivilege() throws {
        // Run as nobody: no CAP_BPF, no bpffs access; the object file is world-readable.
        // Needs root (to drop to nobody) and setpriv; in CI both are there, so not having them fails.
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            if TestEnv.inCI { Issue.record("needsNoPrivilege cannot run: needs root and /usr/bin/setpriv") }
            return
        }
        let file = try Fixtures.object("obj_ccmap")
        let r = try runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", TestEnv.binary,
                                                    "-j", "object", "inspect", file])
        #expect(r.status == 0, "\(r.stderr)")
        let root = try bpfswift("-j", "object", "inspect", file)
        #expect(r.stdout == root.stdout)
    }

    @Test func notAnObjectIsOneLineError() throws {
        let r = try bpfswift("object", "inspect", "/etc/hostname")
        #expect(r.status == 1)
        #expect(r.stderr == "Error: read ELF file /etc/hostname: Invalid argument (not an ELF file)\n")
        let missing = try bpfswift("-j", "object", "inspect", "/nonexistent.o")
        #expect(missing.status == 1)
        #expect(missing.stdout.hasPrefix("{\"error\":\"open /nonexistent.o: No such file or directory\"}"))
    }
}
