import Testing
import Foundation
@testable import BPFSwiftCLI
import BPFCore
import TestSupport

/// `Types` holds every struct, union and enum of the object's BTF, for
/// every fixture, with the C memory layout.
///
/// The layout test generates the skeleton of every fixture object, compiles
/// the skeletons with a driver that prints `MemoryLayout` size, stride and
/// alignment of every generated type and `MemoryLayout.offset(of:)` of every
/// stored member, and reads every other member (union members, bitfields,
/// members a packed struct does not align) from a byte pattern; then it
/// compares all of it with the BTF as bpftool dumps it. The package lives in
/// .build-genlayout/ (ignored by git), as GenSkeletonRunTests' does.
@Suite(.serialized) struct GenTypesTests {
    static var fixtures: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: Fixtures.buildDir)) ?? [])
            .filter { $0.hasSuffix(".bpf.o") }.sorted().map { String($0.dropLast(".bpf.o".count)) }
    }

    static let packageDir = TestEnv.packageRoot + "/.build-genlayout"

    /// The byte at `k` of the pattern the driver decodes types from.
    static func patternByte(_ k: Int) -> UInt8 { UInt8(truncatingIfNeeded: k &* 37 &+ 11) }

    /// BTF of an object, by id, as bpftool dumps it.
    struct BTFTypes {
        let byID: [Int: [String: Any]]

        init(path: String) throws {
            let json = try #require(try Bpftool.json(["btf", "dump", "file", path]) as? [String: Any])
            let types = try #require(json["types"] as? [[String: Any]])
            var m: [Int: [String: Any]] = [:]
            for t in types { if let id = t["id"] as? Int { m[id] = t } }
            byID = m
        }

        func kind(_ id: Int) -> String { byID[id]?["kind"] as? String ?? "VOID" }
        func int(_ id: Int, _ key: String) -> Int { byID[id]?[key] as? Int ?? 0 }
        func members(_ id: Int) -> [[String: Any]] { byID[id]?["members"] as? [[String: Any]] ?? [] }

        /// Typedefs and modifiers skipped.
        func resolve(_ id: Int) -> Int {
            var cur = id
            for _ in 0..<64 {
                switch kind(cur) {
                case "TYPEDEF", "VOLATILE", "CONST", "RESTRICT", "TYPE_TAG": cur = int(cur, "type_id")
                default: return cur
                }
            }
            return cur
        }

        func size(_ id: Int) -> Int {
            let r = resolve(id)
            switch kind(r) {
            case "ARRAY": return int(r, "nr_elems") * size(int(r, "type_id"))
            case "PTR": return 8
            default: return int(r, "size")
            }
        }

        /// C's alignment as BTF implies it: natural alignment, 1 for a packed struct or union.
        func cAlign(_ id: Int) -> Int {
            let r = resolve(id)
            switch kind(r) {
            case "INT", "ENUM", "ENUM64", "FLOAT": return max(1, min(16, int(r, "size")))
            case "PTR": return 8
            case "ARRAY": return cAlign(int(r, "type_id"))
            case "STRUCT", "UNION":
                let ms = members(r)
                let natural = ms.map { cAlign($0["type_id"] as? Int ?? 0) }.max() ?? 1
                let packed = int(r, "size") % natural != 0 || ms.contains { m in
                    let off = m["bits_offset"] as? Int ?? 0, t = m["type_id"] as? Int ?? 0
                    return (m["bitfield_size"] as? Int ?? 0) == 0 && size(t) > 0 && (off / 8) % cAlign(t) != 0
                }
                return packed ? 1 : natural
            default: return 1
            }
        }

        func isSigned(_ id: Int) -> Bool {
            let r = resolve(id)
            return (byID[r]?["encoding"] as? String ?? "").contains("SIGNED") && byID[r]?["encoding"] as? String != "UNSIGNED"
        }

        func isBool(_ id: Int) -> Bool { kind(resolve(id)) == "INT" && byID[resolve(id)]?["encoding"] as? String == "BOOL" }
    }

    /// What the generator made of one object.
    struct Generated {
        let fixture: String
        let skeleton: String
        let layouts: [GeneratedTypeLayout]
        let omitted: [String]
        let btf: BTFTypes
        var byID: [Int: GeneratedTypeLayout] { Dictionary(layouts.map { (Int($0.btfID), $0) }, uniquingKeysWith: { a, _ in a }) }
    }

    /// Byte offsets of C bools a decoded value normalizes to 0/1: those in
    /// stored members (raw storage keeps its bytes as they are).
    static func boolOffsets(_ id: Int, _ g: Generated) -> [Int] {
        let b = g.btf, r = b.resolve(id)
        switch b.kind(r) {
        case "INT": return b.isBool(r) ? [0] : []
        case "ARRAY":
            let e = b.int(r, "type_id"), inner = boolOffsets(e, g), es = b.size(e)
            return inner.isEmpty ? [] : (0..<b.int(r, "nr_elems")).flatMap { i in inner.map { $0 + i * es } }
        case "STRUCT":
            guard let l = g.byID[r] else { return [] }
            return zip(b.members(r), l.members).flatMap { m, gm -> [Int] in
                guard gm.form == .stored else { return [] }
                return boolOffsets(m["type_id"] as? Int ?? 0, g).map { $0 + (m["bits_offset"] as? Int ?? 0) / 8 }
            }
        default: return []
        }
    }

    /// Whether Swift gives the type its C alignment: every member stored (or a
    /// union, whose storage has it) and every member's type exact too.
    static func alignmentExact(_ id: Int, _ g: Generated, depth: Int = 0) -> Bool {
        let b = g.btf, r = b.resolve(id)
        guard depth < 32 else { return false }
        switch b.kind(r) {
        case "ARRAY": return alignmentExact(b.int(r, "type_id"), g, depth: depth + 1)
        case "UNION": return b.cAlign(r) <= 16
        case "STRUCT":
            guard let l = g.byID[r] else { return false }
            return zip(b.members(r), l.members).allSatisfy { m, gm in
                gm.form == .stored && alignmentExact(m["type_id"] as? Int ?? 0, g, depth: depth + 1)
            }
        default: return true
        }
    }

    /// The bytes a member read from the pattern must hold.
    static func expectedBytes(_ m: [String: Any], in g: Generated) -> [UInt8] {
        let typeID = m["type_id"] as? Int ?? 0
        let off = m["bits_offset"] as? Int ?? 0
        let bits = m["bitfield_size"] as? Int ?? 0
        let size = g.btf.size(typeID)
        if bits == 0 {
            var bytes = (off / 8..<off / 8 + size).map(patternByte)
            for o in boolOffsets(typeID, g) where bytes[o] > 1 { bytes[o] = 1 }
            return bytes
        }
        var v: UInt64 = 0
        for i in 0..<bits where patternByte((off + i) / 8) & (1 << UInt8((off + i) % 8)) != 0 { v |= 1 << UInt64(i) }
        if g.btf.isBool(typeID) { return [v != 0 ? 1 : 0] }
        if g.btf.isSigned(typeID) && bits < 64 && v & (1 << UInt64(bits - 1)) != 0 { v |= ~UInt64(0) << UInt64(bits) }
        return (0..<size).map { UInt8(truncatingIfNeeded: v >> UInt64($0 * 8)) }
    }

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    /// The driver's code for one object: a function per type (small functions
    /// compile fast), calls with plain arguments that print one line per fact.
    static func driver(_ g: Generated, skeletonType: String, function: String) -> String {
        var out = ""
        var calls: [String] = []
        let f = quote(g.fixture)
        for l in g.layouts {
            let fn = "\(function)_\(l.btfID)"
            calls.append("    \(fn)()")
            out += "private func \(fn)() {\n"
            out += "    typealias T = \(skeletonType).Types.\(l.swiftName)\n"
            out += "    typeFact(\(f), \(l.btfID), MemoryLayout<T>.size, MemoryLayout<T>.stride, MemoryLayout<T>.alignment)\n"
            out += "    let v = decodePattern(T.self)\n"
            out += "    fact(\"R\", \(f), \(l.btfID), -1, v.btfBytes)\n"
            for (i, m) in l.members.enumerated() {
                let name = SwiftTypeMapper.backticked(m.swiftName)
                if m.form == .stored {
                    out += "    offsetFact(\(f), \(l.btfID), \(i), MemoryLayout<T>.offset(of: \\T.\(name)))\n"
                }
                out += "    fact(\"V\", \(f), \(l.btfID), \(i), v.\(name).btfBytes)\n"
            }
            out += "}\n"
        }
        return out + "func \(function)() {\n" + calls.joined(separator: "\n") + "\n}\n"
    }

    static let driverMain = """
        // Written by GenTypesTests: prints the layout of every generated type.
        import BPFCore

        func hex(_ b: [UInt8]) -> String {
            let digits = Array("0123456789abcdef")
            return String(b.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
        }

        func typeFact(_ fixture: String, _ id: Int, _ size: Int, _ stride: Int, _ align: Int) {
            print("T " + fixture + " " + String(id) + " " + String(size) + " " + String(stride) + " " + String(align))
        }

        func offsetFact(_ fixture: String, _ id: Int, _ i: Int, _ off: Int?) {
            print("O " + fixture + " " + String(id) + " " + String(i) + " " + String(off ?? -1))
        }

        /// R (a whole value, i == -1) or V (member i): bytes in hex.
        func fact(_ kind: String, _ fixture: String, _ id: Int, _ i: Int, _ bytes: [UInt8]) {
            print(kind + " " + fixture + " " + String(id) + (i >= 0 ? " " + String(i) : "") + " " + hex(bytes))
        }

        func decodePattern<T: BTFCodable>(_ t: T.Type) -> T {
            let bytes = (0..<T.btfSize).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            return bytes.withUnsafeBytes { T(btfBytes: $0) }
        }

        """

    static func writeIfChanged(_ text: String, to path: String) throws {
        if let old = try? String(contentsOfFile: path, encoding: .utf8), old == text { return }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The skeleton without its embedded object (the driver never opens it).
    static func withoutObject(_ text: String) -> String {
        var out: [Substring] = []
        var inBlob = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == SwiftSkeletonGenerator.blobStart { inBlob = true; out.append(line); continue }
            if inBlob {
                if line == SwiftSkeletonGenerator.blobEnd { inBlob = false; out.append(line) }
                continue
            }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    @Test func everyGeneratedTypeHasTheCLayout() throws {
        let names = Self.fixtures
        try #require(names.count >= 10)
        let sources = Self.packageDir + "/Sources/GenLayout"
        try FileManager.default.createDirectory(atPath: sources, withIntermediateDirectories: true)
        var generated: [String: Generated] = [:]
        var main = Self.driverMain
        var calls: [String] = []
        var wanted = Set<String>()
        for (i, fixture) in names.enumerated() {
            let path = try Fixtures.object(fixture)
            let typeName = "Layout\(i)Skeleton"
            let g: (text: String, layouts: [GeneratedTypeLayout], omitted: [String])
            do {
                let model = try SkeletonModel.read(path: path, objectName: SkeletonNaming.objectName(fromPath: path))
                g = try SwiftSkeletonGenerator(model: model, typeName: typeName, types: .all).generateWithLayouts()
            } catch {
                // Objects the generator refuses (arena maps, clashes) are tested elsewhere; the
                // CLI must refuse them too.
                #expect(try bpfswift("gen", "skeleton", path).status != 0, "\(fixture): \(error)")
                continue
            }
            let gen = Generated(fixture: fixture, skeleton: typeName, layouts: g.layouts, omitted: g.omitted,
                                btf: try BTFTypes(path: path))
            generated[fixture] = gen
            let file = "\(sources)/\(fixture).swift"
            wanted.insert(file)
            try Self.writeIfChanged(Self.withoutObject(g.text) + "\n" + Self.driver(gen, skeletonType: typeName, function: "layout\(i)"),
                                    to: file)
            calls.append("layout\(i)()")
            // Every named struct, union and enum of the BTF is generated or left out with a reason.
            for (id, t) in gen.btf.byID.sorted(by: { $0.key < $1.key }) {
                guard let kind = t["kind"] as? String, ["STRUCT", "UNION", "ENUM", "ENUM64"].contains(kind),
                      let name = t["name"] as? String, name != "(anon)" else { continue }
                if gen.byID[id] == nil && !g.omitted.contains(where: { $0.contains(" \(name): ") }) {
                    Issue.record("\(fixture): \(kind) \(name) (BTF id \(id)) is neither in Types nor left out")
                }
            }
        }
        try #require(generated.count >= 10)
        main += calls.joined(separator: "\n") + "\n"
        try Self.writeIfChanged(main, to: sources + "/main.swift")
        for f in try FileManager.default.contentsOfDirectory(atPath: sources) where f != "main.swift" {
            if !wanted.contains("\(sources)/\(f)") { try FileManager.default.removeItem(atPath: "\(sources)/\(f)") }
        }
        let identity = URL(fileURLWithPath: TestEnv.packageRoot).lastPathComponent
        let manifest = """
            // swift-tools-version:6.0
            // Written by GenTypesTests: prints the memory layout of generated types.
            import PackageDescription

            let package = Package(
                name: "GenLayout",
                dependencies: [.package(path: "\(TestEnv.packageRoot)")],
                targets: [
                    .executableTarget(name: "GenLayout", dependencies: [.product(name: "BPFCore", package: "\(identity)")],
                                      path: "Sources/GenLayout"),
                ]
            )

            """
        try Self.writeIfChanged(manifest, to: Self.packageDir + "/Package.swift")
        let build = try runProcess("/usr/bin/env", ["swift", "build", "--disable-build-manifest-caching",
                                                    "--package-path", Self.packageDir])
        try #require(build.status == 0, "swift build of the layout package failed:\n\(build.stdout)\n\(build.stderr)")
        let run = try runProcess(Self.packageDir + "/.build/debug/GenLayout", [])
        try #require(run.status == 0 && !run.signaled, "\(run.stderr)")

        var facts: [String: String] = [:]
        for line in run.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 4).map(String.init)
            guard parts.count >= 3 else { continue }
            switch parts[0] {
            case "T", "R": facts[parts[0...2].joined(separator: " ")] = parts.dropFirst(3).joined(separator: " ")
            default: if parts.count >= 4 { facts[parts[0...3].joined(separator: " ")] = parts.dropFirst(4).joined(separator: " ") }
            }
        }

        var types = 0, offsets = 0, accessors = 0, exactAlign = 0
        for (fixture, g) in generated.sorted(by: { $0.key < $1.key }) {
            for l in g.layouts {
                let id = Int(l.btfID)
                let what = "\(fixture): \(g.btf.kind(id)) \(g.btf.byID[id]?["name"] as? String ?? "?") (Types.\(l.swiftName), BTF id \(id))"
                let size = g.btf.size(id)
                let cAlign = g.btf.cAlign(id)
                guard let t = facts["T \(fixture) \(id)"]?.split(separator: " ").compactMap({ Int($0) }), t.count == 3 else {
                    Issue.record("\(what): no layout from the driver")
                    continue
                }
                types += 1
                // An empty C struct (a GNU extension) has size 0; a Swift
                // stride is never below 1, so its size is 0 and its stride 1
                // (a member of it still takes no room: offsets use the size).
                let stride = size == 0 ? 1 : size
                #expect(t[0] == size && t[1] == stride, "\(what): MemoryLayout size \(t[0]), stride \(t[1]); BTF size \(size)")
                #expect(t[2] <= cAlign && cAlign % t[2] == 0, "\(what): Swift alignment \(t[2]), C alignment \(cAlign)")
                if Self.alignmentExact(id, g) {
                    exactAlign += 1
                    #expect(t[2] == cAlign, "\(what): Swift alignment \(t[2]), C alignment \(cAlign)")
                }
                var whole = (0..<size).map(Self.patternByte)
                for o in Self.boolOffsets(id, g) where whole[o] > 1 { whole[o] = 1 }
                #expect(facts["R \(fixture) \(id)"] == Self.hex(whole), "\(what): bytes of a decoded value")
                let ms = g.btf.members(id)
                guard ms.count == l.members.count else {
                    Issue.record("\(what): \(l.members.count) Swift members, \(ms.count) BTF members")
                    continue
                }
                for (i, (m, gm)) in zip(ms, l.members).enumerated() {
                    let mwhat = "\(what) member \(m["name"] as? String ?? "?") (\(gm.swiftName))"
                    let bitsOffset = m["bits_offset"] as? Int ?? -1
                    if gm.form == .stored {
                        offsets += 1
                        #expect((m["bitfield_size"] as? Int ?? 0) == 0, "\(mwhat): a bitfield is stored")
                        #expect(facts["O \(fixture) \(id) \(i)"] == String(bitsOffset / 8),
                                "\(mwhat): MemoryLayout.offset(of:) \(facts["O \(fixture) \(id) \(i)"] ?? "none"), BTF offset \(bitsOffset / 8)")
                    } else {
                        accessors += 1
                    }
                    #expect(facts["V \(fixture) \(id) \(i)"] == Self.hex(Self.expectedBytes(m, in: g)),
                            "\(mwhat): read from the pattern at bit \(bitsOffset)")
                }
            }
        }
        #expect(types >= 100 && offsets >= 300 && accessors >= 30,
                "types \(types), stored offsets \(offsets), accessors \(accessors)")
        #expect(exactAlign >= 50, "types with the C alignment: \(exactAlign)")
        // The layout fixture's hard cases are among them.
        let lay = try #require(generated["gen_layout"])
        let layNames = Set(lay.layouts.map(\.swiftName))
        for n in ["lay_union", "lay_bits", "lay_nested", "lay_packed", "lay_packed_aligned", "lay_aligned",
                  "lay_holds_overaligned", "lay_matrix", "lay_flex", "lay_enums", "lay_big64", "lay_with_empty"] {
            #expect(layNames.contains(n), "gen_layout: Types.\(n)")
        }
    }

    /// A `char[N]` member reads as a String and a key is built from one.
    @Test func charArraysAreStrings() throws {
        var a = try InlineArray<16, Int8>(cString: "bash", member: "comm")
        #expect(a.count == 16 && a.string == "bash" && a[4] == 0)
        a[4] = 0x21
        #expect(a.string == "bash!")
        #expect(throws: BPFError.self) { try InlineArray<16, Int8>(cString: "0123456789abcdef", member: "comm") }
        #expect(throws: BPFError.self) { try InlineArray<16, Int8>(cString: "a\u{0}b", member: "comm") }
        #expect(try InlineArray<16, Int8>(cString: "0123456789abcde").string == "0123456789abcde")
        let u = try InlineArray<4, UInt8>(cString: "hi")
        #expect(u.string == "hi" && u[2] == 0 && u[3] == 0)
        #expect(([0x68, 0x69, 0, 0x7a] as InlineArray<4, UInt8>).string == "hi")
        #expect(BTFLayout.string(a) == "bash!")
        // Arrays keep their views too.
        var b = try [Int8](cString: "bash", count: 16, member: "comm")
        #expect(b.count == 16 && b.string == "bash")
        b[4] = 0x21
        #expect(b.string == "bash!")
        #expect([UInt8]([0x68, 0x69, 0, 0x7a]).string == "hi")
    }

    /// C arrays as BTF values: element after element, nested ones too.
    @Test func inlineArraysAreBTFCodable() throws {
        let m: InlineArray<2, InlineArray<3, Int32>> = [[1, 2, 3], [4, 5, -6]]
        #expect(InlineArray<2, InlineArray<3, Int32>>.btfSize == 24)
        let bytes = m.btfBytes
        #expect(bytes.count == 24 && bytes[0] == 1 && bytes[20] == 0xfa && bytes[23] == 0xff)
        let back = try #require(InlineArray<2, InlineArray<3, Int32>>(btfBytes: bytes))
        #expect(BTFLayout.bytesEqual(back, m) && back[1][2] == -6)
        // A C bool that is neither 0 nor 1 reads as true.
        let flags = try #require(InlineArray<3, Bool>(btfBytes: [0, 2, 1]))
        #expect(!flags[0] && flags[1] && flags[2])
        struct B: BitwiseCopyable { var a: UInt8; var f: Bool }
        let v = [UInt8]([7, 9]).withUnsafeBytes { BTFLayout.load($0, as: B.self, bools: [1]) }
        #expect(v.a == 7 && v.f == true && withUnsafeBytes(of: v) { $0[1] } == 1)
    }
}
