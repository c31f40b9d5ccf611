import Testing
import Foundation
import BPFCore
import TestSupport

/// bpfswift runs as root on a bpffs every user can write to. Each test plays
/// an attack on another tree (or an unlucky operator, or a SIGKILL) as
/// described in the threat model of Docs/guide.md, and checks that nothing
/// outside the tree is removed, detached or unregistered, and that the tree
/// is either untouched or correctly taken down.
///
/// Serialized: several tests register the one congestion control
/// "bpfswift_trust", which the kernel allows once at a time.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled), .serialized)
struct TrustTests {
    static let cc = "bpfswift_trust"

    /// Whether the test's congestion control is registered.
    static func ccRegistered() -> Bool {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_congestion_control", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains { $0 == Substring(cc) }
    }

    /// Runs `args` as uid/gid 65534 (nobody).
    static func asNobody(_ args: [String]) throws -> ProcessResult {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw TestFailure("needs root and /usr/bin/setpriv to act as an unprivileged user")
        }
        return try runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups"] + args)
    }

    /// The victim: trust_cc pinned with --attach at `path`, registered.
    static func victim(_ path: String) throws -> (structOpsID: Int, show: [String: Any]) {
        let r = try ObjectKit.pin("trust_cc", path, root: nil, ["--attach"])
        try #require(r.status == 0, "\(r.stderr)")
        try #require(ccRegistered())
        let show = try ObjectKit.show(path)
        let link = try #require(ObjectKit.entries(show, "links")["trust_ca"])
        return (ObjectKit.id(link), show)
    }

    /// The victim is whole: registered, its tree complete, its pins in place.
    static func expectVictimIntact(_ path: String, _ id: Int, _ what: Comment) throws {
        #expect(ccRegistered(), what)
        let show = try ObjectKit.show(path)
        #expect(show["complete"] as? Bool == true, what)
        #expect(ObjectKit.id(ObjectKit.entries(show, "links")["trust_ca"]) == id, what)
        #expect(ObjectKit.names(in: path) == ["links", "manifest", "maps", "programs"], what)
    }

    /// A manifest map written by hand with `bpfswift map create/update`, as a forger would.
    static func forgeManifest(at file: String, lines: [String]) throws {
        var text = Array((["bpfswift-object 1", "sha256 " + String(repeating: "ab", count: 32), "name forged", "file /x",
                           "options attach=1", "attach 1", "pinned_at 0"] + lines + ["end"]).joined(separator: "\n").utf8) + [0x0a]
        while text.count % 8 != 0 { text.append(0) }
        let c = try bpfswift("map", "create", file, "type", "array", "key", "4", "value", String(text.count),
                             "entries", "1", "name", ObjectManifest.mapName)
        try #require(c.status == 0, "\(c.stderr)")
        let u = try bpfswift(args: ["map", "update", "pinned", file, "key", "0", "0", "0", "0", "value", "hex"]
                                + text.map { String(format: "%02x", $0) })
        try #require(u.status == 0, "\(u.stderr)")
    }

    // MARK: 1. a bind mount of the same bpffs inside a tree

    @Test func aBindMountOfTheSameBPFFSInsideATreeIsNeverEntered() throws {
        let dir = try BPFFSDir("trust_bind")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let victimPath = dir.sub("V")
        let (id, _) = try Self.victim(victimPath)
        let a = dir.sub("A")
        try #require(try ObjectKit.pin("obj_tp", a, root: root, ["--attach"]).status == 0)
        let aLink = ObjectKit.id(ObjectKit.entries(try ObjectKit.show(a), "links")["obj_tp_getppid"])
        let mnt = a + "/maps/sub"
        try #require(mkdir(mnt, 0o700) == 0)
        try #require(mount(victimPath, mnt, nil, UInt(MS_BIND), nil) == 0, "bind mount: \(String(cString: strerror(errno)))")
        // --replace below moves the old tree (and the mount in it) to the staging name.
        let movedMnt = ObjectKit.staging(a) + "/maps/sub"
        defer { umount2(mnt, Int32(MNT_DETACH)); umount2(movedMnt, Int32(MNT_DETACH)) }

        let r = try bpfswift("object", "unpin", a)
        #expect(r.status == 1)
        #expect(r.stderr.contains("mount point"), "\(r.stderr)")
        try Self.expectVictimIntact(victimPath, id, "after unpin of a tree with the victim bind-mounted inside")
        // The tree was not touched either: still complete, still at PATH.
        #expect(try ObjectKit.show(a)["complete"] as? Bool == true)
        #expect(ObjectKit.alive(.link, aLink))
        // show and list stay on the tree's own mount (the victim is not listed twice).
        let listed = try ObjectKit.list(dir.path).compactMap { $0["path"] as? String }
        #expect(listed.sorted() == [a, victimPath].sorted(), "\(listed)")
        // --replace of the tree with the mount inside leaves the victim alone too.
        _ = try ObjectKit.pin("obj_rawtp", a, root: root, ["--replace"])
        try Self.expectVictimIntact(victimPath, id, "after --replace of a tree with the victim bind-mounted inside")

        umount2(mnt, Int32(MNT_DETACH))
        umount2(movedMnt, Int32(MNT_DETACH))
        if ObjectKit.exists(a) { #expect(try bpfswift("object", "unpin", a).status == 0) }
        for s in ObjectKit.names(in: dir.path) where s.hasPrefix("bpfswift_staging_") {
            #expect(try bpfswift("object", "unpin", dir.sub(s)).status == 0)
        }
        #expect(try bpfswift("object", "unpin", victimPath).status == 0)
        #expect(ObjectKit.eventually(15) { !Self.ccRegistered() })
        dir.remove()
    }

    // MARK: 2. staging directories squatted by another user; what a tree is published as

    @Test func aSquattedStagingDirectoryIsNeverAdopted() throws {
        let dir = try BPFFSDir("trust_squat")
        try #require(chmod(dir.path, 0o1777) == 0)
        let path = dir.sub("t")
        let squat = dir.sub("bpfswift_staging_t")
        let m = try Self.asNobody(["/bin/mkdir", "-m", "0777", squat])
        try #require(m.status == 0, "\(m.stderr)")

        let r = try ObjectKit.pin("obj_tp", path, root: dir.path)
        #expect(r.status == 1)
        #expect(r.stderr.contains("uid 65534"), "\(r.stderr)")
        #expect(!ObjectKit.exists(path))
        var st = stat()
        #expect(lstat(squat, &st) == 0 && st.st_uid == 65534 && ObjectKit.names(in: squat).isEmpty)
        // Nor removed as a leftover by unpin.
        #expect(try bpfswift("object", "unpin", squat).status == 1)
        #expect(ObjectKit.exists(squat))
        // A squatted directory inside our own leftover is refused too.
        rmdir(squat)
        #expect(try ObjectKit.pin("obj_tp", path, root: dir.path).status == 0)
        #expect(try bpfswift("object", "unpin", path).status == 0)

        // A parent others can write without the sticky bit: they could swap what we build.
        let open = dir.sub("open")
        try #require(mkdir(open, 0o777) == 0 && chmod(open, 0o777) == 0)
        let r2 = try ObjectKit.pin("obj_tp", open + "/t", root: dir.path)
        #expect(r2.status == 1)
        #expect(r2.stderr.contains("writable by other users"), "\(r2.stderr)")
        #expect(ObjectKit.names(in: open).isEmpty)
        dir.remove()
    }

    @Test(arguments: ["000", "277"])
    func treesArePublishedOwnedByRootWithPrivateModes(_ mask: String) throws {
        let dir = try BPFFSDir("trust_mode_\(mask)")
        let path = dir.sub("t")
        let r = try runProcess("/bin/sh", ["-c", "umask \(mask); exec \"$0\" \"$@\"", TestEnv.binary, "object", "pin",
                                           try Fixtures.object("obj_tp"), path, "--attach", "--pin-root", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        var checked = 0
        func walk(_ p: String) {
            var st = stat()
            guard lstat(p, &st) == 0 else { Issue.record("lstat \(p)"); return }
            #expect(st.st_uid == 0, "\(p) uid \(st.st_uid)")
            if (st.st_mode & S_IFMT) == S_IFDIR {
                #expect(st.st_mode & 0o7777 == 0o700, "\(p) mode \(String(st.st_mode & 0o7777, radix: 8))")
                for n in ObjectKit.names(in: p) { walk(p + "/" + n) }
            } else {
                #expect(st.st_mode & 0o7777 == 0o600, "\(p) mode \(String(st.st_mode & 0o7777, radix: 8))")
            }
            checked += 1
        }
        walk(path)
        #expect(checked >= 8)
        #expect(try bpfswift("object", "unpin", path).status == 0)
        dir.remove()
    }

    // MARK: 3. forged manifests

    @Test func aForgedManifestCannotReachAnotherTree() throws {
        let dir = try BPFFSDir("trust_forged")
        let victimPath = dir.sub("victim")
        let (id, _) = try Self.victim(victimPath)
        let forged = dir.sub("forged")
        try #require(mkdir(forged, 0o700) == 0 && mkdir(forged + "/links", 0o700) == 0)
        try Self.forgeManifest(at: forged + "/manifest",
                               lines: ["link ../../victim/links/trust_ca\t\(id)\tstruct_ops_map\t-\ttrust_ca"])
        let r = try bpfswift("object", "unpin", forged)
        #expect(r.status == 1)
        #expect(r.stderr.contains("not a plain name"), "\(r.stderr)")
        try Self.expectVictimIntact(victimPath, id, "after unpin of a forged tree")
        #expect(ObjectKit.names(in: forged) == ["links", "manifest"])
        // show and list do not follow it either: the forged tree is not "complete".
        let s = try bpfswift("-j", "object", "show", forged)
        #expect(s.status != 0 || !(s.stdout.contains("\"complete\":true")), "\(s.stdout)")
        #expect(try bpfswift("object", "unpin", victimPath).status == 0)
        #expect(ObjectKit.eventually(15) { !Self.ccRegistered() })
        dir.remove()
    }

    @Test func aManifestMapByNameAloneIsNoTree() throws {
        let dir = try BPFFSDir("trust_junk")
        let t = dir.sub("junk")
        try #require(mkdir(t, 0o700) == 0 && mkdir(t + "/maps", 0o700) == 0)
        let c = try bpfswift("map", "create", t + "/manifest", "type", "array", "key", "4", "value", "8",
                             "entries", "1", "name", ObjectManifest.mapName)
        try #require(c.status == 0, "\(c.stderr)")
        try #require(try bpfswift("map", "create", t + "/maps/keep", "type", "array", "key", "4", "value", "4",
                                  "entries", "1", "name", "keep").status == 0)
        let r = try bpfswift("object", "unpin", t)
        #expect(r.status == 1)
        #expect(r.stderr.contains("not an object tree"), "\(r.stderr)")
        #expect(ObjectKit.exists(t + "/maps/keep") && ObjectKit.exists(t + "/manifest"))
        dir.remove()
    }

    // MARK: 4. a symlink in links/

    @Test func aSymlinkInLinksIsUnlinkedNeverFollowed() throws {
        let dir = try BPFFSDir("trust_symlink")
        let victimPath = dir.sub("victim")
        let (id, _) = try Self.victim(victimPath)
        // A tree whose (valid) manifest records a struct_ops pin that is a symlink to the victim's.
        let t = dir.sub("liar")
        try #require(mkdir(t, 0o700) == 0 && mkdir(t + "/links", 0o700) == 0)
        try Self.forgeManifest(at: t + "/manifest", lines: ["link trust_ca\t\(id)\tstruct_ops_map\t-\ttrust_ca"])
        try #require(symlink(victimPath + "/links/trust_ca", t + "/links/trust_ca") == 0)
        // And a real tree with a symlink planted in links/, and links/ of a third swapped for a symlink.
        let real = dir.sub("real")
        try #require(try ObjectKit.pin("obj_tp", real, root: dir.path, ["--attach"]).status == 0)
        try #require(symlink(victimPath + "/links/trust_ca", real + "/links/evil") == 0)

        let s = try ObjectKit.show(t)
        #expect(s["complete"] as? Bool == false)
        #expect(try bpfswift("object", "unpin", t).status == 0)
        #expect(!ObjectKit.exists(t))
        try Self.expectVictimIntact(victimPath, id, "after unpin of a tree whose links/ holds a symlink to it")
        #expect(try bpfswift("object", "unpin", real).status == 0)
        #expect(!ObjectKit.exists(real))
        try Self.expectVictimIntact(victimPath, id, "after unpin of a real tree with a planted symlink")

        // links/ itself a symlink to the victim's links/.
        let swapped = dir.sub("swapped")
        try #require(try ObjectKit.pin("obj_rawtp", swapped, root: dir.path).status == 0)
        try #require(symlink(victimPath + "/links", swapped + "/links") == 0)
        #expect(try bpfswift("object", "unpin", swapped).status == 0)
        try Self.expectVictimIntact(victimPath, id, "after unpin of a tree whose links/ is a symlink")

        #expect(try bpfswift("object", "unpin", victimPath).status == 0)
        #expect(ObjectKit.eventually(15) { !Self.ccRegistered() })
        dir.remove()
    }

    // MARK: 6. show and list read one consistent tree

    @Test func showAndListDuringAReplaceLoopNeverSeeAHalfTree() throws {
        let dir = try BPFFSDir("trust_replace")
        let path = dir.sub("t")
        try #require(try ObjectKit.pin("obj_tp", path, root: dir.path).status == 0)
        let a = try Fixtures.object("obj_tp"), b = try Fixtures.object("obj_rawtp")
        let loop = Process()
        loop.executableURL = URL(fileURLWithPath: "/bin/sh")
        loop.arguments = ["-c", "trap 'exit 0' TERM; while :; do \"$0\" object pin \"$1\" \"$3\" --replace --pin-root \"$4\" >/dev/null 2>&1; "
                            + "\"$0\" object pin \"$2\" \"$3\" --replace --pin-root \"$4\" >/dev/null 2>&1; done",
                          TestEnv.binary, a, b, path, dir.path]
        try loop.run()
        defer { if loop.isRunning { kill(loop.processIdentifier, SIGTERM); loop.waitUntilExit() } }
        var names: [String: Int] = [:]
        var bad: [String] = []
        for i in 0..<240 {
            let r = try bpfswift("-j", "object", "show", path)
            if r.status != 0 { bad.append("show \(i): \(r.stderr)"); continue }
            let obj = try parseJSON(r.stdout) as? [String: Any]
            if obj?["complete"] as? Bool != true { bad.append("show \(i): \(r.stdout.prefix(300))") }
            names[obj?["name"] as? String ?? "?", default: 0] += 1
            if i % 4 == 0 {
                let l = try bpfswift("-j", "object", "list", dir.path)
                let items = (try? parseJSON(l.stdout) as? [[String: Any]]) ?? []
                if l.status != 0 || !items.contains(where: { $0["path"] as? String == path && $0["state"] as? String == "complete" }) {
                    bad.append("list \(i): \(l.stdout.prefix(300)) \(l.stderr)")
                }
            }
        }
        kill(loop.processIdentifier, SIGTERM)  // the loop ends after its current pin
        loop.waitUntilExit()
        #expect(bad.isEmpty, "\(bad.count) false reports: \(bad.prefix(5))")
        // The loop really replaced the tree while we read it.
        #expect((names["obj_tp"] ?? 0) > 0 && (names["obj_rawtp"] ?? 0) > 0, "\(names)")
        #expect(try bpfswift("object", "unpin", path).status == 0)
        #expect(!ObjectKit.exists(path))
        #expect(!ObjectKit.names(in: dir.path).contains { $0.hasPrefix("bpfswift_staging_") })
        dir.remove()
    }

    @Test func aStructOpsUnregisteredBehindTheTreesBackIsNotComplete() throws {
        let dir = try BPFFSDir("trust_unreg")
        let path = dir.sub("t")
        let (id, _) = try Self.victim(path)
        let u = try Bpftool.run(["struct_ops", "unregister", "id", String(id)])
        try #require(u.status == 0, "\(u.stderr)")
        #expect(ObjectKit.eventually(15) { !Self.ccRegistered() })
        let show = try ObjectKit.show(path)
        #expect(show["complete"] as? Bool == false)
        #expect((show["missing"] as? [String] ?? []).contains("links/trust_ca"))
        #expect(try ObjectKit.list(dir.path).first?["state"] as? String == "incomplete")
        #expect(try bpfswift("object", "unpin", path).status == 0)
        dir.remove()
    }

    @Test func aLinkDetachedBehindTheTreesBackIsNotComplete() throws {
        let dir = try BPFFSDir("trust_detach")
        let path = dir.sub("t")
        let r = try ObjectKit.pin("trust_cclink", path, root: nil, ["--attach"])
        try #require(r.status == 0, "\(r.stderr)")
        func registered() -> Bool { GenSkeletonRunTests.congestionControls().contains("bpfswift_trustl") }
        #expect(registered())
        let link = try #require(ObjectKit.entries(try ObjectKit.show(path), "links")["trustl_ca"])
        #expect(link["type"] as? String == "struct_ops")
        let d = try Bpftool.run(["link", "detach", "id", String(ObjectKit.id(link))])
        try #require(d.status == 0, "\(d.stderr)")
        #expect(ObjectKit.eventually(15) { !registered() })
        let show = try ObjectKit.show(path)
        #expect(show["complete"] as? Bool == false)
        #expect((show["missing"] as? [String] ?? []).contains("links/trustl_ca"))
        #expect(try bpfswift("object", "unpin", path).status == 0)
        dir.remove()
    }

    // MARK: crash windows

    @Test func aPinKilledBeforeItsLinksArePinnedLeavesNothingRunning() throws {
        let dir = try BPFFSDir("trust_kill_attach")
        let path = dir.sub("t")
        let staging = ObjectKit.staging(path)
        let bg = try ObjectKit.Background(["object", "pin", try Fixtures.object("obj_tp"), path, "--attach", "--pin-root", dir.path],
                                          env: ["BPFSWIFT_FAULT": "manifest:sleep=60"])
        try #require(bg.waitForStderr("sleeping at manifest"), "\(bg.stderrText)")
        let prog = try #require(try Bpftool.json(["prog", "show", "pinned", staging + "/programs/obj_tp_getppid"]) as? [String: Any])
        let progID = try #require(prog["id"] as? Int)
        let links = { () throws -> [Int] in
            ((try Bpftool.json(["link", "show"]) as? [[String: Any]]) ?? []).filter { $0["prog_id"] as? Int == progID }.compactMap { $0["id"] as? Int }
        }
        #expect(try links().count == 1)  // attached, held by the process only
        kill(bg.process.processIdentifier, SIGKILL)
        _ = bg.finish()
        #expect(try ObjectKit.eventually { try links().isEmpty }, "the killed run's link must die with it")
        #expect(!ObjectKit.exists(path))
        #expect(try ObjectKit.list(dir.path).first?["state"] as? String == "staging")
        let r = try bpfswift("object", "unpin", path)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!ObjectKit.exists(staging))
        dir.remove()
    }

    @Test func aPinKilledAfterPublishingSharedPinsIsCleanedUpByUnpin() throws {
        let dir = try BPFFSDir("trust_kill_shared")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let path = dir.sub("t")
        let bg = try ObjectKit.Background(["object", "pin", try Fixtures.object("obj_tp"), path, "--attach", "--pin-root", root],
                                          env: ["BPFSWIFT_FAULT": "publish:sleep=60"])
        try #require(bg.waitForStderr("sleeping at publish"), "\(bg.stderrText)")
        #expect(ObjectKit.names(in: root) == ["obj_tp_hits"])
        let link = try ObjectKit.bpftoolLink(ObjectKit.staging(path) + "/links/obj_tp_getppid")
        let linkID = try #require(link["id"] as? Int)
        kill(bg.process.processIdentifier, SIGKILL)
        _ = bg.finish()
        // Left: the staging directory (listed) and the shared pin it published.
        #expect(try ObjectKit.list(dir.path).contains { $0["state"] as? String == "staging" && $0["tree"] as? String == path })
        let r = try bpfswift("object", "unpin", path)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(ObjectKit.names(in: root).isEmpty, "the killed run's shared pin is unpublished")
        #expect(!ObjectKit.exists(ObjectKit.staging(path)))
        #expect(ObjectKit.eventually { !ObjectKit.alive(.link, linkID) })
        dir.remove()
    }

    @Test func aKilledUnpinIsFinishedByUnpin() throws {
        let dir = try BPFFSDir("trust_kill_unpin")
        let path = dir.sub("t")
        try #require(try ObjectKit.pin("obj_tp", path, root: dir.path, ["--attach"]).status == 0)
        let linkID = ObjectKit.id(ObjectKit.entries(try ObjectKit.show(path), "links")["obj_tp_getppid"])
        let bg = try ObjectKit.Background(["object", "unpin", path], env: ["BPFSWIFT_FAULT": "unpin-remove:sleep=60"])
        try #require(bg.waitForStderr("sleeping at unpin-remove"), "\(bg.stderrText)")
        kill(bg.process.processIdentifier, SIGKILL)
        _ = bg.finish()
        #expect(!ObjectKit.exists(path))
        #expect(ObjectKit.exists(ObjectKit.staging(path)))
        #expect(ObjectKit.alive(.link, linkID))
        let r = try bpfswift("object", "unpin", path)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!ObjectKit.exists(ObjectKit.staging(path)))
        #expect(ObjectKit.eventually { !ObjectKit.alive(.link, linkID) })
        #expect(try bpfswift("object", "unpin", path).status == 1)  // nothing left: ENOENT
        dir.remove()
    }

    // MARK: the rest

    @Test func aPathInsideAnotherTreeIsRefused() throws {
        let dir = try BPFFSDir("trust_nested")
        let outer = dir.sub("outer")
        try #require(try ObjectKit.pin("obj_rawtp", outer, root: dir.path).status == 0)
        try #require(mkdir(outer + "/extra", 0o700) == 0)
        for inner in [outer + "/maps/x", outer + "/extra/x"] {
            let r = try ObjectKit.pin("obj_rawtp", inner, root: dir.path)
            #expect(r.status == 1)
            #expect(r.stderr.contains("inside the object tree \(outer)"), "\(r.stderr)")
            #expect(!ObjectKit.exists(inner))
        }
        rmdir(outer + "/extra")
        #expect(try ObjectKit.show(outer)["complete"] as? Bool == true)
        #expect(try bpfswift("object", "unpin", outer).status == 0)
        dir.remove()
    }

    @Test(arguments: [239, 240, 255])
    func longNamesWork(_ length: Int) throws {
        let dir = try BPFFSDir("trust_long_\(length)")
        let path = dir.sub(String(repeating: "n", count: length))
        let r = try ObjectKit.pin("obj_tp", path, root: dir.path, ["--attach"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ObjectKit.show(path)["complete"] as? Bool == true)
        #expect(try ObjectKit.list(dir.path).contains { $0["path"] as? String == path && $0["state"] as? String == "complete" })
        #expect(try ObjectKit.pin("obj_rawtp", path, root: dir.path, ["--replace"]).status == 0)
        #expect(try bpfswift("object", "unpin", path).status == 0)
        #expect(!ObjectKit.names(in: dir.path).contains { $0.hasPrefix("bpfswift_staging_") || $0.hasPrefix("nnn") })
        dir.remove()
    }

    @Test func aHugeNonELFFileIsRefusedWithoutReadingIt() throws {
        let file = NSTemporaryDirectory() + "bpfswift_trust_big_\(getpid()).o"
        defer { unlink(file) }
        try #require(FileManager.default.createFile(atPath: file, contents: Data("not an object".utf8)))
        try #require(truncate(file, 300 << 20) == 0)
        let dir = try BPFFSDir("trust_big")
        // With 200 MB of address space, reading 300 MB cannot succeed: a clean refusal proves it was not read.
        let start = Date()
        let r = try runProcess("/bin/sh", ["-c", "ulimit -v 200000; exec \"$0\" \"$@\"", TestEnv.binary,
                                           "object", "pin", file, dir.sub("t")])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("not an ELF file"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(ObjectKit.names(in: dir.path).isEmpty)
        let i = try runProcess("/bin/sh", ["-c", "ulimit -v 200000; exec \"$0\" \"$@\"", TestEnv.binary, "object", "inspect", file])
        #expect(i.status == 1 && i.stderr.contains("not an ELF file"), "\(i.stderr)")
        let g = try runProcess("/bin/sh", ["-c", "ulimit -v 200000; exec \"$0\" \"$@\"", TestEnv.binary, "gen", "skeleton", file])
        #expect(g.status == 1 && g.stderr.contains("not an ELF file"), "\(g.stderr)")
        dir.remove()
    }

    // MARK: a kernel without openat2

    /// Without openat2(2) (kernels before 5.6; here a seccomp filter makes
    /// it answer ENOSYS, Tests/Fixtures/tools/no_openat2.c) a tree's entries
    /// are opened with openat O_NOFOLLOW: trees are still pinned, shown and
    /// removed, and a tree whose links/ was swapped for a symlink to
    /// another tree's still never reaches that tree.
    @Test func withoutOpenat2TreesWorkAndASwappedSymlinkIsStillNotFollowed() throws {
        let work = NSTemporaryDirectory() + "bpfswift_no_openat2_\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let tool = work + "/no_openat2"
        let cc = try runProcess("/usr/bin/env", ["cc", "-O2", "-o", tool, Fixtures.sourceDir + "/tools/no_openat2.c"])
        try #require(cc.status == 0, "\(cc.stderr)")
        func run(_ args: String...) throws -> ProcessResult { try runProcess(tool, [TestEnv.binary] + args) }

        let dir = try BPFFSDir("trust_no_openat2")
        let victimPath = dir.sub("victim")
        try #require(try ObjectKit.pin("obj_tp", victimPath, root: dir.path, ["--attach"]).status == 0)
        let victimLinks = ObjectKit.entries(try ObjectKit.show(victimPath), "links").mapValues { ObjectKit.id($0) }
        try #require(!victimLinks.isEmpty)

        let t = dir.sub("t")
        let p = try run("object", "pin", try Fixtures.object("obj_tp"), t, "--attach", "--pin-root", dir.path)
        #expect(p.status == 0, "\(p.stderr)")
        let s = try run("-j", "object", "show", t)
        #expect(s.status == 0, "\(s.stderr)")
        #expect((try parseJSON(s.stdout) as? [String: Any])?["complete"] as? Bool == true, "\(s.stdout)")
        #expect(try run("object", "unpin", t).status == 0)
        #expect(!ObjectKit.exists(t))

        // links/ a symlink to the victim's links/: unpin goes no further than the symlink.
        let swapped = dir.sub("swapped")
        try #require(try run("object", "pin", try Fixtures.object("obj_rawtp"), swapped, "--pin-root", dir.path).status == 0)
        try #require(symlink(victimPath + "/links", swapped + "/links") == 0)
        let u = try run("object", "unpin", swapped)
        #expect(u.status == 0, "\(u.stderr)")
        let after = try ObjectKit.show(victimPath)
        #expect(after["complete"] as? Bool == true)
        #expect(ObjectKit.entries(after, "links").mapValues { ObjectKit.id($0) } == victimLinks)

        #expect(try bpfswift("object", "unpin", victimPath).status == 0)
        dir.remove()
    }
}
