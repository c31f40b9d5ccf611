import Testing
import Foundation
@testable import BPFSwiftCLI
import BPFCore
import TestSupport

/// Names from a hostile object file through `gen skeleton`: gen_hostile.bpf.o
/// has 64-byte placeholder names (map, program, globals, struct, member,
/// enum, enumerator, .data.* section) that these tests overwrite in the
/// compiled bytes, as an attacker would, with names holding newlines,
/// quotes, backslashes, `*/`, `}}` and invalid UTF-8.
@Suite struct GenHostileNameTests {
    static let issueName = Array("\n}}\nlet pwned = system(\"id\")\n".utf8)

    static func placeholder(_ i: Int) -> [UInt8] {
        let head = Array("HOSTILE\(i)_".utf8)
        return head + [UInt8](repeating: UInt8(ascii: "Q"), count: 64 - head.count)
    }

    /// The fixture with every placeholder replaced by `names[i]` (NUL-padded).
    static func patched(_ names: [[UInt8]]) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try Fixtures.object("gen_hostile"))))
        var replaced = 0
        for (i, name) in names.enumerated() {
            let p = placeholder(i), padded = name + [UInt8](repeating: 0, count: 64 - name.count)
            var j = 0
            while j + 64 <= bytes.count {
                if bytes[j..<j + 64].elementsEqual(p) { bytes.replaceSubrange(j..<j + 64, with: padded); replaced += 1; j += 64 } else { j += 1 }
            }
        }
        #expect(replaced >= 2 * names.count, "every name patched (string table and BTF)")
        let dir = try Robust.tempDirectory("gen-hostile")
        let path = dir + "/hostile.bpf.o"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The issue's name in every slot: the generated code holds it only
    /// escaped (in strings, in one-line comments) and sanitized (identifiers);
    /// no line of either skeleton is the injected statement.
    @Test func newlineInjectionIsEscaped() throws {
        let path = try Self.patched(Array(repeating: Self.issueName, count: 9))
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let swift = runCLI(args: ["gen", "skeleton", path])
        #expect(swift.status == 0, "\(swift.err)")
        let c = runCLI(args: ["gen", "skeleton", path, "--lang", "c"])
        #expect(c.status == 0, "\(c.err)")
        for text in [swift.out, c.out] {
            let lines = text.components(separatedBy: "\n")
            #expect(!lines.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("let pwned") })
            #expect(!lines.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("}}") })
        }
        #expect(swift.out.contains(#"try s.map("\n}}\nlet pwned = system(\"id\")\n", key: UInt32.btfCodec"#))
        #expect(swift.out.contains("/// map \\u{a}}}\\u{a}let pwned = system(\"id\")\\u{a}\n"))
        #expect(swift.out.contains("public let ____let_pwned___system__id___: SkeletonTypedMap<UInt32,"))
        #expect(c.out.contains(#"s->maps[0].name = "\012}}\012let pwned = system(\"id\")\012";"#))
        #expect(c.out.contains("struct bpf_map *____let_pwned___system__id___;"))
    }

    /// Names that sanitize to the same identifier stay apart (`_2`), keywords
    /// and digits make identifiers, and equal C names in one scope are an error.
    @Test func identifiersAreValidAndDistinct() throws {
        let names = ["x-y", "class", "x_y", "1abc", "init", "self", "hostile-other", "x.y", "int"].map { Array($0.utf8) }
        let path = try Self.patched(names)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let swift = runCLI(args: ["gen", "skeleton", path])
        #expect(swift.status == 0, "\(swift.err)")
        #expect(swift.out.contains("public let x_y: SkeletonTypedMap<UInt32, Types._1abc>"))  // map x-y; struct 1abc
        #expect(swift.out.contains("public let `class`: ObjectProgram"))
        #expect(swift.out.contains("public var x_y: UInt64 {"))  // global x_y keeps its name
        #expect(swift.out.contains("public var init_: UInt64  // offset 0"))  // member init
        #expect(swift.out.contains("public var kind: Types.self_  // offset 8"))  // enum self
        #expect(swift.out.contains("public static let hostile_other_2 = self_(rawValue: 1)"))
        #expect(swift.out.contains("public static let hostile_other = self_(rawValue: 2)"))
        let c = runCLI(args: ["gen", "skeleton", path, "--lang", "c"])
        #expect(c.status == 0, "\(c.err)")
        #expect(c.out.contains("struct bpf_program *class_;"))
        #expect(c.out.contains("} *data_int;"))
    }

    /// The fuzz harness's `gen` target over the committed hostile-name inputs
    /// (Tests/FuzzCorpus/gen): each skeleton parses (`swiftc -dump-parse`,
    /// `cc -fsyntax-only`) to the same structure as the placeholder object's.
    @Test func hostileCorpusParsesToTheSameStructure() throws {
        let dir = FuzzCorpusTests.corpusRoot + "/gen"
        let count = FuzzCorpusTests.inputs("gen").count
        #expect(count >= 8)
        let object = try Fixtures.object("gen_hostile")
        let r = try Robust.run(Robust.harness, ["replay", "gen", dir], timeout: 600,
                               environment: ["BPFSWIFT_GEN_OBJECT": object])
        #expect(r.status == 0 && !r.signaled && !r.timedOut, "\(r.summary)")
        #expect(r.stdout.contains("replayed \(count) inputs through gen"), "\(r.summary)")
    }

    /// Text output escapes control characters in names from the object (a
    /// newline would forge a line, an ESC would drive the terminal); JSON
    /// carries the names exactly, escaped by the JSON writer.
    @Test func objectInspectEscapesControlCharacters() throws {
        let evil = "\u{1b}[31mred\nmaps:\tforged"
        let path = try Self.patched([Array(evil.utf8), Array(("p" + evil).utf8)])
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let text = runCLI(args: ["object", "inspect", path])
        #expect(text.status == 0, "\(text.err)")
        #expect(!text.out.contains("\u{1b}"), "no raw ESC")
        #expect(!text.out.contains("forged\n") && !text.out.contains("\tforged"), "no raw newline or tab from a name")
        #expect(text.out.contains("\t\\x1b[31mred\\nmaps:\\tforged  hash"), "\(text.out)")
        #expect(text.out.contains("\tp\\x1b[31mred\\nmaps:\\tforged  tracepoint"), "\(text.out)")
        #expect(text.out.components(separatedBy: "\n").filter { $0 == "maps:" }.count == 1)

        let json = runCLI(args: ["-j", "object", "inspect", path])
        #expect(json.status == 0, "\(json.err)")
        let doc = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
        let maps = doc?["maps"] as? [[String: Any]] ?? []
        #expect(maps.contains { $0["name"] as? String == evil }, "\(json.out)")
    }
}
