import Testing
import Foundation
import BPFCore
import TestSupport

/// Docs/object-json.md promises stable keys: the documented tables and the
/// JSON the commands print must name exactly the same keys.
@Suite struct ObjectJSONDocTests {
    /// The `key` column of each table, by the heading above it
    /// ("## `object show PATH`" → top level; a "`maps[]`:" line → that array's table).
    static func documentedKeys() throws -> [String: [String]] {
        let text = try String(contentsOfFile: TestEnv.packageRoot + "/Docs/object-json.md", encoding: .utf8)
        var out: [String: [String]] = [:]
        var section = "", table = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") { section = String(line.dropFirst(3)); table = section; continue }
            if line.hasPrefix("`"), line.hasSuffix("[]`:") { table = section + " " + line.dropFirst().dropLast(4); continue }
            guard line.hasPrefix("| `") else { continue }
            let cell = line.dropFirst(3).prefix { $0 != "`" }
            out[table, default: []].append(String(cell))
        }
        return out
    }

    static func keys(_ o: Any?) -> Set<String> { Set((o as? [String: Any])?.keys.map { $0 } ?? []) }

    @Test func inspectKeysAreDocumented() throws {
        let doc = try Self.documentedKeys()
        let r = try bpfswift("-j", "object", "inspect", try Fixtures.object("obj_cclink"))
        let d = try #require(try parseJSON(r.stdout) as? [String: Any])
        #expect(Self.keys(d) == Set(try #require(doc["`object inspect OBJ`"])))
    }

    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func showListAndPinKeysAreDocumented() throws {
        let doc = try Self.documentedKeys()
        let dir = try BPFFSDir("obj_doc")
        let path = dir.sub("t")
        let pin = try ObjectKit.pin("counter", path, root: nil, ["--attach"], json: true)
        try #require(pin.status == 0, "\(pin.stderr)")
        let pinned = try #require(try parseJSON(pin.stdout) as? [String: Any])
        let show = try ObjectKit.show(path)
        let showDoc = "`object show PATH`"
        #expect(Self.keys(show) == Set(try #require(doc[showDoc])))
        #expect(Self.keys(pinned) == Self.keys(show).union(try #require(doc["`object pin -j OBJ PATH ...`"])))
        for array in ["maps", "programs", "links"] {
            let items = try #require(show[array] as? [[String: Any]])
            #expect(!items.isEmpty)
            for item in items { #expect(Self.keys(item) == Set(try #require(doc[showDoc + " " + array])), "\(array)") }
        }
        let list = try ObjectKit.list(dir.path)
        #expect(Self.keys(list.first) == Set(try #require(doc["`object list [ROOT]`"])))
        #expect(try bpfswift("object", "unpin", path).status == 0)
        dir.remove()
    }
}
