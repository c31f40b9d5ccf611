import Testing
import Foundation
@testable import BPFCore
import TestSupport

/// ObjectPinner and ObjectTree in-process: the library API the CLI and the
/// skeletons use, and no descriptor of a pinned object left open afterwards.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct ObjectPinnerTests {
    /// (kind, id) of every BPF object this process holds a descriptor to.
    /// Other tests run in parallel, so callers look only for ids they made.
    static func heldObjects() -> Set<String> {
        var out: Set<String> = []
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for name in fds {
            guard let raw = Int32(name) else { continue }
            let d = fcntl(raw, F_DUPFD_CLOEXEC, 3)
            guard d >= 0 else { continue }
            let fd = FileDescriptor(owning: d)
            guard let kind = Kernel.kind(of: fd), let id = try? Kernel.id(of: fd) else { continue }
            out.insert("\(kind.rawValue) \(id)")
        }
        return out
    }

    static func ids(_ m: ObjectManifest) -> Set<String> {
        var s: Set<String> = []
        for x in m.maps { s.insert("map \(x.id)") }
        for x in m.programs { s.insert("prog \(x.id)") }
        for x in m.links { s.insert((x.pinHoldsMap ? "map " : "link ") + "\(x.id)") }
        return s
    }

    @Test func pinShowUnpinInProcessLeavesNoDescriptor() throws {
        let dir = try BPFFSDir("obj_inproc")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        var o = ObjectPinOptions()
        o.attach = true
        o.pinRoot = root
        let r = try ObjectPinner.pin(objectFile: try Fixtures.object("obj_tp"), at: dir.sub("t"), options: o)
        #expect(r.outcome == .pinned)
        #expect(r.manifest.sha256 == SHA256.hexDigest(try readFileBytes(try Fixtures.object("obj_tp"))))
        #expect(r.manifest.programs.map(\.name).sorted() == ["obj_tp_getppid", "obj_tp_xdp"])
        #expect(r.manifest.links.map(\.pinName) == ["obj_tp_getppid"])
        let mine = Self.ids(r.manifest)
        #expect(mine.count == 4)
        #expect(Self.heldObjects().isDisjoint(with: mine), "descriptors left open after pin")

        let status = try ObjectTree.status(at: dir.sub("t"))
        #expect(status.complete)
        #expect(status.manifest == r.manifest)
        #expect(status.entries.count == 4)
        #expect(Self.heldObjects().isDisjoint(with: mine), "descriptors left open after status")

        let again = try ObjectPinner.pin(objectFile: try Fixtures.object("obj_tp"), at: dir.sub("t"), options: o)
        #expect(again.outcome == .unchanged)
        #expect(again.manifest == r.manifest)

        // A failure (a by-name map that does not fit) also closes what it opened.
        let bad = try #require(mkdir(dir.sub("mm"), 0o700) == 0 ? dir.sub("mm") : nil)
        let c = try Bpftool.run(["map", "create", root + "/obj_shared", "type", "array", "key", "4", "value", "4",
                                 "entries", "1", "name", "obj_shared"])
        try #require(c.status == 0, "\(c.stderr)")
        let before = Self.heldObjects()
        do {
            _ = try ObjectPinner.pin(objectFile: try Fixtures.object("obj_shared_a"), at: bad + "/x", options: o)
            Issue.record("a mismatching by-name map must fail")
        } catch let error as BPFError {
            #expect(error.description.contains("map obj_shared"))
            #expect(error.description.contains("value size differs (pinned 4, object 8)"))
        }
        #expect(ObjectKitLite.names(bad).isEmpty)
        let sharedID = try #require(try Bpftool.json(["map", "show", "pinned", root + "/obj_shared"]) as? [String: Any])["id"] as? Int
        #expect(!Self.heldObjects().subtracting(before).contains("map \(sharedID!)"), "the reused map's descriptor stayed open")

        let removed = try ObjectTree.unpin(dir.sub("t"))
        #expect(removed == r.manifest)
        #expect(Self.heldObjects().isDisjoint(with: mine))
        // Nothing holds the programs any more: they go.
        let progs = r.manifest.programs.map(\.id)
        var gone = false
        for _ in 0..<250 where !gone {
            gone = progs.allSatisfy { !PinnedObjectSummary.exists(.program, id: $0) }
            if !gone { usleep(20_000) }
        }
        #expect(gone)
        dir.remove()
    }

    @Test func keepDescriptorsHandsThemToTheCallerUntilItDropsThem() throws {
        let dir = try BPFFSDir("obj_keepfd")
        var o = ObjectPinOptions()
        o.attach = true
        o.pinRoot = dir.path
        o.keepDescriptors = true
        var r = try ObjectPinner.pin(objectFile: try Fixtures.object("obj_tp"), at: dir.sub("t"), options: o)
        let mine = Self.ids(r.manifest)
        #expect(mine.count == 4)
        #expect(r.descriptors != nil)
        // The programs, the map and the link: still open, for the caller to close.
        #expect(mine.isSubset(of: Self.heldObjects()))
        #expect(o.fingerprint == "attach=1;pin_root=\(dir.path)", "it does not shape the tree")
        r.descriptors = nil
        #expect(Self.heldObjects().isDisjoint(with: mine))
        // The tree is the same either way, and the link still runs through its pin.
        #expect(try ObjectTree.status(at: dir.sub("t")).complete)
        _ = try ObjectTree.unpin(dir.sub("t"))
        dir.remove()
    }

    @Test func fingerprintIsCanonical() {
        var o = ObjectPinOptions()
        #expect(o.fingerprint == "attach=0;pin_root=/sys/fs/bpf")
        o.attach = true
        o.pinRoot = "/sys/fs/bpf/r"
        o.enable = ["b", "a"]
        o.disable = ["z"]
        o.reuseMaps = [.init(map: "m2", file: "/sys/fs/bpf/x"), .init(map: "m1", file: "/sys/fs/bpf/y")]
        o.pinMaps = [.init(map: "p", file: "/sys/fs/bpf/p")]
        #expect(o.fingerprint == "attach=1;pin_root=/sys/fs/bpf/r;enable=a,b;disable=z;map=m1=/sys/fs/bpf/y,m2=/sys/fs/bpf/x;pin_map=p=/sys/fs/bpf/p")
        // Order of the options given does not matter.
        var p = o
        p.enable = ["a", "b"]
        p.reuseMaps.reverse()
        #expect(p.fingerprint == o.fingerprint)
    }

    @Test func manifestRoundTripsAndRejectsOtherVersions() throws {
        var m = ObjectManifest(sha256: String(repeating: "ab", count: 32), objectName: "x", file: "/a b/x\r\n.o",
                               options: "attach=1;pin_root=/sys/fs/bpf", attach: true, pinnedAt: 1_700_000_000)
        m.maps = [.init(pinName: "x_bss", name: "x.bss", id: 7, type: "array", sharedPin: nil, reusedPin: "/p/m")]
        m.programs = [.init(name: "p", id: 9, type: "xdp", section: "xdp", link: nil, notAttached: "no\ttarget")]
        m.links = [.init(pinName: "ops", id: 3, type: "struct_ops_map", program: nil, structOpsMap: "ops")]
        var bytes = m.encoded()
        bytes += [0, 0, 0]
        let back = try ObjectManifest.decode(bytes)
        var expected = m
        expected.programs[0].notAttached = "no target"
        expected.file = "/a b/x  .o"
        #expect(back == expected)
        #expect(back.links[0].pinHoldsMap)
        #expect(throws: BPFError.self) { try ObjectManifest.decode(Array("bpfswift-object 2\nend\n".utf8)) }
        #expect(throws: BPFError.self) { try ObjectManifest.decode(Array(m.encoded().dropLast(4))) }
        // A forged record naming pins outside its directories, or twice, or with id 0, is refused whole.
        for bad in ["../../victim/links/aud_ca", "a/b", "..", "", "x\ty", String(repeating: "n", count: 256)] {
            var f = m
            f.links[0].pinName = bad
            #expect(throws: BPFError.self, "\(bad)") { try ObjectManifest.decode(f.encoded()) }
        }
        var twice = m
        twice.maps.append(twice.maps[0])
        #expect(throws: BPFError.self) { try ObjectManifest.decode(twice.encoded()) }
        #expect(twice.invalidity() == "map x_bss recorded twice")
        var twoPrograms = m
        twoPrograms.programs.append(twoPrograms.programs[0])
        #expect(twoPrograms.invalidity() == "program p recorded twice")
        var twoLinks = m
        twoLinks.links.append(twoLinks.links[0])
        #expect(twoLinks.invalidity() == "link ops recorded twice")
        // One name in each kind is no collision: maps, programs and links are separate directories.
        var sameName = m
        sameName.programs[0].name = "x_bss"
        sameName.links[0].pinName = "x_bss"
        sameName.links[0].structOpsMap = "x_bss"
        #expect(sameName.invalidity() == nil)
        var dangling = m
        dangling.programs[0].link = "nowhere"
        #expect(dangling.invalidity() == "program p names link nowhere, which is not recorded")
        var zero = m
        zero.programs[0].id = 0
        #expect(throws: BPFError.self) { try ObjectManifest.decode(zero.encoded()) }
    }
}

/// The few helpers the in-process test needs (BPFCoreTests cannot see the CLI test target's ObjectKit).
enum ObjectKitLite {
    static func names(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }
}
