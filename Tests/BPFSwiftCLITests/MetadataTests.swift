import Testing
import Foundation
import BPFCore
@testable import BPFSwiftCLI
import TestSupport

/// The keys of the JSON object that starts right after `marker`, in order.
func topLevelKeys(after marker: String, in s: String) -> [String] {
    guard let r = s.range(of: marker) else { return [] }
    let b = Array(s[r.upperBound...].utf8)
    var keys: [String] = []
    var depth = 0, i = 0
    while i < b.count {
        let c = b[i]
        if c == UInt8(ascii: "\"") {
            var j = i + 1
            var str: [UInt8] = []
            while j < b.count && b[j] != UInt8(ascii: "\"") {
                if b[j] == UInt8(ascii: "\\") { j += 1 }
                if j < b.count { str.append(b[j]) }
                j += 1
            }
            var k = j + 1
            while k < b.count && (b[k] == 32 || b[k] == 10) { k += 1 }
            if depth == 0 && k < b.count && b[k] == UInt8(ascii: ":") { keys.append(String(decoding: str, as: UTF8.self)) }
            i = j + 1
            continue
        }
        if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
            depth += 1
        } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
            if depth == 0 { break }
            depth -= 1
        }
        i += 1
    }
    return keys
}

/// The metadata lines of bpftool's plain `prog show` output (after "\tmetadata:").
func metadataLines(_ text: String) -> [String] {
    var out: [String] = []
    var inside = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line == "\tmetadata:" { inside = true; continue }
        if inside {
            if line.hasPrefix("\t\t") { out.append(String(line)) } else { inside = false }
        }
    }
    return out
}

@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct MetadataTests {
    /// prog show keeps the metadata of the last few .rodata maps only (so a
    /// run over thousands of objects stays bounded in memory): a map
    /// forgotten and met again is read again and gives the same metadata.
    @Test func metadataReadAgainAfterItWasForgottenIsTheSame() throws {
        let a = try LoadedFixture("meta_kinds", label: "perfevictA")
        defer { a.remove() }
        let b = try LoadedFixture("meta_kinds", label: "perfevictB")
        defer { b.remove() }
        let pa = try Program.open(pinned: a.pin("meta_sock"))
        defer { pa.fd.close() }
        let pb = try Program.open(pinned: b.pin("meta_sock"))
        defer { pb.fd.close() }
        let reader = MetadataReader(capacity: 1)
        let first = try #require(reader.metadata(for: pa.info))
        let firstJSON = first.compactJSON()
        let other = try #require(reader.metadata(for: pb.info))
        #expect(other.mapID != first.mapID, "two loads are two .rodata maps")
        // Meeting b's map pushed a's out: this is a fresh read of a's map.
        let again = try #require(reader.metadata(for: pa.info))
        #expect(again !== first)
        #expect(again.mapID == first.mapID)
        #expect(again.entries.map(\.name) == first.entries.map(\.name))
        let againJSON = again.compactJSON()
        #expect(againJSON.bytes == firstJSON.bytes)
        #expect(againJSON.count == firstJSON.count && againJSON.count > 0)
        // And it is what bpftool prints for that program.
        let expected = try a.bpftoolJSON("meta_sock")
        let em = try #require(expected["metadata"] as? [String: Any])
        let am = try #require(try JSONSerialization.jsonObject(with: Data(againJSON.bytes)) as? [String: Any])
        if let d = jsonDifference(expected: em, actual: am) { Issue.record("metadata\(d)") }
    }

    @Test func jsonMetadataOfEveryKindEqualsBpftools() throws {
        let f = try LoadedFixture("meta_kinds", label: "kindsjson")
        defer { f.remove() }
        for n in ["meta_sock", "meta_xdp"] {
            let expected = try f.bpftoolJSON(n)
            let actual = try #require(try ourJSON(["prog", "show", "pinned", f.pin(n)]) as? [String: Any])
            let em = try #require(expected["metadata"] as? [String: Any], "bpftool prints metadata for \(n)")
            let am = try #require(actual["metadata"] as? [String: Any], "we print metadata for \(n)")
            #expect(Set(am.keys) == Set(em.keys))
            if let d = jsonDifference(expected: em, actual: am) { Issue.record("\(n): metadata\(d)") }
            sameKeys(expected, actual, n)
            // Spot checks of what the kinds look like.
            #expect(am["str"] as? String == "hello world")
            #expect(am["pair"] is [String: Any])
            #expect(am["color"] as? String == "META_GREEN")
            #expect(am["not_metadata"] == nil)
        }
    }

    @Test func jsonMetadataKeepsBpftoolsOrder() throws {
        let f = try LoadedFixture("meta_kinds", label: "kindsorder")
        defer { f.remove() }
        let ours = try bpfswift("-j", "prog", "show", "pinned", f.pin("meta_sock"))
        let theirs = try Bpftool.run(["-j", "prog", "show", "pinned", f.pin("meta_sock")])
        let a = topLevelKeys(after: "\"metadata\":{", in: ours.stdout)
        let b = topLevelKeys(after: "\"metadata\":{", in: theirs.stdout)
        #expect(!b.isEmpty)
        #expect(a == b)
    }

    @Test func textMetadataLinesEqualBpftools() throws {
        let f = try LoadedFixture("meta_kinds", label: "kindstext")
        defer { f.remove() }
        for n in ["meta_sock", "meta_xdp"] {
            let ours = try bpfswift("prog", "show", "pinned", f.pin(n))
            let theirs = try Bpftool.run(["prog", "show", "pinned", f.pin(n)])
            let lines = metadataLines(theirs.stdout)
            #expect(lines.count == 37)
            #expect(metadataLines(ours.stdout) == lines)
            #expect(ours.stdout == theirs.stdout)
            #expect(lines.contains("\t\tstr = \"hello world\""))
            #expect(lines.contains("\t\tnullptr = \"(nil)\""))
            #expect(lines.contains(where: { $0.hasPrefix("\t\tpair = {\"x\":-1,") && $0.contains("\"flag\":0x5,") }))
        }
    }

    @Test func programsWithoutMetadataPrintNone() throws {
        let f = try LoadedFixture("meta_none", label: "none")
        defer { f.remove() }
        for n in ["meta_none_sock", "meta_none_tc"] {
            let expected = try f.bpftoolJSON(n)
            let actual = try #require(try ourJSON(["prog", "show", "pinned", f.pin(n)]) as? [String: Any])
            sameKeys(expected, actual, n)
            #expect(actual["metadata"] == nil)
            #expect(actual["gpl_compatible"] as? Bool == false)
            let text = try bpfswift("prog", "show", "pinned", f.pin(n))
            #expect(!text.stdout.contains("metadata"))
            #expect(text.stdout == (try Bpftool.run(["prog", "show", "pinned", f.pin(n)])).stdout)
        }
    }

    @Test func filterOnPresenceSelectsOnlyProgramsWithMetadata() throws {
        let with = try LoadedFixture("meta_long", label: "presence")
        defer { with.remove() }
        let without = try LoadedFixture("meta_none", label: "absence")
        defer { without.remove() }
        let all = try #require(try ourJSON(["prog", "show", "--metadata"]) as? [[String: Any]])
        let ids = Set(all.compactMap { $0["id"] as? Int })
        #expect(ids.contains(try with.id("meta_raw")))
        #expect(ids.contains(try with.id("meta_long_program_name_here")))
        #expect(!ids.contains(try without.id("meta_none_sock")))
        #expect(!ids.contains(try without.id("meta_none_tc")))
        #expect(all.allSatisfy { ($0["metadata"] as? [String: Any])?.isEmpty == false })
        // Text: every program printed has a metadata block.
        let text = try bpfswift("prog", "show", "--metadata")
        #expect(text.status == 0)
        let headers = text.stdout.split(separator: "\n").filter { !$0.hasPrefix("\t") }
        let blocks = text.stdout.components(separatedBy: "\tmetadata:\n").count - 1
        #expect(headers.count == blocks)
    }

    @Test func filterOnKeySelectsProgramsWithThatKey() throws {
        let f = try LoadedFixture("meta_long", label: "key")
        defer { f.remove() }
        let c = try LoadedFixture("counter", label: "keyother")
        defer { c.remove() }
        let hits = try #require(try ourJSON(["prog", "show", "--metadata", "version"]) as? [[String: Any]])
        let ids = Set(hits.compactMap { $0["id"] as? Int })
        #expect(ids.isSuperset(of: [try f.id("meta_raw"), try f.id("meta_long_program_name_here")]))
        #expect(!ids.contains(try c.id("count_enter")))
        #expect(hits.allSatisfy { ($0["metadata"] as? [String: Any])?["version"] != nil })
        // The prefixed variable name works too.
        let prefixed = try #require(try ourJSON(["prog", "show", "id", String(try f.id("meta_raw")), "--metadata", "bpf_metadata_version"]) as? [[String: Any]])
        #expect(prefixed.count == 1)
    }

    @Test func filterOnKeyAndValue() throws {
        let f = try LoadedFixture("meta_long", label: "keyvalue")
        defer { f.remove() }
        let c = try LoadedFixture("counter", label: "keyvalueother")
        defer { c.remove() }
        let ours = [try f.id("meta_raw"), try f.id("meta_long_program_name_here")]
        // A string: its contents, or its quoted text form.
        for filter in ["commit=long0001", "commit=\"long0001\""] {
            let hits = try #require(try ourJSON(["prog", "show", "--metadata", filter]) as? [[String: Any]])
            let ids = Set(hits.compactMap { $0["id"] as? Int })
            #expect(ids.isSuperset(of: ours), "\(filter)")
            #expect(!ids.contains(try c.id("count_enter")), "\(filter)")
            #expect(hits.allSatisfy { ($0["metadata"] as? [String: Any])?["commit"] as? String == "long0001" })
        }
        // A number.
        let numeric = try #require(try ourJSON(["prog", "show", "--metadata", "build=42"]) as? [[String: Any]])
        #expect(Set(numeric.compactMap { $0["id"] as? Int }).contains(try c.id("count_raw")))
        #expect(numeric.allSatisfy { ($0["metadata"] as? [String: Any])?["build"] as? Int == 42 })
        // With a selector, the filter narrows it.
        let one = try #require(try ourJSON(["prog", "show", "pinned", f.pin("meta_raw"), "--metadata", "version=3"]) as? [[String: Any]])
        #expect(one.count == 1 && one[0]["id"] as? Int == ours[0])
        let wrong = try #require(try ourJSON(["prog", "show", "pinned", f.pin("meta_raw"), "--metadata", "version=4"]) as? [[String: Any]])
        #expect(wrong.isEmpty)
    }

    @Test func filterWithoutMatchPrintsEmptyArrayAndSucceeds() throws {
        let f = try LoadedFixture("meta_long", label: "nomatch")
        defer { f.remove() }
        let key = "no_such_key_\(getpid())"
        let r = try bpfswift("-j", "prog", "show", "--metadata", key)
        #expect(r.status == 0)
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        let v = try bpfswift("-j", "prog", "show", "--metadata", "commit=never-\(getpid())")
        #expect(v.status == 0 && v.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        let text = try bpfswift("prog", "show", "--metadata", key)
        #expect(text.status == 0 && text.stdout.isEmpty && text.stderr.isEmpty)
        // A selected program without metadata: [] too.
        let n = try LoadedFixture("meta_none", label: "nomatchnone")
        defer { n.remove() }
        let sel = try bpfswift("-j", "prog", "show", "pinned", n.pin("meta_none_tc"), "--metadata")
        #expect(sel.status == 0 && sel.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    @Test func metadataOfManySharingProgramsIsReadOnce() throws {
        // meta_types: 25 programs bound to one .rodata; every one shows it.
        let f = try LoadedFixture("meta_types", label: "shared")
        defer { f.remove() }
        let names = try f.programNames()
        let hits = try #require(try ourJSON(["prog", "show", "--metadata", "suite=types"]) as? [[String: Any]])
        var ids = Set<Int>()
        for n in names { ids.insert(try f.id(n)) }
        let found = Set(hits.compactMap { $0["id"] as? Int })
        #expect(found.isSuperset(of: ids))
        let mapIDs = Set(hits.filter { ids.contains($0["id"] as? Int ?? -1) }.compactMap { ($0["map_ids"] as? [Int])?.first })
        #expect(mapIDs.count == 1)
    }
}

@Suite struct MetadataUnitTests {
    @Test func filterParsing() {
        #expect(MetadataFilter(parsing: "a") == MetadataFilter(key: "a", value: nil))
        #expect(MetadataFilter(parsing: "a=") == MetadataFilter(key: "a", value: ""))
        #expect(MetadataFilter(parsing: "a=b=c") == MetadataFilter(key: "a", value: "b=c"))
        #expect(!MetadataFilter().matches(nil))
    }

    @Test func offlineSectionMatching() throws {
        let r = try OfflineMeta("meta_long")
        defer { withExtendedLifetime(r) {} }
        let md = try #require(ProgramMetadata.fromSection(btf: r.btf, sectionTypeID: r.section, value: r.bytes))
        #expect(md.entries.map(\.name) == ["commit", "version"])
        #expect(try md.text(0) == "\"long0001\"")
        #expect(md.matches(key: "commit", value: "long0001"))
        #expect(md.matches(key: "commit", value: "\"long0001\""))
        #expect(md.matches(key: "bpf_metadata_version", value: "3"))
        #expect(!md.matches(key: "version", value: "4"))
        #expect(!md.matches(key: "nope", value: nil))
        #expect(MetadataFilter(key: "version").matches(md))
        #expect(MetadataFilter().matches(md))
    }

    @Test func noMetadataSectionGivesNil() throws {
        let r = try OfflineMeta("meta_none")
        defer { withExtendedLifetime(r) {} }
        #expect(ProgramMetadata.fromSection(btf: r.btf, sectionTypeID: r.section, value: r.bytes) == nil)
    }
}

/// A fixture's .rodata read offline.
final class OfflineMeta {
    let object: BPFObject
    let btf: BTF
    let bytes: [UInt8]
    let section: UInt32
    init(_ fixture: String) throws {
        object = try BPFObject.open(path: try Fixtures.object(fixture))
        let map = try #require(object.maps.first { $0.name.hasSuffix(".rodata") })
        bytes = try #require(map.initialValue)
        btf = try #require(object.btf)
        section = try #require(btf.find(".rodata", kind: .dataSection))
    }
}
