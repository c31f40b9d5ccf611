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

/// Raw BTF for the kinds clang does not emit for BPF: the char encoding,
/// integers at bit offsets (old-style bitfields), 24-bit integers, 2-byte enums.
enum HandBTF {
    // Type ids.
    static let char: UInt32 = 1, u24: UInt32 = 2, int: UInt32 = 3, charArray: UInt32 = 4, s: UInt32 = 5
    static let int128: UInt32 = 6, ptr: UInt32 = 7, e: UInt32 = 8

    static func make() throws -> BTF {
        var strings: [UInt8] = [0]
        func str(_ s: String) -> UInt32 {
            let off = UInt32(strings.count)
            strings += Array(s.utf8) + [0]
            return off
        }
        var types: [UInt32] = []
        func info(_ kind: UInt32, vlen: UInt32 = 0, kflag: Bool = false) -> UInt32 {
            (kind << 24) | vlen | (kflag ? 1 << 31 : 0)
        }
        // 1: INT char, 1 byte, encoding CHAR
        types += [str("char"), info(1), 1, (2 << 24) | 8]
        // 2: INT u24, 4 bytes, 24 bits
        types += [str("u24"), info(1), 4, 24]
        // 3: INT int, signed 32
        types += [str("int"), info(1), 4, (1 << 24) | 32]
        // 4: ARRAY char[4]
        types += [0, info(3), 0, char, int, 4]
        // 5: STRUCT s (no kind flag: member offsets are bit offsets)
        types += [str("s"), info(4, vlen: 4), 12,
                  str("c"), char, 0,
                  str("x"), int, 12,
                  str("y"), u24, 48,
                  str("b"), charArray, 64]
        // 6: INT __int128
        types += [str("__int128"), info(1), 16, 128]
        // 7: PTR to void
        types += [0, info(2), 0]
        // 8: ENUM e, 2 bytes: A = 1, B = -1
        types += [str("e"), info(6, vlen: 2), 2, str("A"), 1, str("B"), UInt32(bitPattern: -1)]
        var bytes: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        let typeLen = UInt32(types.count * 4)
        bytes += [0x9f, 0xeb, 1, 0]
        u32(24); u32(0); u32(typeLen); u32(typeLen); u32(UInt32(strings.count))
        for t in types { u32(t) }
        bytes += strings
        return try BTF.parse(bytes: bytes)
    }
}

@Suite struct BTFDumperHandBuiltTests {
    func text(_ d: BTFDumper, _ id: UInt32, _ data: [UInt8], pretty: Bool = false) throws -> String {
        var s = ""
        try data.withUnsafeBytes { raw in
            if pretty { try d.writeText(typeID: id, data: raw, indent: 0, to: &s) } else { try d.writeCompactText(typeID: id, data: raw, to: &s) }
        }
        return s
    }

    func json(_ d: BTFDumper, _ id: UInt32, _ data: [UInt8]) throws -> String {
        var w = JSONWriter()
        try data.withUnsafeBytes { raw in try d.writeJSON(typeID: id, data: raw, to: &w) }
        return String(decoding: w.bytes, as: UTF8.self)
    }

    @Test func structWithOldStyleBitfieldsAndCharEncoding() throws {
        let btf = try HandBTF.make()
        let d = BTFDumper(btf: btf)
        let data: [UInt8] = [0x5a, 0x10, 0x32, 0x54, 0x76, 0x08, 0xaa, 0xbb, 0x68, 0x69, 0, 0]
        // x: 32 bits from bit 12 (an int at a bit offset: hex, as bpftool);
        // y: a 24-bit int (hex); b: char[4] holding "hi".
        #expect(try text(d, HandBTF.s, data) == #"{"c":"Z","x":0x87654321,"y":0x68bbaa,"b":"hi"}"#)
        #expect(try json(d, HandBTF.s, data) == #"{"c":"Z","x":"0x87654321","y":"0x68bbaa","b":"hi"}"#)
    }

    @Test func charsThatAreNotPrintable() throws {
        let d = BTFDumper(btf: try HandBTF.make())
        #expect(try text(d, HandBTF.char, [7]) == "0x7")
        #expect(try json(d, HandBTF.char, [7]) == #""\u0007""#)
        #expect(try text(d, HandBTF.char, [0x80]) == "0x80")
        // Not a string (no NUL): a list of chars; bpftool's pretty layout.
        #expect(try text(d, HandBTF.charArray, [1, 2, 3, 4], pretty: true) == "[0x1,0x2,0x3,0x4\n]")
        #expect(try text(d, HandBTF.charArray, [0x41, 0x42, 0x43, 0x44]) == #"["A","B","C","D"]"#)
    }

    @Test func int128PointersAndSmallEnums() throws {
        let d = BTFDumper(btf: try HandBTF.make())
        var v = [UInt8](repeating: 0, count: 16)
        v[0] = 3; v[8] = 2
        #expect(try text(d, HandBTF.int128, v) == "0x20000000000000003")
        #expect(try json(d, HandBTF.int128, [1] + [UInt8](repeating: 0, count: 15)) == #""0x1""#)
        let p: [UInt8] = [0x34, 0x12, 0, 0, 0, 0, 0, 0]
        #expect(try text(d, HandBTF.ptr, p) == #""0x1234""#)
        #expect(try json(d, HandBTF.ptr, p) == "4660")
        #expect(try text(d, HandBTF.e, [0xff, 0xff]) == #""B""#)
        #expect(try text(d, HandBTF.e, [1, 0]) == #""A""#)
        #expect(try json(d, HandBTF.e, [7, 0]) == "7")
    }

    @Test func prettyNestingIndentsByDepth() throws {
        let d = BTFDumper(btf: try HandBTF.make())
        let data: [UInt8] = [0x5a, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x69, 0, 0]
        var s = ""
        try data.withUnsafeBytes { try d.writeText(typeID: HandBTF.s, data: $0, indent: 1, to: &s) }
        #expect(s == "{\n        \"c\": \"Z\",\n        \"x\": 0x0,\n        \"y\": 0x680000,\n        \"b\": \"hi\"\n    }")
    }
}
