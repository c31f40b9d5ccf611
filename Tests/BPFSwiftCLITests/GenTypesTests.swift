import Testing
import Foundation
@testable import BPFSwiftCLI
import BPFCore
import TestSupport

/// `Types` holds every struct, union and enum of the object's BTF, for
/// every fixture: each one is declared with its C name, its BTF size
/// (`btfSize`) and its members at their BTF offsets, or named on a
/// `Left out:` line with the reason.
@Suite struct GenTypesTests {
    static var fixtures: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: Fixtures.buildDir)) ?? [])
            .filter { $0.hasSuffix(".bpf.o") }.sorted().map { String($0.dropLast(".bpf.o".count)) }
    }

    @Test func everyFixtureTypeIsDeclaredAtItsBTFLayout() throws {
        let names = Self.fixtures
        try #require(names.count >= 10)
        var checkedTypes = 0
        for fixture in names {
            let path = try Fixtures.object(fixture)
            let r = runCLI(args: ["gen", "skeleton", path])
            // Objects the generator refuses (arena maps, clashes) are tested elsewhere.
            guard r.status == 0 else { continue }
            // The object owns its BTF: keep it alive while the BTF is read.
            let object = try BPFObject.open(path: path, options: ObjectOpenOptions(objectName: "gen_types"))
            defer { withExtendedLifetime(object) {} }
            guard let btf = object.btf else { continue }
            let lines = r.out.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            for id in 1..<btf.typeCount {
                guard let t = btf.type(id), !t.name.isEmpty else { continue }
                let word: String
                switch t.kind {
                case .structure: word = "struct"
                case .union: word = "union"
                case .enumeration, .enum64: word = "enum"
                default: continue
                }
                if lines.contains(where: { $0.hasPrefix("/// Left out: \(t.kind) \(t.name):") }) { continue }
                let doc = "/// `\(word) \(t.name)`: \(t.size) bytes"
                guard let at = lines.firstIndex(where: { $0.hasPrefix(doc) }) else {
                    Issue.record("\(fixture): \(word) \(t.name) (\(t.size) bytes) is not in Types")
                    continue
                }
                checkedTypes += 1
                #expect(lines[at + 2] == "public static let btfSize = \(t.size)", "\(fixture): \(word) \(t.name)")
                guard t.kind == .structure else { continue }
                // The stored members, in order, with their offsets as BTF has them.
                var got: [String] = []
                for l in lines[(at + 3)...] {
                    if l.isEmpty || l.hasPrefix("public init") { break }
                    if let r = l.range(of: "  // ") { got.append(String(l[r.upperBound...])) }
                }
                let want = t.members.map { m in
                    m.bitfieldSize != 0 ? "bits \(m.bitOffset)..<\(m.bitOffset + m.bitfieldSize)" : "offset \(m.bitOffset / 8)"
                }
                #expect(got == want, "\(fixture): struct \(t.name)")
            }
        }
        #expect(checkedTypes >= 20, "types checked: \(checkedTypes)")
    }

    /// A `char[N]` member reads as a String and a key is built from one.
    @Test func charArraysAreStrings() throws {
        var a = try [Int8](cString: "bash", count: 16, member: "comm")
        #expect(a.count == 16 && a.string == "bash" && a[4] == 0)
        a[4] = 0x21
        #expect(a.string == "bash!")
        #expect(throws: BPFError.self) { try [Int8](cString: "0123456789abcdef", count: 16, member: "comm") }
        #expect(try [Int8](cString: "0123456789abcde", count: 16).string == "0123456789abcde")
        #expect([UInt8]([0x68, 0x69, 0, 0x7a]).string == "hi")
    }
}
