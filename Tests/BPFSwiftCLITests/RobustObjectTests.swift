import Foundation
import Testing
import TestSupport

/// Hundreds of corrupted and truncated objects, made deterministically from
/// the fixtures (truncations; bit flips and bad values in the ELF header, the
/// section table, the BTF and BTF.ext headers and their contents, symbols
/// and relocations), through `object inspect` (text and JSON), `gen skeleton`
/// (Swift and C) and `object pin` (with and without --attach): no signal, exit 0 or 1, a
/// failure says why in one line, and nothing is left on bpffs (no tree, no
/// staging directory, no new by-name pin under the --pin-root given).
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct RobustObjectTests {
    /// SplitMix64: the same mutants on every run.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    }

    struct Mutant {
        var label: String
        var bytes: [UInt8]
    }

    static func put(_ b: inout [UInt8], _ offset: Int, _ value: UInt64, width: Int) {
        guard offset >= 0, offset + width <= b.count else { return }
        for i in 0..<width { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    static func u32(_ b: [UInt8], _ o: Int) -> Int { (0..<4).reduce(0) { $0 | Int(b[o + $1]) << (8 * $1) } }

    /// The mutants of one fixture.
    /// `full`: every kind of mutation; else truncations, the BTF and random flips only.
    static func mutants(of name: String, _ original: [UInt8], seed: UInt64, full: Bool) throws -> [Mutant] {
        let elf = try TestELF(original)
        var out: [Mutant] = []
        func add(_ label: String, _ change: (inout [UInt8]) -> Void) {
            var b = original
            change(&b)
            if b != original { out.append(Mutant(label: "\(name): \(label)", bytes: b)) }
        }
        let n = original.count
        // The sections libbpf and our readers look at: BTF, maps, symbols, the
        // first program section and its relocations, global data, struct_ops.
        var interesting = elf.sections.filter {
            [".BTF", ".BTF.ext", ".maps", ".symtab", ".strtab", "license", ".rodata", ".bss",
             ".struct_ops", ".struct_ops.link"].contains($0.name)
        }
        if let prog = elf.sections.first(where: { $0.name.contains("/") || $0.name == "struct_ops" }) {
            interesting.append(prog)
            if let rel = elf.sections.first(where: { $0.type == 9 && $0.name == ".rel" + prog.name }) { interesting.append(rel) }
        }

        // Truncations: the header, the section table, and into every interesting section.
        var cuts: Set<Int> = [0, 1, 16, 63, 64, 65, n / 4, n / 2, 3 * n / 4, n - 1,
                              elf.shoff, elf.shoff + 1, elf.shoff + 64 * (elf.shnum / 2)]
        for s in interesting where s.size > 0 { cuts.insert(s.offset); cuts.insert(s.offset + s.size / 2) }
        for c in cuts.sorted() where c >= 0 && c < n {
            out.append(Mutant(label: "\(name): truncated to \(c) bytes", bytes: Array(original[0..<c])))
        }

        var rng = Random(state: seed)
        if full {
        // The ELF header.
        add("class 32-bit") { $0[4] = 1 }
        add("big endian") { $0[5] = 2 }
        add("e_machine x86") { put(&$0, 0x12, 62, width: 2) }
        add("e_type EXEC") { put(&$0, 0x10, 2, width: 2) }
        for (v, what) in [(0, "0"), (UInt64(n), "the end"), (UInt64(n - 10), "near the end"), (UInt64.max, "max"),
                          (UInt64(elf.shoff + 1), "misaligned")] as [(UInt64, String)] {
            add("e_shoff \(what)") { put(&$0, 0x28, v, width: 8) }
        }
        for v in [0, 1, elf.shnum + 1, elf.shnum - 1, 0xffff] {
            add("e_shnum \(v)") { put(&$0, 0x3c, UInt64(v), width: 2) }
        }
        for v in [0, elf.shnum, 0xffff, 1] {
            add("e_shstrndx \(v)") { put(&$0, 0x3e, UInt64(v), width: 2) }
        }
        for v in [0, 32, 65, 128] {
            add("e_shentsize \(v)") { put(&$0, 0x3a, UInt64(v), width: 2) }
        }

        // Section headers of the interesting sections.
        for s in interesting {
            let h = s.headerOffset
            for (v, what) in [(UInt64(n), "at the end"), (UInt64.max - 7, "huge"),
                              (UInt64(s.offset + 3), "shifted")] as [(UInt64, String)] {
                add("\(s.name) sh_offset \(what)") { put(&$0, h + 24, v, width: 8) }
            }
            for (v, what) in [(0, "zero"), (UInt64(s.size + 1), "one more"), (UInt64.max, "max")] as [(UInt64, String)] {
                add("\(s.name) sh_size \(what)") { put(&$0, h + 32, v, width: 8) }
            }
            for (v, what) in [(8, "NOBITS"), (9, "REL"), (2, "SYMTAB")] {
                add("\(s.name) sh_type \(what)") { put(&$0, h + 4, UInt64(v), width: 4) }
            }
            // NOBITS sections have no bytes in the file, so nothing checks where they claim to lie.
            add("\(s.name) NOBITS at a huge offset") { put(&$0, h + 4, 8, width: 4); put(&$0, h + 24, UInt64.max - 15, width: 8) }
            add("\(s.name) NOBITS, huge offset and size") {
                put(&$0, h + 4, 8, width: 4); put(&$0, h + 24, UInt64.max - 15, width: 8); put(&$0, h + 32, UInt64.max - 15, width: 8)
            }
            add("\(s.name) sh_link bogus") { put(&$0, h + 40, 0xffff, width: 4) }
            add("\(s.name) sh_info bogus") { put(&$0, h + 44, 0xfff0, width: 4) }
            add("\(s.name) name past the table") { put(&$0, h, 0xffff_fff0, width: 4) }
        }

        }
        // The BTF header and contents.
        if let btf = elf.sections.first(where: { $0.name == ".BTF" }), btf.size >= 24 {
            let o = btf.offset
            let hdrLen = u32(original, o + 4)
            add("BTF magic") { $0[o] ^= 0xff }
            add("BTF version 2") { $0[o + 2] = 2 }
            add("BTF flags") { $0[o + 3] = 0x80 }
            for v in [0, 1, 23, 0xffff_ffff, btf.size] {
                add("BTF hdr_len \(v)") { put(&$0, o + 4, UInt64(v), width: 4) }
            }
            for (field, at) in [("type_off", 8), ("type_len", 12), ("str_off", 16), ("str_len", 20)] {
                let cur = u32(original, o + at)
                for v in [0, cur + 1, cur + 4096, 0xffff_fff0, cur / 2] {
                    add("BTF \(field) \(v)") { put(&$0, o + at, UInt64(v), width: 4) }
                }
            }
            let typeStart = o + hdrLen + u32(original, o + 8)
            let typeLen = u32(original, o + 12)
            let strStart = o + hdrLen + u32(original, o + 16)
            let strLen = u32(original, o + 20)
            for i in 0..<30 where typeLen > 0 {
                let flips = 1 + rng.below(4)
                var positions: [Int] = []
                for _ in 0..<flips { positions.append(typeStart + rng.below(typeLen)) }
                let bits = (0..<flips).map { _ in UInt8(1) << UInt8(rng.below(8)) }
                add("BTF types flip \(i) at \(positions)") { b in for (p, m) in zip(positions, bits) { b[p] ^= m } }
            }
            for i in 0..<12 where typeLen >= 4 {
                // A whole word set to an extreme: counts, sizes, type ids.
                let p = typeStart + (rng.below(typeLen / 4) * 4)
                let v: UInt64 = [0xffff_ffff, 0x8000_0000, 0, 0x0fff_ffff, 1][rng.below(5)]
                add("BTF types word \(i) at \(p) = \(v)") { put(&$0, p, v, width: 4) }
            }
            for i in 0..<8 where strLen > 0 {
                let p = strStart + rng.below(strLen)
                let v = UInt8(truncatingIfNeeded: rng.next())
                add("BTF strings byte \(i) at \(p)") { $0[p] = v }
            }
        }
        if let ext = elf.sections.first(where: { $0.name == ".BTF.ext" }), ext.size >= 32 {
            let o = ext.offset
            add("BTF.ext magic") { $0[o] ^= 0xff }
            for v in [0, 1, 0xffff_ffff] { add("BTF.ext hdr_len \(v)") { put(&$0, o + 4, UInt64(v), width: 4) } }
            for at in [8, 12, 16, 20, 24, 28] {
                add("BTF.ext word \(at) huge") { put(&$0, o + at, 0xffff_fff0, width: 4) }
            }
            for i in 0..<10 {
                let p = o + 32 + rng.below(max(ext.size - 32, 1))
                let m = UInt8(1) << UInt8(rng.below(8))
                add("BTF.ext flip \(i) at \(p)") { $0[p] ^= m }
            }
        }

        if full {
        // Symbols and relocations.
        if let symtab = elf.sections.first(where: { $0.type == 2 }) {
            let count = symtab.size / 24
            for i in 0..<min(count, 6) {
                let e = symtab.offset + i * 24
                add("symbol \(i) st_shndx bogus") { put(&$0, e + 6, 0xfff0, width: 2) }
                add("symbol \(i) st_value huge") { put(&$0, e + 8, 0xffff_ffff_ffff_0000, width: 8) }
                add("symbol \(i) st_name past the table") { put(&$0, e, 0xffff_ff00, width: 4) }
            }
        }
        for rel in elf.sections.filter({ $0.type == 9 && !$0.name.contains("debug") }).prefix(2) {
            for i in 0..<min(rel.size / 16, 2) {
                let e = rel.offset + i * 16
                add("\(rel.name) entry \(i) symbol huge") { put(&$0, e + 12, 0xffff_fff0, width: 4) }
                add("\(rel.name) entry \(i) offset huge") { put(&$0, e, 0xffff_ffff_0000_0000, width: 8) }
                add("\(rel.name) entry \(i) offset odd") { put(&$0, e, 3, width: 8) }
            }
        }

        }
        // Anywhere.
        for i in 0..<25 {
            let flips = 1 + rng.below(8)
            let positions = (0..<flips).map { _ in rng.below(n) }
            let bits = (0..<flips).map { _ in UInt8(1) << UInt8(rng.below(8)) }
            add("random flips \(i)") { b in for (p, m) in zip(positions, bits) { b[p] ^= m } }
        }
        return out
    }

    static let fixtures: [(name: String, seed: UInt64, full: Bool)] = [
        ("counter", 1, true), ("rob_struct_ops", 2, false), ("obj_shared_a", 3, false), ("meta_kinds", 4, false),
        ("map_types", 5, false),
    ]

    @Test func corruptedObjectsFailCleanlyAndLeaveNothing() throws {
        let work = try Robust.tempDirectory("mutants")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let root = try BPFFSDir("rob_mutants")
        defer { root.remove() }

        var all: [Mutant] = []
        for f in Self.fixtures {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try Fixtures.object(f.name))))
            let made = try Self.mutants(of: f.name, bytes, seed: f.seed, full: f.full)
            // The other fixtures add their BTF and layout: every second of their mutants is enough.
            all += f.full ? made : made.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        }
        #expect(all.count >= 400, "\(all.count) mutants")

        // Every command runs in one harness process. Per mutant: inspect, gen
        // skeleton, pin (with its own pin root; every third with --attach) and
        // unpin (which fails when the pin did); every third also inspect -j
        // and gen skeleton --lang c.
        enum Kind: String { case inspect, inspectJSON = "inspect -j", skeleton, skeletonC = "skeleton c", pin, unpin }
        var batch = CommandBatch()
        batch.limitOutput(to: 4096)   // skeletons embed the object: their text is not what is checked
        var files: [String] = []
        var commands: [(mutant: Int, kind: Kind)] = []
        for (i, m) in all.enumerated() {
            let file = "\(work)/m\(i).bpf.o"
            try Data(m.bytes).write(to: URL(fileURLWithPath: file))
            files.append(file)
            try FileManager.default.createDirectory(atPath: root.sub("r\(i)"), withIntermediateDirectories: false)
            func add(_ k: Kind, _ args: [String]) { batch.add(args); commands.append((i, k)) }
            add(.inspect, ["object", "inspect", file])
            add(.skeleton, ["gen", "skeleton", file])
            if i % 3 == 0 {
                add(.inspectJSON, ["-j", "object", "inspect", file])
                add(.skeletonC, ["gen", "skeleton", file, "--lang", "c"])
            }
            add(.pin, ["object", "pin", file, root.sub("t\(i)"), "--pin-root", root.sub("r\(i)")] + (i % 3 == 0 ? ["--attach"] : []))
            add(.unpin, ["object", "unpin", root.sub("t\(i)")])
        }
        let (results, process) = try batch.run(timeout: 1200)
        #expect(!process.signaled && !process.timedOut && process.status == 0,
                "the harness died at command \(results.count) (\(results.count < commands.count ? all[commands[results.count].mutant].label : "?")): \(process.summary)")
        try #require(results.count == batch.count)

        var pinned = 0, refused = 0
        var pinStatus: [Int: Int32] = [:], inspectStatus: [Int: Int32] = [:]
        var micros: [String: Int] = [:]
        for (x, c) in zip(results, commands) {
            let m = all[c.mutant]
            micros[c.kind.rawValue, default: 0] += x.micros
            #expect(x.status == 0 || x.status == 1, "\(m.label): \(x.args) exit \(x.status)")
            if x.status != 0 {
                #expect(Robust.isOneLineError(x.err), "\(m.label): \(x.args) \(x.err)")
            }
            #expect(x.leaked.isEmpty, "\(m.label): \(x.args) left descriptors open: \(x.leaked)")
            switch c.kind {
            case .inspectJSON where x.status == 1:
                let o = try? JSONSerialization.jsonObject(with: Data(x.out.utf8)) as? [String: Any]
                #expect((o?["error"] as? String)?.isEmpty == false, "\(m.label): -j error \(x.out)")
            case .inspect:
                inspectStatus[c.mutant] = x.status
            case .pin:
                pinStatus[c.mutant] = x.status
                if x.status == 0 { pinned += 1 } else { refused += 1 }
            case .unpin:
                if pinStatus[c.mutant] == 0 {
                    #expect(x.status == 0, "\(m.label): unpin after a good pin: \(x.err)")
                } else {
                    #expect(Robust.listTree(root.sub("r\(c.mutant)")).isEmpty,
                            "\(m.label): a failed pin left by-name pins: \(Robust.listTree(root.sub("r\(c.mutant)")))")
                }
            default:
                break
            }
        }
        // Where the time goes (for whoever tunes this test's size).
        print("RobustObjectTests: \(all.count) mutants, \(pinned) pinned, \(refused) refused; ms per command kind: \(micros.mapValues { $0 / 1000 })")
        // Nothing else anywhere: no tree, no staging directory.
        let left = Robust.listTree(root.path).filter { !$0.hasPrefix("r") }
        #expect(left.isEmpty, "left on bpffs: \(left.prefix(20))")
        #expect(refused >= 150, "\(refused) refused, \(pinned) pinned")

        // The real binary on a sample: same statuses, no signal.
        for i in stride(from: 0, to: all.count, by: 23) {
            let r = try Robust.bpfswift(["object", "inspect", files[i]], timeout: 60)
            #expect(!r.signaled && !r.timedOut && r.status == inspectStatus[i],
                    "\(all[i].label): \(r.summary)")
            if r.status != 0 { #expect(Robust.isOneLineError(r.stderr), "\(all[i].label): \(r.stderr)") }
        }
    }
}
