import Testing
import Foundation
import BPFCore
import TestSupport

/// The .rodata of a fixture object, opened offline: its BTF, the DATASEC's
/// variables by name and the initial bytes.
final class OfflineRodata {
    let object: BPFObject
    let btf: BTF
    let bytes: [UInt8]
    let variables: [String: (typeID: UInt32, offset: Int, size: Int)]
    let sectionID: UInt32

    init(_ fixture: String) throws {
        object = try BPFObject.open(path: try Fixtures.object(fixture))
        let map = try #require(object.maps.first { $0.name.hasSuffix(".rodata") })
        bytes = try #require(map.initialValue)
        btf = try #require(object.btf)
        sectionID = try #require(btf.find(".rodata", kind: .dataSection))
        var vars: [String: (UInt32, Int, Int)] = [:]
        for v in try #require(btf.type(sectionID)).sectionVariables {
            let t = try #require(btf.type(v.typeID))
            vars[t.name] = (t.referencedType, Int(v.offset), Int(v.size))
        }
        variables = vars
    }

    func compact(_ name: String, dumper: BTFDumper) throws -> String {
        let v = try #require(variables[name], "no variable \(name)")
        var s = ""
        try bytes.withUnsafeBytes { raw in
            try dumper.writeCompactText(typeID: v.typeID, data: UnsafeRawBufferPointer(rebasing: raw[v.offset..<v.offset + v.size]), to: &s)
        }
        return s
    }

    func json(_ name: String, dumper: BTFDumper) throws -> String {
        let v = try #require(variables[name], "no variable \(name)")
        var w = JSONWriter()
        try bytes.withUnsafeBytes { raw in
            try dumper.writeJSON(typeID: v.typeID, data: UnsafeRawBufferPointer(rebasing: raw[v.offset..<v.offset + v.size]), to: &w)
        }
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

@Suite struct BTFDumperTests {
    // What bpftool 7.5 prints for these variables of meta_kinds.bpf.c
    // (`prog show` plain text, metadata lines), values from the C source.
    static let expectedText: [(String, String)] = [
        ("bpf_metadata_str", #""hello world""#),
        ("bpf_metadata_quote", #""say \"hi\" \\ back""#),
        ("bpf_metadata_empty", #""""#),
        ("bpf_metadata_full", "[97,98,99]"),
        ("bpf_metadata_binary", "[1,2,0,0]"),
        ("bpf_metadata_s8", "-8"),
        ("bpf_metadata_u8", "200"),
        ("bpf_metadata_s16", "-1600"),
        ("bpf_metadata_u16", "60000"),
        ("bpf_metadata_s32", "-320000"),
        ("bpf_metadata_u32", "4000000000"),
        ("bpf_metadata_s64", "-6400000000000"),
        ("bpf_metadata_u64", "18446744073709551615"),
        ("bpf_metadata_u128", "0x10000000000000005"),
        ("bpf_metadata_schar", "-1"),
        ("bpf_metadata_uchar", "255"),
        ("bpf_metadata_ch", "120"),
        ("bpf_metadata_yes", "true"),
        ("bpf_metadata_no", "false"),
        ("bpf_metadata_ints", "[1,-2,3,-4]"),
        ("bpf_metadata_bytes", "[222,173,190,239]"),
        ("bpf_metadata_names", #"["ab","cd"]"#),
        ("bpf_metadata_grid", "[[1,2,3],[4,5,6]]"),
        ("bpf_metadata_color", #""META_GREEN""#),
        ("bpf_metadata_color_neg", #""META_NEG""#),
        ("bpf_metadata_color_other", "7"),
        ("bpf_metadata_small", #""META_SMALL_B""#),
        // bpftool reads a 1-byte enum as signed: 200 does not match META_SMALL_HIGH.
        ("bpf_metadata_small_high", "-56"),
        ("bpf_metadata_wide", #""META_WIDE_A""#),
        ("bpf_metadata_wide_other", "-1"),
        ("bpf_metadata_typedef", "77"),
        ("bpf_metadata_label", #""lbl""#),
        ("bpf_metadata_pair", #"{"x":-1,"in":{"a":-300,"b":[1,2,3],"tag":"inner"},"u":{"i":6513249,"c":"abc"},"flag":0x5,"mode":0x11,"neg":0xe,"wide":0xabcdef1234,"":{"anon_ch":113,"anon_u16":65535},"color":"META_RED"}"#),
        ("bpf_metadata_union", #"{"i":1094861636,"c":[68,67,66,65]}"#),
        ("bpf_metadata_nullptr", #""(nil)""#),
    ]

    @Test func compactTextMatchesBpftoolMetadataLines() throws {
        let r = try OfflineRodata("meta_kinds")
        defer { withExtendedLifetime(r) {} }
        do {
            let d = BTFDumper(btf: r.btf)
            for (name, expected) in Self.expectedText {
                #expect(try r.compact(name, dumper: d) == expected, "\(name)")
            }
        }
    }

    @Test func jsonQuotesBitfieldsAndPrintsPointersAsNumbers() throws {
        let r = try OfflineRodata("meta_kinds")
        defer { withExtendedLifetime(r) {} }
        do {
            let d = BTFDumper(btf: r.btf)
            #expect(try r.json("bpf_metadata_pair", dumper: d) ==
                    #"{"x":-1,"in":{"a":-300,"b":[1,2,3],"tag":"inner"},"u":{"i":6513249,"c":"abc"},"flag":"0x5","mode":"0x11","neg":"0xe","wide":"0xabcdef1234","":{"anon_ch":113,"anon_u16":65535},"color":"META_RED"}"#)
            #expect(try r.json("bpf_metadata_nullptr", dumper: d) == "0")
            #expect(try r.json("bpf_metadata_u128", dumper: d) == #""0x10000000000000005""#)
            #expect(try r.json("bpf_metadata_quote", dumper: d) == #""say \"hi\" \\ back""#)
            #expect(try r.json("bpf_metadata_u64", dumper: d) == "18446744073709551615")
            #expect(try r.json("bpf_metadata_wide_other", dumper: d) == "-1")
        }
    }

    @Test func prettyTextIsBpftoolsMapDumpLayout() throws {
        // `bpftool map dump` of counter's .rodata prints the value at depth 2:
        //     "value": {
        //         ".rodata": [{ ...
        let r = try OfflineRodata("counter")
        defer { withExtendedLifetime(r) {} }
        do {
            let d = BTFDumper(btf: r.btf)
            var s = ""
            try r.bytes.withUnsafeBytes { raw in
                try d.writeText(typeID: r.sectionID, data: raw, indent: 2, to: &s)
            }
            let expected = """
            {
                        ".rodata": [{
                                "bpf_metadata_commit": "abc123"
                            },{
                                "bpf_metadata_build": 42
                            },{
                                "target_tgid": 0
                            }
                        ]
                    }
            """
            #expect(s == expected)
        }
    }

    @Test func floatsArePrintedAsNumbers() throws {
        let r = try OfflineRodata("meta_float")
        defer { withExtendedLifetime(r) {} }
        do {
            let d = BTFDumper(btf: r.btf)
            #expect(try r.compact("bpf_metadata_ratio", dumper: d) == "1.5")
            #expect(try r.json("bpf_metadata_scale", dumper: d) == "-0.25")
        }
    }

    @Test func shortDataIsAnErrorNotAnOverread() throws {
        let r = try OfflineRodata("meta_kinds")
        defer { withExtendedLifetime(r) {} }
        do {
            let d = BTFDumper(btf: r.btf)
            let v = try #require(r.variables["bpf_metadata_pair"])
            var s = ""
            #expect(throws: BPFError.self) {
                try r.bytes.withUnsafeBytes { raw in
                    try d.writeCompactText(typeID: v.typeID, data: UnsafeRawBufferPointer(rebasing: raw[v.offset..<v.offset + 8]), to: &s)
                }
            }
        }
    }
}
