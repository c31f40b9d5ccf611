import Foundation
import Testing
import TestSupport

/// Hostile paths for `object pin|unpin|show`: pins outside bpffs, `..`
/// components, symlinks out of the tree, filesystems mounted inside a tree,
/// the bpffs root, names libbpf sanitizes and names the kernel truncates.
/// Decoys outside the tree (a plain directory, a tmpfs, another bpffs
/// directory, a private bpffs mount) must come through untouched.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct HostilePathTests {
    /// A decoy directory outside bpffs with one file in it.
    final class Decoy {
        let dir: String
        let file: String
        init(_ label: String) throws {
            dir = try Robust.tempDirectory("decoy-\(label)")
            file = dir + "/precious"
            try Data("precious\n".utf8).write(to: URL(fileURLWithPath: file))
        }
        var intact: Bool {
            (try? String(contentsOfFile: file, encoding: .utf8)) == "precious\n"
                && Robust.listTree(dir) == ["precious"]
        }
        deinit { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// A filesystem mounted for the test; unmounted (lazily) at the end.
    final class Mount {
        let path: String
        private(set) var mounted = false
        init(_ type: String, at path: String) throws {
            self.path = path
            if mount(type == "bpf" ? "bpf" : "bpfswift-decoy", path, type, 0, nil) != 0 {
                throw TestFailure("mount \(type) at \(path): \(String(cString: strerror(errno)))")
            }
            mounted = true
        }
        func unmount() {
            if mounted { umount2(path, Int32(MNT_DETACH)); mounted = false }
        }
        deinit { unmount() }
    }

    static func counter() throws -> String { try Fixtures.object("counter") }

    static func expectRefused(_ r: TimedResult, _ what: String, mentioning: String? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 1 && !r.signaled && !r.timedOut, "\(what): \(r.summary)", sourceLocation: sourceLocation)
        #expect(Robust.isOneLineError(r.stderr), "\(what): \(r.stderr)", sourceLocation: sourceLocation)
        if let m = mentioning {
            #expect(r.stderr.contains(m), "\(what): \(r.stderr)", sourceLocation: sourceLocation)
        }
    }

    /// A map pinned by bpftool as a decoy; its id, to check it survives.
    static func pinDecoyMap(at path: String) throws -> Int {
        let r = try Bpftool.run(["map", "create", path, "type", "array", "key", "4", "value", "4", "entries", "1",
                                 "name", "rob_decoy"])
        guard r.status == 0 else { throw TestFailure("bpftool map create \(path): \(r.stderr)") }
        return try pinnedID(path)
    }

    static func pinnedID(_ path: String) throws -> Int {
        guard let o = try Bpftool.json(["map", "show", "pinned", path]) as? [String: Any], let id = o["id"] as? Int else {
            throw TestFailure("no map pinned at \(path)")
        }
        return id
    }

    @Test func pinsOutsideBPFFSAreRefused() throws {
        let decoy = try Decoy("outside")
        let root = try BPFFSDir("rob_outside")
        defer { root.remove() }
        Self.expectRefused(try Robust.bpfswift(["object", "pin", try Self.counter(), decoy.dir + "/t"]),
                           "tree outside bpffs", mentioning: "not on a bpffs mount")
        // By-name maps whose pin root or pin path is outside bpffs.
        let shared = try Fixtures.object("obj_shared_a")
        Self.expectRefused(try Robust.bpfswift(["object", "pin", shared, root.sub("t"), "--pin-root", decoy.dir]),
                           "--pin-root outside bpffs", mentioning: "--pin-root \(decoy.dir)")
        Self.expectRefused(try Robust.bpfswift(["object", "pin", shared, root.sub("t"), "--pin-map",
                                                "obj_local=\(decoy.dir)/x"]),
                           "--pin-map outside bpffs", mentioning: "obj_local")
        // Through a symlink on bpffs that leads out of it.
        #expect(symlink(decoy.dir, root.sub("out")) == 0)
        Self.expectRefused(try Robust.bpfswift(["object", "pin", try Self.counter(), root.sub("out/t")]),
                           "parent is a symlink out of bpffs", mentioning: "not on a bpffs mount")
        Self.expectRefused(try Robust.bpfswift(["object", "pin", try Self.counter(), root.sub("out")]),
                           "PATH is a symlink", mentioning: "symbolic link")
        #expect(decoy.intact)
        #expect(Robust.listTree(root.path) == ["out"], "\(Robust.listTree(root.path))")
    }

    @Test func dotDotComponents() throws {
        let root = try BPFFSDir("rob_dotdot")
        defer { root.remove() }
        let decoy = try Decoy("dotdot")
        let decoyID = try Self.pinDecoyMap(at: root.sub("decoy_map"))
        let counter = try Self.counter()
        let depth = root.path.split(separator: "/").count
        let outward = root.path + String(repeating: "/..", count: depth) + decoy.dir
        for (args, what) in [
            (["object", "pin", counter, root.sub("t/..")], "ends in .."),
            (["object", "pin", counter, root.sub("..")], "the parent"),
            (["object", "pin", counter, root.sub(".")], "ends in ."),
            (["object", "pin", counter, root.sub("missing/../t")], "through a missing directory"),
            (["object", "pin", counter, outward + "/t"], "climbs out of bpffs"),
            (["object", "unpin", root.sub("..")], "unpin the parent"),
            (["object", "unpin", root.path + "/."], "unpin ."),
            (["object", "unpin", root.sub("x/../..")], "unpin x/../.."),
            (["object", "unpin", outward], "unpin a directory outside bpffs"),
            (["object", "show", root.sub("..")], "show .."),
        ] {
            Self.expectRefused(try Robust.bpfswift(args), what)
        }
        // A `..` that stays inside bpffs is an ordinary path.
        try FileManager.default.createDirectory(atPath: root.sub("a"), withIntermediateDirectories: false)
        let ok = try Robust.bpfswift(["object", "pin", counter, root.sub("a/../t")])
        #expect(ok.status == 0, "\(ok.summary)")
        let show = try Robust.bpfswift(["object", "show", root.sub("t")])
        #expect(show.status == 0 && show.stdout.contains("complete"), "\(show.summary)")
        let gone = try Robust.bpfswift(["object", "unpin", root.sub("a/../t")])
        #expect(gone.status == 0, "\(gone.summary)")
        #expect(try Self.pinnedID(root.sub("decoy_map")) == decoyID)
        #expect(decoy.intact)
        #expect(Robust.listTree(root.path) == ["a", "decoy_map"], "\(Robust.listTree(root.path))")
    }

    @Test func theBPFFSRootIsNeverUnpinned() throws {
        for p in ["/sys/fs/bpf", "/sys/fs/bpf/", "/sys/fs/bpf/.", "//sys//fs//bpf//", "/sys/fs/bpf/..", "/", "."] {
            Self.expectRefused(try Robust.bpfswift(["object", "unpin", p]), "unpin \(p)")
        }
        // The root of a private bpffs mount, with a decoy pin in it.
        let dir = try Robust.tempDirectory("privbpffs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m = try Mount("bpf", at: dir)
        defer { m.unmount() }
        let id = try Self.pinDecoyMap(at: dir + "/decoy")
        // A fresh bpffs holds the kernel's preloaded maps.debug and progs.debug too.
        let before = Robust.listTree(dir)
        #expect(before.contains("decoy"))
        for p in [dir, dir + "/", dir + "/."] {
            Self.expectRefused(try Robust.bpfswift(["object", "unpin", p]), "unpin the root of a bpffs mount \(p)")
            Self.expectRefused(try Robust.bpfswift(["object", "pin", try Self.counter(), p]), "pin onto a bpffs root \(p)")
        }
        #expect(try Self.pinnedID(dir + "/decoy") == id)
        #expect(Robust.listTree(dir) == before)
    }

    /// Symlinks inside a tree are removed as links; what they point to stays.
    @Test func unpinNeverFollowsSymlinksOutOfTheTree() throws {
        let root = try BPFFSDir("rob_symlinks")
        defer { root.remove() }
        let other = try BPFFSDir("rob_symlinks_other")
        defer { other.remove() }
        let decoy = try Decoy("symlinks")
        let otherID = try Self.pinDecoyMap(at: other.sub("decoy_map"))
        let tree = root.sub("t")
        let pin = try Robust.bpfswift(["object", "pin", try Self.counter(), tree, "--attach"])
        #expect(pin.status == 0, "\(pin.summary)")
        for (link, target) in [("maps/evil_file", decoy.file), ("programs/evil_dir", decoy.dir),
                               ("links/evil_bpffs", other.path), ("evil_map", other.sub("decoy_map")),
                               ("evil_root", "/")] {
            #expect(symlink(target, tree + "/" + link) == 0, "symlink \(link)")
        }
        let r = try Robust.bpfswift(["object", "unpin", tree])
        #expect(r.status == 0, "\(r.summary)")
        #expect(!FileManager.default.fileExists(atPath: tree))
        #expect(decoy.intact)
        #expect(try Self.pinnedID(other.sub("decoy_map")) == otherID)
        #expect(Robust.listTree(other.path) == ["decoy_map"])
        #expect(Robust.listTree(root.path).isEmpty, "\(Robust.listTree(root.path))")

        // A tree whose PATH is itself a symlink to a real tree is refused, and both stay.
        let real = root.sub("real")
        #expect(try Robust.bpfswift(["object", "pin", try Self.counter(), real]).status == 0)
        #expect(symlink(real, root.sub("alias")) == 0)
        Self.expectRefused(try Robust.bpfswift(["object", "unpin", root.sub("alias")]), "unpin a symlink to a tree",
                           mentioning: "symbolic link")
        #expect(try Robust.bpfswift(["object", "show", real]).stdout.contains("complete"))
        #expect(try Robust.bpfswift(["object", "unpin", real]).status == 0)
    }

    /// A tmpfs or another bpffs mounted inside a tree: unpin refuses before
    /// removing anything, so neither the mounted files nor the tree are lost.
    @Test(arguments: ["tmpfs", "bpf"])
    func unpinLeavesFilesystemsMountedInsideTheTree(_ fsType: String) throws {
        let root = try BPFFSDir("rob_mount_\(fsType)")
        defer { root.remove() }
        let tree = root.sub("t")
        let pin = try Robust.bpfswift(["object", "pin", try Self.counter(), tree, "--attach"])
        #expect(pin.status == 0, "\(pin.summary)")
        let mnt = tree + "/programs/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: false)
        let m = try Mount(fsType, at: mnt)
        defer { m.unmount() }
        var decoyID: Int?
        if fsType == "bpf" {
            decoyID = try Self.pinDecoyMap(at: mnt + "/decoy")
        } else {
            try Data("precious\n".utf8).write(to: URL(fileURLWithPath: mnt + "/decoy"))
        }
        let before = Robust.listTree(tree)
        Self.expectRefused(try Robust.bpfswift(["object", "unpin", tree]), "unpin with a \(fsType) inside",
                           mentioning: "mount point")
        #expect(Robust.listTree(tree) == before, "nothing removed")
        if let decoyID {
            #expect(try Self.pinnedID(mnt + "/decoy") == decoyID)
        } else {
            #expect((try? String(contentsOfFile: mnt + "/decoy", encoding: .utf8)) == "precious\n")
        }
        let show = try Robust.bpfswift(["object", "show", tree])
        #expect(show.status == 0 && show.stdout.contains("complete"), "\(show.summary)")
        // Once unmounted the tree goes as usual.
        m.unmount()
        let r = try Robust.bpfswift(["object", "unpin", tree])
        #expect(r.status == 0, "\(r.summary)")
        #expect(Robust.listTree(root.path).isEmpty, "\(Robust.listTree(root.path))")
    }

    /// `object unpin` of a directory that is not an object tree removes nothing.
    @Test func unpinRefusesWhatIsNotATree() throws {
        let root = try BPFFSDir("rob_nottree")
        defer { root.remove() }
        try FileManager.default.createDirectory(atPath: root.sub("plain/maps"), withIntermediateDirectories: true)
        let id = try Self.pinDecoyMap(at: root.sub("plain/maps/m"))
        _ = try Self.pinDecoyMap(at: root.sub("manifest"))
        for p in [root.sub("plain"), root.path] {
            Self.expectRefused(try Robust.bpfswift(["object", "unpin", p]), "unpin \(p)", mentioning: "not an object tree")
        }
        #expect(try Self.pinnedID(root.sub("plain/maps/m")) == id)
        #expect(Robust.listTree(root.path) == ["manifest", "plain", "plain/maps", "plain/maps/m"])
    }

    /// Two maps whose pin names are equal once '.' becomes '_': a clean failure, nothing left.
    @Test func sanitizedNamesThatCollide() throws {
        let root = try BPFFSDir("rob_collide")
        defer { root.remove() }
        let r = try Robust.bpfswift(["object", "pin", try Fixtures.object("rob_collide"), root.sub("t"),
                                     "--pin-root", root.path])
        Self.expectRefused(r, "colliding pin names", mentioning: "rob_coll_bss")
        #expect(r.stderr.contains("File exists"))
        #expect(Robust.listTree(root.path).isEmpty, "\(Robust.listTree(root.path))")
    }

    /// The kernel keeps 15 characters of a name: both programs are
    /// "rob_truncated_n" there and both by-name maps "rob_long_shared". The
    /// tree and the by-name pins keep them apart by their full names.
    @Test func namesTheKernelTruncates() throws {
        let root = try BPFFSDir("rob_truncate")
        defer { root.remove() }
        let obj = try Fixtures.object("rob_names")
        let r = try Robust.bpfswift(["-j", "object", "pin", obj, root.sub("t"), "--pin-root", root.path])
        #expect(r.status == 0, "\(r.summary)")
        let one = try Self.pinnedID(root.sub("rob_long_shared_map_one"))
        let two = try Self.pinnedID(root.sub("rob_long_shared_map_two"))
        #expect(one != two)
        for (name, value) in [("rob_long_shared_map_one", 8), ("rob_long_shared_map_two", 4)] {
            let o = try Bpftool.json(["map", "show", "pinned", root.sub(name)]) as? [String: Any]
            #expect(o?["bytes_value"] as? Int == value, "\(name): \(String(describing: o))")
            #expect(o?["name"] as? String == "rob_long_shared")
        }
        #expect(try Self.pinnedID(root.sub("t/maps/rob_long_shared_map_one")) == one)
        #expect(try Self.pinnedID(root.sub("t/maps/rob_long_shared_map_two")) == two)
        var progIDs: [Int] = []
        for p in ["rob_truncated_name_first", "rob_truncated_name_second"] {
            let o = try Bpftool.json(["prog", "show", "pinned", root.sub("t/programs/" + p)]) as? [String: Any]
            progIDs.append(o?["id"] as? Int ?? -1)
        }
        #expect(Set(progIDs).count == 2 && !progIDs.contains(-1))
        // A second object with the same long names reuses each map by its full name.
        let again = try Robust.bpfswift(["object", "pin", obj, root.sub("u"), "--pin-root", root.path])
        #expect(again.status == 0, "\(again.summary)")
        #expect(try Self.pinnedID(root.sub("u/maps/rob_long_shared_map_one")) == one)
        #expect(try Self.pinnedID(root.sub("u/maps/rob_long_shared_map_two")) == two)
        for t in ["t", "u"] {
            let s = try Robust.bpfswift(["object", "show", root.sub(t)])
            #expect(s.status == 0 && s.stdout.contains("complete"), "\(s.summary)")
            #expect(try Robust.bpfswift(["object", "unpin", root.sub(t)]).status == 0)
        }
        #expect(Robust.listTree(root.path) == ["rob_long_shared_map_one", "rob_long_shared_map_two"])
    }

    /// An object whose program name (an ELF symbol) climbs out of programs/:
    /// refused (the kernel accepts no '/' or '.' in names), nothing pinned
    /// anywhere, not even next to the tree.
    @Test func programNamesThatClimbOut() throws {
        let root = try BPFFSDir("rob_climb")
        defer { root.remove() }
        let dir = try Robust.tempDirectory("climb")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try Self.counter())))
        let elf = try TestELF(bytes)
        // The symbol names live in .strtab: rename count_raw (9 bytes) in place.
        let strtab = try #require(elf.sections.first { $0.name == ".strtab" })
        let at = try #require(TestELF.find(Array("count_raw\0".utf8), in: bytes, from: strtab.offset, to: strtab.offset + strtab.size))
        for (i, c) in "../../esc".utf8.enumerated() { bytes[at + i] = c }
        let file = dir + "/climb.bpf.o"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let inspect = try Robust.bpfswift(["object", "inspect", file])
        #expect(inspect.stdout.contains("../../esc"), "the mutation took: \(inspect.summary)")
        for extra in [[String](), ["--attach"]] {
            let r = try Robust.bpfswift(["object", "pin", file, root.sub("t")] + extra)
            Self.expectRefused(r, "program named ../../esc")
            #expect(Robust.listTree(root.path).isEmpty, "\(Robust.listTree(root.path))")
        }
    }
}

/// Just enough ELF64 for the tests to find sections in fixtures (the tests'
/// own reader, independent of the code under test).
struct TestELF {
    struct Section {
        var index: Int
        var name: String
        var type: UInt32
        var offset: Int
        var size: Int
        /// Where this section's header starts in the file.
        var headerOffset: Int
    }

    var sections: [Section] = []
    var shoff = 0
    var shnum = 0

    init(_ b: [UInt8]) throws {
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { (0..<4).reduce(0) { $0 | Int(b[o + $1]) << (8 * $1) } }
        func u64(_ o: Int) -> Int { (0..<8).reduce(0) { $0 | Int(b[o + $1]) << (8 * $1) } }
        guard b.count >= 64, b[0] == 0x7f, b[4] == 2, b[5] == 1 else { throw TestFailure("not an ELF64 LE file") }
        shoff = u64(0x28)
        shnum = u16(0x3c)
        let shstrndx = u16(0x3e)
        guard shoff + shnum * 64 <= b.count, shstrndx < shnum else { throw TestFailure("bad section table") }
        let namesOff = u64(shoff + shstrndx * 64 + 24)
        for i in 0..<shnum {
            let h = shoff + i * 64
            var end = namesOff + u32(h)
            while end < b.count && b[end] != 0 { end += 1 }
            let name = String(decoding: b[(namesOff + u32(h))..<end], as: UTF8.self)
            sections.append(Section(index: i, name: name, type: UInt32(u32(h + 4)), offset: u64(h + 24),
                                    size: u64(h + 32), headerOffset: h))
        }
    }

    static func find(_ needle: [UInt8], in b: [UInt8], from: Int, to: Int) -> Int? {
        guard to - from >= needle.count else { return nil }
        for i in from...(to - needle.count) where b[i] == needle[0] && Array(b[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
