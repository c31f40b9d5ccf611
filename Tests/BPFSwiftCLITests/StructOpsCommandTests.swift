import Foundation
import Testing
@testable import BPFSwiftCLI
import BPFCore
import TestSupport

/// A copy of a struct_ops fixture whose congestion-control names carry this
/// test's own 8 characters in place of "########" (the names are global to
/// the kernel and tests run in parallel, in this process and others). Knows
/// how to undo every registration that carries its tag.
final class TaggedStructOps {
    let tag: String
    let path: String
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()

    init(_ fixture: String) throws {
        TaggedStructOps.lock.lock(); TaggedStructOps.counter += 1; let n = TaggedStructOps.counter
        TaggedStructOps.lock.unlock()
        let pid = String(getpid(), radix: 36)
        let count = String(n, radix: 36)
        tag = String((String(repeating: "0", count: max(0, 5 - pid.count)) + pid).suffix(5))
            + String((String(repeating: "0", count: max(0, 3 - count.count)) + count).suffix(3))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try Fixtures.object(fixture))))
        let placeholder = Array("########".utf8), replacement = Array(tag.utf8)
        var replaced = 0, i = 0
        while i + placeholder.count <= bytes.count {
            if bytes[i] == placeholder[0] && Array(bytes[i..<i + placeholder.count]) == placeholder {
                bytes.replaceSubrange(i..<i + placeholder.count, with: replacement)
                replaced += 1
                i += placeholder.count
            } else {
                i += 1
            }
        }
        guard replaced > 0 else { throw TestFailure("\(fixture) has no ######## placeholder") }
        path = NSTemporaryDirectory() + "bpfswift_\(fixture)_\(tag).bpf.o"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// The congestion-control name a fixture's map registers ("sopsL_" + tag).
    func name(_ prefix: String) -> String { prefix + tag }

    /// Unregisters every struct_ops map whose value carries the tag (link-based
    /// ones by detaching their links), whatever the test got to, and removes the copy.
    func cleanUp() {
        let tagBytes = Array(tag.utf8)
        for m in (try? StructOpsMap.all()) ?? [] {
            guard let value = try? m.value(), contains(value, tagBytes),
                  let structName = try? m.kernelStructName() else { continue }
            _ = try? m.unregister(structName: structName)
        }
        unlink(path)
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<i + needle.count]) == needle { return true }
        }
        return false
    }

    /// The congestion controls the kernel offers now.
    static func available() -> Set<String> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_congestion_control", encoding: .utf8)) ?? ""
        return Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }
}

/// One "Registered ..." line of `struct_ops register`.
struct RegisteredLine: Equatable {
    var structName: String
    var map: String
    var mapID: UInt32
    var linkID: UInt32?

    /// Parses bpftool's two forms: "Registered S NAME id N" and
    /// "Registered S NAME map id N link id M".
    static func parse(_ stderr: String) -> [String: RegisteredLine] {
        var out: [String: RegisteredLine] = [:]
        for line in stderr.split(separator: "\n") {
            let w = line.split(separator: " ").map(String.init)
            guard w.first == "Registered", w.count >= 5 else { continue }
            if w.count == 5, w[3] == "id", let id = UInt32(w[4]) {
                out[w[2]] = RegisteredLine(structName: w[1], map: w[2], mapID: id, linkID: nil)
            } else if w.count == 9, w[3] == "map", w[4] == "id", w[6] == "link", let id = UInt32(w[5]), let l = UInt32(w[8]) {
                out[w[2]] = RegisteredLine(structName: w[1], map: w[2], mapID: id, linkID: l)
            }
        }
        return out
    }
}

/// `struct_ops register|unregister|show|dump` on the real kernel with TCP
/// congestion controls: a registration shows in
/// /proc/sys/net/ipv4/tcp_available_congestion_control while it lasts.
/// Every test undoes what it registered, also when it fails.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (see TestEnv.bpfUnavailableReason)"))
struct StructOpsCommandTests {
    /// The link pinned at `path`, as `link show` prints it (bpftool 7.5 prints
    /// a struct_ops link but exits non-zero: it has no program).
    static func pinnedLink(_ path: String) throws -> [String: Any] {
        let r = try Bpftool.run(["-j", "link", "show", "pinned", path])
        guard let o = try parseJSON(r.stdout) as? [String: Any] else {
            throw TestFailure("bpftool link show pinned \(path): \(r.stdout)\(r.stderr)")
        }
        let ours = try bpfswift("-j", "link", "show", "pinned", path)
        #expect(ours.status == 0)
        #expect(jsonDifference(expected: o, actual: try parseJSON(ours.stdout)) == nil)
        return o
    }

    // MARK: register and unregister

    /// The default selection: the link-based map with a suffixed local type and
    /// the map without link register, the `?.struct_ops.link` map does not; both
    /// outlive the registering process; unregister ends both, even the
    /// link-based one bpftool cannot unregister.
    @Test func registerSurvivesTheProcessAndUnregisters() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_default")
        defer { fx.cleanUp(); dir.remove() }

        let r = try bpfswift("struct_ops", "register", fx.path, dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        let lines = RegisteredLine.parse(r.stderr)
        #expect(Set(lines.keys) == ["sv_link", "sv_plain"], "\(r.stderr)")
        let link = try #require(lines["sv_link"]), plain = try #require(lines["sv_plain"])
        // tcp_congestion_ops___v1 in the object: the kernel's tcp_congestion_ops.
        #expect(link.structName == "tcp_congestion_ops" && plain.structName == "tcp_congestion_ops")
        #expect(link.linkID != nil && plain.linkID == nil)

        // The registering process has exited: both names are still offered.
        var names = TaggedStructOps.available()
        #expect(names.contains(fx.name("sopsL_")) && names.contains(fx.name("sopsP_")), "\(names)")
        #expect(!names.contains(fx.name("sopsO_")))

        // The link is pinned under the map's name and holds the map; nothing else is pinned.
        let pinned = try Self.pinnedLink(dir.sub("sv_link"))
        #expect((pinned["id"] as? NSNumber)?.uint32Value == link.linkID)
        #expect(pinned["type"] as? String == "struct_ops")
        #expect((pinned["map_id"] as? NSNumber)?.uint32Value == link.mapID)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["sv_link"])

        // bpftool cannot unregister the link-based map; we can.
        let theirs = try Bpftool.run(["struct_ops", "unregister", "id", String(link.mapID)])
        #expect(theirs.status != 0 && theirs.stderr.contains("Operation not supported"))
        for (l, name) in [(link, "sopsL_"), (plain, "sopsP_")] {
            let u = try bpfswift("struct_ops", "unregister", "id", String(l.mapID))
            #expect(u.status == 0, "\(u.stderr)")
            #expect(u.stderr == "Unregistered tcp_congestion_ops \(l.map) id \(l.mapID)\n")
            #expect(!TaggedStructOps.available().contains(fx.name(name)))
        }
        names = TaggedStructOps.available()
        #expect(!names.contains(fx.name("sopsL_")) && !names.contains(fx.name("sopsP_")))
        // The defunct link's pin went with it; the maps are gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        // The kernel frees an unregistered map after an RCU grace period: poll briefly.
        for l in [link, plain] {
            var gone = false
            for _ in 0..<40 where !gone {
                gone = try Bpftool.run(["struct_ops", "show", "id", String(l.mapID)]).status != 0
                if !gone { usleep(50_000) }
            }
            #expect(gone, "struct_ops map id \(l.mapID) still exists 2 s after unregister")
        }
    }

    /// `?.struct_ops.link` registers only with --enable; its programs are shared
    /// with the default maps: one program, the same id in every map's value.
    @Test func optionalLinkMapRegistersWhenEnabledAndSharesPrograms() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_enable")
        defer { fx.cleanUp(); dir.remove() }

        let r = try bpfswift("struct_ops", "register", fx.path, dir.path, "--enable", "sv_opt")
        #expect(r.status == 0, "\(r.stderr)")
        let lines = RegisteredLine.parse(r.stderr)
        #expect(Set(lines.keys) == ["sv_link", "sv_plain", "sv_opt"], "\(r.stderr)")
        let names = TaggedStructOps.available()
        for p in ["sopsL_", "sopsP_", "sopsO_"] { #expect(names.contains(fx.name(p)), "\(p) in \(names)") }
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["sv_link", "sv_opt"])

        // The function pointers of each registered value, as bpftool decodes them.
        func members(_ map: String) throws -> [String: String] {
            let id = String(try #require(lines[map]).mapID)
            let dump = try #require(try Bpftool.json(["struct_ops", "dump", "id", id]) as? [[String: Any]])
            let value = try #require(dump.last?["bpf_struct_ops_tcp_congestion_ops"] as? [String: Any])
            return try #require(value["data"] as? [String: Any]).compactMapValues { $0 as? String }
        }
        let opt = try members("sv_opt"), plain = try members("sv_plain"), link = try members("sv_link")
        #expect(opt["ssthresh"] == plain["ssthresh"] && plain["ssthresh"] == link["ssthresh"])
        #expect(opt["ssthresh"]?.hasPrefix("u32 (struct sock *) sv_ssthresh/prog_id:") == true)
        #expect(opt["cong_avoid"] == plain["cong_avoid"])
        #expect(opt["undo_cwnd"]?.hasPrefix("u32 (struct sock *) sv_opt_undo/prog_id:") == true)
        #expect(plain["undo_cwnd"]?.hasPrefix("u32 (struct sock *) sv_undo_cwnd/prog_id:") == true)
        #expect(opt["name"] == fx.name("sopsO_"))
    }

    /// A program that only a map left uncreated uses is not loaded; the
    /// programs of created maps are, and stay loaded with the registration.
    @Test func programOfSkippedMapIsNotLoaded() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_unused")
        defer { fx.cleanUp(); dir.remove() }

        let object = try BPFObject.open(path: fx.path)
        let result = try StructOpsRegistrar.register(object: object, source: fx.path,
                                                     options: StructOpsRegisterOptions(linkDirectory: dir.path))
        #expect(result.registrations.map(\.mapName) == ["sv_link", "sv_plain"])
        let unused = try #require(object.program(named: "sv_opt_undo"))
        #expect(unused.fd == nil && !unused.autoload)
        let ids = Dictionary(uniqueKeysWithValues: result.programs.map { ($0.name, $0.id) })
        #expect(ids["sv_opt_undo"] == .some(nil))
        for name in ["sv_ssthresh", "sv_cong_avoid", "sv_undo_cwnd"] {
            let id = try #require(ids[name] ?? nil, "\(name) was not loaded")
            let shown = try #require(try Bpftool.json(["prog", "show", "id", String(id.rawValue)]) as? [String: Any])
            #expect(shown["name"] as? String == name && shown["type"] as? String == "struct_ops")
        }
        #expect(result.plans.first { $0.name == "sv_link" }?.localTypeName == "tcp_congestion_ops___v1")
        #expect(result.plans.first { $0.name == "sv_opt" }?.created == false)

        // Enabled, the optional map brings its program.
        let fx2 = try TaggedStructOps("sops_variants")
        let dir2 = try BPFFSDir("sops_used")
        defer { fx2.cleanUp(); dir2.remove() }
        let object2 = try BPFObject.open(path: fx2.path)
        let result2 = try StructOpsRegistrar.register(object: object2, source: fx2.path,
                                                      options: StructOpsRegisterOptions(linkDirectory: dir2.path, enable: ["sv_opt"]))
        #expect(result2.registrations.map(\.mapName) == ["sv_link", "sv_plain", "sv_opt"])
        #expect(object2.program(named: "sv_opt_undo")?.fd != nil)
    }

    /// Enabling the variant that registers sv_plain's name next to sv_plain is
    /// refused before anything is created; choosing it instead of sv_plain works.
    @Test func duplicateNamesAreRefusedBeforeLoad() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_dup")
        defer { fx.cleanUp(); dir.remove() }

        // -d: libbpf reports every map it creates ("created successfully").
        let r = try bpfswift("-d", "struct_ops", "register", fx.path, dir.path, "--enable", "sv_dup")
        #expect(r.status == 1)
        let error = r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
        #expect(error == ["Error: struct_ops maps sv_plain and sv_dup would both register tcp_congestion_ops \"\(fx.name("sopsP_"))\": choose one with --enable/--disable; nothing was loaded"])
        #expect(!r.stderr.contains("created successfully"))
        #expect(TaggedStructOps.available().isDisjoint(with: [fx.name("sopsL_"), fx.name("sopsP_")]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        let j = try bpfswift("-j", "struct_ops", "register", fx.path, dir.path, "--enable", "sv_dup")
        #expect(j.status == 1 && j.stdout.hasPrefix("{\"error\":\"struct_ops maps sv_plain and sv_dup"))

        // The variant instead of the original (a ?.struct_ops map of a ___v1 type).
        let ok = try bpfswift("-d", "struct_ops", "register", fx.path, dir.path, "--enable", "sv_dup", "--disable", "sv_plain")
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.contains("libbpf: map 'sv_dup': created successfully"))
        let lines = RegisteredLine.parse(ok.stderr)
        #expect(Set(lines.keys) == ["sv_link", "sv_dup"])
        let dup = try #require(lines["sv_dup"])
        let shown = try #require(try Bpftool.json(["struct_ops", "show", "id", String(dup.mapID)]) as? [[String: Any]])
        #expect(shown.first?["name"] as? String == "sv_dup")
        #expect(shown.first?["kernel_struct_ops"] as? String == "tcp_congestion_ops")
        #expect(TaggedStructOps.available().contains(fx.name("sopsP_")))
    }

    /// A link-based map without LINK_DIR would be unregistered when the process
    /// exits: refused before anything is created. Maps without link need none.
    @Test func linkMapWithoutLinkDirIsRefused() throws {
        let fx = try TaggedStructOps("sops_variants")
        defer { fx.cleanUp() }

        let r = try bpfswift("-d", "struct_ops", "register", fx.path)
        #expect(r.status == 1)
        #expect(r.stderr.contains("Error: struct_ops map sv_link registers through a link (.struct_ops.link) and no LINK_DIR was given"))
        #expect(!r.stderr.contains("created successfully"))
        #expect(TaggedStructOps.available().isDisjoint(with: [fx.name("sopsL_"), fx.name("sopsP_")]))

        let plain = try bpfswift("struct_ops", "register", fx.path, "--disable", "sv_link")
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(Set(RegisteredLine.parse(plain.stderr).keys) == ["sv_plain"])
        #expect(TaggedStructOps.available().contains(fx.name("sopsP_")))
        #expect(!TaggedStructOps.available().contains(fx.name("sopsL_")))
    }

    /// A registration the kernel refuses after others succeeded undoes them:
    /// sv_plain's name is taken (registered before), so sv_link, registered
    /// first, is unregistered again and its pin removed.
    @Test func failedRegistrationRollsBack() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_rollback")
        defer { fx.cleanUp(); dir.remove() }

        let first = try bpfswift("struct_ops", "register", fx.path, "--disable", "sv_link")
        #expect(first.status == 0, "\(first.stderr)")
        let second = try bpfswift("struct_ops", "register", fx.path, dir.path)
        #expect(second.status == 1)
        #expect(second.stderr.hasPrefix("Error: can't register struct_ops sv_plain: File exists"), "\(second.stderr)")
        #expect(!TaggedStructOps.available().contains(fx.name("sopsL_")))
        #expect(TaggedStructOps.available().contains(fx.name("sopsP_")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)

        // A pin already at LINK_DIR/sv_link is found before load.
        #expect(mkdir(dir.sub("sv_link"), 0o700) == 0)
        let taken = try bpfswift("-d", "struct_ops", "register", fx.path, dir.path, "--disable", "sv_plain")
        #expect(taken.status == 1)
        #expect(taken.stderr.contains("Error: can't pin the link of struct_ops map sv_link at \(dir.sub("sv_link")): File exists; nothing was loaded"))
        #expect(!taken.stderr.contains("created successfully"))
    }

    @Test func registerErrors() throws {
        let fx = try TaggedStructOps("sops_variants")
        defer { fx.cleanUp() }
        let unknown = try bpfswift("struct_ops", "register", fx.path, "--enable", "sv_nope")
        #expect(unknown.status == 1)
        // libbpf keeps 15 characters of the object's name.
        #expect(unknown.stderr == "Error: --enable sv_nope: object bpfswift_sops_v has no map of that name (its maps: sv_link, sv_plain, sv_opt, sv_dup)\n")
        let both = try bpfswift("struct_ops", "register", fx.path, "--enable", "sv_opt", "--disable", "sv_opt")
        #expect(both.status == 2)
        let none = try bpfswift("struct_ops", "register", fx.path, "--disable", "sv_link", "--disable", "sv_plain")
        #expect(none.status == 1)
        #expect(none.stderr.hasPrefix("Error: no struct_ops found in \(fx.path)"))
        let counter = try bpfswift("struct_ops", "register", try Fixtures.object("counter"))
        #expect(counter.status == 1 && counter.stderr.hasPrefix("Error: no struct_ops found in"))
        let notBPFFS = try bpfswift("struct_ops", "register", fx.path, "/tmp")
        #expect(notBPFFS.status == 1 && notBPFFS.stderr.hasPrefix("Error: LINK_DIR /tmp: ")
                && notBPFFS.stderr.contains("/tmp is not on a bpffs mount") && notBPFFS.stderr.contains("nothing was loaded"), "\(notBPFFS.stderr)")
        #expect(try bpfswift("struct_ops", "register").status == 2)
        #expect(try bpfswift("struct_ops", "register", fx.path, "/sys/fs/bpf", "extra").status == 2)
        #expect(TaggedStructOps.available().isDisjoint(with: [fx.name("sopsL_"), fx.name("sopsP_")]))
    }

    // MARK: show and dump against bpftool

    /// `show` and `dump` print what bpftool prints: JSON key by key in both
    /// directions, text byte for byte; for one map, by name, and for all
    /// (compared on the maps of this test, others come and go meanwhile).
    @Test func showAndDumpMatchBpftool() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_show")
        defer { fx.cleanUp(); dir.remove() }
        let r = try bpfswift("struct_ops", "register", fx.path, dir.path, "--enable", "sv_opt")
        #expect(r.status == 0, "\(r.stderr)")
        let ids = RegisteredLine.parse(r.stderr).values.map(\.mapID).sorted()
        #expect(ids.count == 3)

        func same(_ args: [String], filter: Bool = false) throws {
            let theirs = try Bpftool.run(["-j"] + args), ours = try bpfswift(args: ["-j"] + args)
            #expect(theirs.status == 0 && ours.status == 0, "\(args): \(ours.stderr)")
            func mine(_ o: Any) -> [Any] {
                guard let a = o as? [Any] else { return [o] }
                guard filter else { return a }
                // dump: pairs of {bpf_map_info}{value}; show: one object per map.
                var out: [Any] = []
                var keep = false
                for e in a {
                    guard let d = e as? [String: Any] else { continue }
                    if let info = d["bpf_map_info"] as? [String: Any] {
                        keep = ids.contains((info["id"] as? NSNumber)?.uint32Value ?? 0)
                    } else if let id = d["id"] as? NSNumber {
                        keep = ids.contains(id.uint32Value)
                    }
                    if keep { out.append(e) }
                }
                return out
            }
            let e = mine(try parseJSON(theirs.stdout)), a = mine(try parseJSON(ours.stdout))
            #expect(jsonDifference(expected: e, actual: a) == nil, "\(args): \(jsonDifference(expected: e, actual: a) ?? "")")
            #expect(jsonDifference(expected: a, actual: e) == nil, "\(args) (keys we add): \(jsonDifference(expected: a, actual: e) ?? "")")
            if !filter {
                let t = try Bpftool.run(args), o = try bpfswift(args: args)
                #expect(o.stdout == t.stdout, "\(args)\n--- ours\n\(o.stdout)\n--- bpftool\n\(t.stdout)")
            }
        }
        for id in ids {
            for verb in ["show", "list", "dump"] { try same(["struct_ops", verb, "id", String(id)]) }
            try same(["struct_ops", "dump", "i", "0x" + String(id, radix: 16)])
        }
        try same(["struct_ops", "show"], filter: true)
        try same(["struct_ops", "dump"], filter: true)
        try same(["struct_ops", "show", "name", "sv_opt"], filter: true)
        try same(["struct_ops", "dump", "name", "sv_link"], filter: true)

        // The text of show: bpftool's "%u: %-15s %-32s" lines, ours among them.
        let text = try bpfswift("struct_ops", "show")
        for id in ids {
            #expect(text.stdout.split(separator: "\n").contains { $0.hasPrefix("\(id): sv_") && $0.hasSuffix("tcp_congestion_ops              ") })
        }
        // Unregister in JSON mode: null, nothing on stderr.
        let u = try bpfswift("-j", "struct_ops", "unregister", "id", String(ids[0]))
        #expect(u.status == 0 && u.stdout == "null\n" && u.stderr.isEmpty)
    }

    @Test func lookupErrorsAsBpftool() throws {
        let dir = try BPFFSDir("sops_errors")
        defer { dir.remove() }
        let name = "sops_h\(getpid() % 100000)"
        let c = try Bpftool.run(["map", "create", dir.sub("h"), "type", "hash", "key", "4", "value", "4", "entries", "4", "name", name])
        #expect(c.status == 0, "\(c.stderr)")
        let id = try #require((try Bpftool.json(["map", "show", "pinned", dir.sub("h")]) as? [String: Any])?["id"] as? NSNumber)
        for verb in ["show", "dump", "unregister"] {
            let args = ["struct_ops", verb, "id", id.stringValue]
            let theirs = try Bpftool.run(args), ours = try bpfswift(args: args)
            #expect(ours.status == 1 && theirs.status != 0)
            #expect(ours.stderr == "Error: \(name) id \(id) is not a struct_ops map\n")
            #expect(ours.stderr == theirs.stderr)
        }
        let missing = "sops_none_\(getpid())"
        for verb in ["show", "dump", "unregister"] {
            let ours = try bpfswift("struct_ops", verb, "name", missing)
            #expect(ours.status == 1 && ours.stderr == "Error: no struct_ops found for \(missing)\n")
        }
        let noID = try bpfswift("-j", "struct_ops", "show", "id", "4000000000")
        #expect(noID.status == 1 && noID.stdout.hasPrefix("{\"error\":\"can't get map by id (4000000000): No such file or directory"))
        for args in [["struct_ops", "show", "id"], ["struct_ops", "show", "id", "0"], ["struct_ops", "show", "id", "x"],
                     ["struct_ops", "show", "pinned", "/x"], ["struct_ops", "unregister"],
                     ["struct_ops", "dump", "id", "1", "extra"]] {
            let r = try bpfswift(args: args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }

    /// The struct_ops verbs close what they open: in-process runs leave no BPF
    /// descriptors behind (other tests of this process hold a few at any moment).
    @Test func noDescriptorLeaks() throws {
        func bpfDescriptors() -> Int {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return fds.filter { fd in
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd)) ?? ""
                return target.hasPrefix("anon_inode:bpf") || target == "anon_inode:btf"
            }.count
        }
        _ = runCLI("struct_ops", "dump")  // warm the BTF caches
        let before = bpfDescriptors()
        for i in 0..<8 {
            let fx = try TaggedStructOps("sops_variants")
            let dir = try BPFFSDir("sops_fds\(i)")
            defer { fx.cleanUp(); dir.remove() }
            let r = runCLI("struct_ops", "register", fx.path, dir.path, "--enable", "sv_opt")
            #expect(r.status == 0, "\(r.err)")
            let lines = RegisteredLine.parse(r.err)
            #expect(runCLI("-j", "struct_ops", "show").status == 0)
            #expect(runCLI("struct_ops", "dump", "name", "sv_link").status == 0)
            #expect(runCLI("struct_ops", "register", fx.path, dir.path).status == 1)  // names taken
            for l in lines.values {
                #expect(runCLI("struct_ops", "unregister", "id", String(l.mapID)).status == 0)
            }
            #expect(runCLI("struct_ops", "unregister", "name", "sops_none").status == 1)
        }
        let after = bpfDescriptors()
        #expect(after - before < 8, "BPF descriptors: \(before) before, \(after) after")
    }
}
