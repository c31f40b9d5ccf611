import Testing
import Foundation
import BPFCore
import TestSupport

/// Errors say what is really wrong: missing privileges, a directory off
/// bpffs, a map that cannot be dumped; with -j the error is all of stdout.
@Suite struct ErrorMessageTests {
    static let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs the binary as nobody (uid/gid 65534), without capabilities.
    static func asNobody(_ args: [String]) throws -> ProcessResult {
        let sp = try #require(setpriv, "setpriv (util-linux) is needed to run bpfswift without privileges")
        return try runProcess(sp, ["--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all",
                                   "--", TestEnv.binary] + args)
    }

    /// Every kernel command run without privileges says that privileges are
    /// missing: not libbpf's memlock hint, not "not an object tree", not "not on bpffs".
    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func withoutPrivilegesEveryKernelCommandSaysSo() throws {
        let dir = try BPFFSDir("docs_nopriv")
        defer { dir.remove() }
        // nobody may look into the test directory (so that the manifest, not
        // the directory, is what refuses), and write into one subdirectory.
        chmod(dir.path, 0o755)
        let open = dir.sub("open")
        mkdir(open, 0o777); chmod(open, 0o777)
        let tree = dir.sub("counter")
        let pin = try bpfswift("object", "pin", try Fixtures.object("counter"), tree, "--attach")
        try #require(pin.status == 0, "\(pin.stderr)")
        defer { _ = try? bpfswift("object", "unpin", tree) }
        chmod(tree, 0o755)
        let id = try #require(try ObjectKit.show(tree)["programs"] as? [[String: Any]]).first?["id"] as? Int ?? 1

        let commands: [[String]] = [
            ["prog", "show"], ["prog", "show", "id", String(id)], ["-j", "prog", "show"],
            ["prog", "show", "pinned", tree + "/programs/count_enter"],
            ["prog", "show", "--metadata"],
            ["map", "show"], ["map", "dump", "pinned", tree + "/maps/hit_map"],
            ["map", "show", "pinned", tree + "/maps/hit_map"],
            ["map", "create", open + "/m", "type", "hash", "key", "4", "value", "4", "entries", "4", "name", "docs_np"],
            ["link", "show"], ["link", "show", "pinned", tree + "/links/count_enter"],
            ["struct_ops", "show"], ["struct_ops", "dump"], ["struct_ops", "unregister", "name", "docs_np"],
            ["object", "show", tree], ["object", "unpin", tree], ["object", "list", dir.path],
            ["object", "pin", try Fixtures.object("counter"), open + "/tree", "--attach"],
            ["struct_ops", "register", try Fixtures.object("sops_variants"), open + "/cc"],
        ]
        for c in commands {
            let r = try Self.asNobody(c)
            let line = c.joined(separator: " ")
            #expect(r.status == 1, "\(line): exit \(r.status): \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains("missing privileges"), "\(line): \(r.stderr)")
            for wrong in ["MEMLOCK", "not an object tree", "not on a bpffs", "not in bpf file system"] {
                #expect(!r.stderr.contains(wrong), "\(line): \(r.stderr)")
            }
            #expect(r.stderr.split(separator: "\n").count == 1, "\(line): one line: \(r.stderr)")
        }
        // Nothing was made by the refused commands.
        #expect(ObjectKit.names(in: open).isEmpty, "\(ObjectKit.names(in: open))")
        // The files-only commands still work.
        #expect(try Self.asNobody(["object", "inspect", try Fixtures.object("counter")]).status == 0)
    }

    /// --pin-root DIR that does not exist is made (mode 0700, on bpffs) and
    /// holds the maps pinned by name; one that nothing ends up in is not left behind.
    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func aMissingPinRootIsCreated() throws {
        let dir = try BPFFSDir("docs_pinroot")
        defer { dir.remove() }
        let root = dir.sub("shared")
        let r = try ObjectKit.pin("obj_shared_a", dir.sub("a"), root: root)
        #expect(r.status == 0, "\(r.stderr)")
        var st = stat()
        #expect(stat(root, &st) == 0 && (st.st_mode & 0o7777) == 0o700, "mode \(String(st.st_mode, radix: 8))")
        #expect(ObjectKit.names(in: root) == ["obj_shared"])
        #expect(try ObjectKit.show(dir.sub("a"))["complete"] as? Bool == true)
        _ = try bpfswift("object", "unpin", dir.sub("a"))

        // Nothing pinned by name: the root is not left behind.
        let unused = dir.sub("unused")
        let c = try ObjectKit.pin("counter", dir.sub("c"), root: unused)
        #expect(c.status == 0, "\(c.stderr)")
        #expect(!ObjectKit.exists(unused))
        _ = try bpfswift("object", "unpin", dir.sub("c"))

        // A failed pin (a missing object file) leaves no root either.
        let f = try bpfswift("object", "pin", dir.sub("nofile"), dir.sub("f"), "--pin-root", unused)
        #expect(f.status == 1)
        #expect(!ObjectKit.exists(unused))
    }

    /// A --pin-root or LINK_DIR off bpffs is refused even when no map would be pinned there.
    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func pinRootAndLinkDirOffBPFFSAreRefused() throws {
        let dir = try BPFFSDir("docs_offbpffs")
        defer { dir.remove() }
        let tmp = NSTemporaryDirectory() + "bpfswift_docs_\(getpid())"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }

        for root in [tmp, tmp + "/new"] {
            let r = try ObjectKit.pin("counter", dir.sub("c"), root: root)
            #expect(r.status == 1, "--pin-root \(root): \(r.stderr)")
            #expect(r.stderr.contains("--pin-root") && r.stderr.contains("is not on a bpffs mount"), "\(r.stderr)")
            #expect(!ObjectKit.exists(dir.sub("c")))
        }
        #expect(!ObjectKit.exists(tmp + "/new"))

        // No link-based map is registered (--disable sv_link), yet LINK_DIR /tmp is refused.
        let fx = try TaggedStructOps("sops_variants")
        defer { fx.cleanUp() }
        let s = try bpfswift("struct_ops", "register", fx.path, tmp, "--disable", "sv_link")
        #expect(s.status == 1, "\(s.stderr)")
        #expect(s.stderr.contains("LINK_DIR") && s.stderr.contains("is not on a bpffs mount"), "\(s.stderr)")
        #expect(!TaggedStructOps.available().contains(fx.name("sopsP_")), "nothing registered")
    }

    /// `struct_ops unregister` removes a LINK_DIR that `register` made once
    /// its last link is gone, and leaves one that was there before.
    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func unregisterRemovesTheLinkDirItMade() throws {
        let dir = try BPFFSDir("docs_linkdir")
        defer { dir.remove() }
        let fx = try TaggedStructOps("sops_variants")
        defer { fx.cleanUp() }
        let made = dir.sub("made")
        let r = try bpfswift("struct_ops", "register", fx.path, made, "--disable", "sv_plain")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(ObjectKit.names(in: made) == ["sv_link"])
        let first = try #require(RegisteredLine.parse(r.stderr)["sv_link"]).mapID
        let u = try bpfswift("struct_ops", "unregister", "id", String(first))
        #expect(u.status == 0, "\(u.stderr)")
        #expect(!ObjectKit.exists(made), "LINK_DIR made by register is still there: \(ObjectKit.names(in: made))")

        // A LINK_DIR the user made stays.
        let fx2 = try TaggedStructOps("sops_variants")
        defer { fx2.cleanUp() }
        let own = dir.sub("own")
        mkdir(own, 0o755)
        let r2 = try bpfswift("struct_ops", "register", fx2.path, own, "--disable", "sv_plain")
        #expect(r2.status == 0, "\(r2.stderr)")
        let id = try #require(RegisteredLine.parse(r2.stderr)["sv_link"]).mapID
        #expect(try bpfswift("struct_ops", "unregister", "id", String(id)).status == 0)
        #expect(ObjectKit.exists(own) && ObjectKit.names(in: own).isEmpty)
    }

    /// `object unpin /tmp` names /tmp, not its parent.
    @Test func unpinOffBPFFSNamesThePath() throws {
        let r = try bpfswift("object", "unpin", "/tmp")
        #expect(r.status == 1)
        #expect(r.stderr == "Error: unpin object tree /tmp: Invalid argument (/tmp is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf))\n", "\(r.stderr)")
    }

    /// `map dump` of a ring buffer: one error and nothing before it; with -j
    /// the error is all of stdout, also when another map of the same name
    /// would have printed elements first.
    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func dumpOfARingBufferIsOneError() throws {
        let dir = try BPFFSDir("docs_ringbuf")
        defer { dir.remove() }
        let name = "dz" + String(getpid(), radix: 36) + String(Int.random(in: 0..<1_000_000), radix: 36)
        let rb = dir.sub("rb"), hash = dir.sub("hash")
        #expect(try bpfswift("map", "create", hash, "type", "hash", "key", "4", "value", "4", "entries", "4", "name", name).status == 0)
        #expect(try bpfswift("map", "update", "pinned", hash, "key", "1", "0", "0", "0", "value", "2", "0", "0", "0").status == 0)
        #expect(try bpfswift("map", "create", rb, "type", "ringbuf", "key", "0", "value", "0", "entries", "4096", "name", name).status == 0)

        let t = try bpfswift("map", "dump", "pinned", rb)
        #expect(t.status == 1)
        #expect(t.stdout.isEmpty, "\(t.stdout)")
        #expect(t.stderr.split(separator: "\n").count == 1 && t.stderr.contains("ringbuf maps have no keys to walk"), "\(t.stderr)")

        for args in [["-j", "map", "dump", "pinned", rb], ["-j", "map", "dump", "name", name], ["map", "dump", "name", name]] {
            let r = try bpfswift(args: args)
            #expect(r.status == 1, "\(args)")
            if args[0] == "-j" {
                let obj = try #require(try parseJSON(r.stdout) as? [String: Any], "\(args): \(r.stdout)")
                #expect(obj.keys.sorted() == ["error"], "\(args): \(r.stdout)")
                #expect(r.stdout.split(separator: "\n").count == 1, "\(args): \(r.stdout)")
            } else {
                #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
            }
        }
    }
}
