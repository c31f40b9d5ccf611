import Foundation
import Testing
import BPFCore
import TestSupport

/// `object pin --attach` with struct_ops variants: the maps created are
/// registered (suffixed local types, `?.struct_ops` only when enabled), their
/// registrations pinned under PATH/links/<map name>, programs that only
/// skipped maps use are neither loaded nor pinned, duplicate names are
/// refused before load, and `object unpin` unregisters.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (see TestEnv.bpfUnavailableReason)"))
struct StructOpsObjectPinTests {
    /// `object show -j PATH`: names of the maps, programs and links, with their ids.
    static func tree(_ path: String) throws -> (maps: [String: UInt32], programs: [String: UInt32], links: [String: [String: Any]]) {
        let r = try bpfswift("-j", "object", "show", path)
        guard r.status == 0, let o = try parseJSON(r.stdout) as? [String: Any] else {
            throw TestFailure("object show \(path): \(r.stdout)\(r.stderr)")
        }
        func ids(_ key: String) -> [String: UInt32] {
            var out: [String: UInt32] = [:]
            for e in o[key] as? [[String: Any]] ?? [] {
                if let n = e["name"] as? String { out[n] = (e["id"] as? NSNumber)?.uint32Value ?? 0 }
            }
            return out
        }
        var links: [String: [String: Any]] = [:]
        for e in o["links"] as? [[String: Any]] ?? [] {
            if let n = e["name"] as? String { links[n] = e }
        }
        return (ids("maps"), ids("programs"), links)
    }

    static func eventually(_ cond: () -> Bool) -> Bool {
        for _ in 0..<250 {
            if cond() { return true }
            usleep(20_000)
        }
        return cond()
    }

    @Test func defaultSelectionRegistersAndUnpinUnregisters() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_objpin")
        defer { fx.cleanUp(); dir.remove() }
        let path = dir.sub("t")

        let r = try bpfswift("object", "pin", fx.path, path, "--attach")
        try #require(r.status == 0, "\(r.stderr)")
        let names = TaggedStructOps.available()
        #expect(names.contains(fx.name("sopsL_")) && names.contains(fx.name("sopsP_")), "\(names)")
        #expect(!names.contains(fx.name("sopsO_")))

        let t = try Self.tree(path)
        #expect(Set(t.maps.keys) == ["sv_link", "sv_plain"])
        #expect(Set(t.programs.keys) == ["sv_ssthresh", "sv_cong_avoid", "sv_undo_cwnd"])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: path + "/links")) == ["sv_link", "sv_plain"])
        // links/sv_link: a struct_ops link holding the map of the suffixed type;
        // links/sv_plain: the map itself (registered without a link).
        let link = try KernelLink.open(pinned: path + "/links/sv_link").info()
        guard case .structOps(let mapID) = link.details else { Issue.record("not a struct_ops link: \(link)"); return }
        #expect(mapID.rawValue == t.maps["sv_link"])
        let plainPin = try Kernel.openPinned(path + "/links/sv_plain", as: .map)
        #expect(try Kernel.id(of: plainPin) == t.maps["sv_plain"])
        let shown = try #require(try parseJSON(try bpfswift("-j", "struct_ops", "show", "id", String(mapID.rawValue)).stdout) as? [[String: Any]])
        #expect(shown.first?["kernel_struct_ops"] as? String == "tcp_congestion_ops")

        #expect(try bpfswift("object", "unpin", path).status == 0)
        #expect(Self.eventually { TaggedStructOps.available().isDisjoint(with: [fx.name("sopsL_"), fx.name("sopsP_")]) })
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func enableAndDisableChooseWhatRegisters() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_objpin_sel")
        defer { fx.cleanUp(); dir.remove() }
        let path = dir.sub("t")

        let r = try bpfswift("object", "pin", fx.path, path, "--attach", "--enable", "sv_opt", "--disable", "sv_plain")
        try #require(r.status == 0, "\(r.stderr)")
        let names = TaggedStructOps.available()
        #expect(names.contains(fx.name("sopsL_")) && names.contains(fx.name("sopsO_")), "\(names)")
        #expect(!names.contains(fx.name("sopsP_")))
        let t = try Self.tree(path)
        #expect(Set(t.maps.keys) == ["sv_link", "sv_opt"])
        #expect(Set(t.programs.keys) == ["sv_ssthresh", "sv_cong_avoid", "sv_undo_cwnd", "sv_opt_undo"])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: path + "/links")) == ["sv_link", "sv_opt"])

        // One sv_ssthresh, shared: both registered values point at the pinned program.
        for map in ["sv_link", "sv_opt"] {
            let id = try #require(t.maps[map])
            let dump = try #require(try parseJSON(try bpfswift("-j", "struct_ops", "dump", "id", String(id)).stdout) as? [[String: Any]])
            let data = try #require((dump.last?["bpf_struct_ops_tcp_congestion_ops"] as? [String: Any])?["data"] as? [String: Any])
            #expect(data["ssthresh"] as? String == "u32 (struct sock *) sv_ssthresh/prog_id:\(t.programs["sv_ssthresh"] ?? 0)")
        }

        #expect(try bpfswift("object", "unpin", path).status == 0)
        #expect(Self.eventually { TaggedStructOps.available().isDisjoint(with: [fx.name("sopsL_"), fx.name("sopsO_")]) })
    }

    @Test func duplicateNamesAreRefusedBeforeLoad() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_objpin_dup")
        defer { fx.cleanUp(); dir.remove() }
        let path = dir.sub("t")

        let r = try bpfswift("-d", "object", "pin", fx.path, path, "--attach", "--enable", "sv_dup")
        #expect(r.status == 1)
        #expect(r.stderr.contains("Error: struct_ops maps sv_plain and sv_dup would both register tcp_congestion_ops \"\(fx.name("sopsP_"))\""))
        #expect(!r.stderr.contains("created successfully"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        #expect(TaggedStructOps.available().isDisjoint(with: [fx.name("sopsL_"), fx.name("sopsP_")]))
        // Without --attach nothing registers: the same selection loads and pins.
        let plain = try bpfswift("object", "pin", fx.path, path, "--enable", "sv_dup")
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(TaggedStructOps.available().isDisjoint(with: [fx.name("sopsL_"), fx.name("sopsP_")]))
        #expect(try bpfswift("object", "unpin", path).status == 0)
    }

    /// `struct_ops unregister` of a map an object tree registered: the tree's
    /// link pin goes with the registration (`object show` says what is
    /// missing), and `object unpin` still removes the rest.
    @Test func unregisterInsideAnObjectTree() throws {
        let fx = try TaggedStructOps("sops_variants")
        let dir = try BPFFSDir("sops_objpin_unreg")
        defer { fx.cleanUp(); dir.remove() }
        let path = dir.sub("t")

        try #require(try bpfswift("object", "pin", fx.path, path, "--attach").status == 0)
        let t = try Self.tree(path)
        for map in ["sv_link", "sv_plain"] {
            let u = try bpfswift("struct_ops", "unregister", "id", String(try #require(t.maps[map])))
            #expect(u.status == 0, "\(u.stderr)")
        }
        #expect(TaggedStructOps.available().isDisjoint(with: [fx.name("sopsL_"), fx.name("sopsP_")]))
        #expect(!FileManager.default.fileExists(atPath: path + "/links/sv_link"))
        let show = try bpfswift("object", "show", path)
        #expect(show.stdout.contains("links/sv_link") && show.stdout.contains("MISSING"))
        #expect(try bpfswift("object", "unpin", path).status == 0)
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
