import Testing
import Foundation
@testable import BPFCore
import TestSupport

/// Bad input to the library's public API throws a BPFError naming what was
/// wrong; it never traps.
@Suite struct BadInputTests {
    static func fixtureBytes(_ name: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Fixtures.object(name))))
    }

    @Test func truncatedGarbageAndEmptyObjectsAreErrors() throws {
        let whole = try Self.fixtureBytes("lib_events")
        var cases: [(String, [UInt8])] = [
            ("empty", []),
            ("garbage", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }),
            ("ELF header only", Array(whole.prefix(64))),
            ("first half", Array(whole.prefix(whole.count / 2))),
            ("all but the last byte", Array(whole.dropLast())),
        ]
        // An ELF whose section header table points past the end.
        var badShoff = whole
        for i in 0..<8 { badShoff[0x28 + i] = 0xff }
        cases.append(("section headers past the end", badShoff))
        for (what, bytes) in cases {
            #expect(throws: BPFError.self, "\(what)") {
                _ = try BPFObject.open(bytes: bytes, options: ObjectOpenOptions(objectName: "lib2_bad"))
            }
            #expect(throws: BPFError.self, "\(what)") {
                _ = try BPFSkeleton(elf: bytes, objectName: "lib2_bad", source: "bad.bpf.o")
            }
        }
        #expect { _ = try BTF.parse(bytes: [0x9f, 0xeb, 1, 0, 24, 0, 0, 0]) } throws: { e in "\(e)".hasPrefix("parse BTF") }
    }

    @Test func namesAndPathsWithNULAreErrors() throws {
        #expect { _ = try BPFObject.open(path: try Fixtures.object("lib_events") + "\0.txt") } throws: { e in
            "\(e)".contains("contains a NUL byte")
        }
        let skeleton = try BPFSkeleton(elf: try Self.fixtureBytes("lib_events"), objectName: "lib_events", source: "lib_events.bpf.o")
        // C would stop at the NUL and find the map "events".
        #expect { _ = try skeleton.map("events\0x") } throws: { e in
            "\(e)".contains("map name \"events\\0x\" contains a NUL byte")
        }
        #expect { _ = try skeleton.program("produce\0") } throws: { e in "\(e)".contains("contains a NUL byte") }
        #expect(skeleton.object.map(named: "events\0") == nil)
        #expect(skeleton.object.program(named: "produce\0") == nil)
        #expect(try skeleton.map("events").name == "events")
    }

    @Test func typesOfTheWrongSizeAreErrors() throws {
        let skeleton = try BPFSkeleton(elf: try Self.fixtureBytes("lib_events"), objectName: "lib_events", source: "lib_events.bpf.o")
        #expect { _ = try skeleton.map("counts", key: UInt64.btfCodec, value: UInt64.btfCodec) } throws: { e in
            "\(e)".contains("map counts has 4-byte keys and 8-byte values, the generated types 8 and 8")
        }
        #expect { _ = try skeleton.perCPUMap("pcounts", key: UInt32.btfCodec, value: UInt32.btfCodec) } throws: { e in
            "\(e)".contains("map pcounts has 4-byte keys and 8-byte values, the generated types 4 and 4")
        }
    }

    @Test(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (run scripts/setup)"))
    func absurdSizesAndWrongKeysAreErrors() throws {
        let f = try EventsFixture(attach: false)
        #expect { _ = try f.counts.lookup(bytes: [1, 2]) } throws: { e in
            "\(e)".contains("key has 2 bytes, the map's keys have 4")
        }
        #expect { try f.counts.update(bytes: [0, 0, 0, 0], value: [1]) } throws: { e in
            "\(e)".contains("value has 1 bytes, the map needs 8")
        }
        #expect { _ = try f.counts.nextKey(bytes: []) } throws: { e in "\(e)".contains("key has 0 bytes") }
        // A batch bigger than the map is read in one call of the map's size.
        let counts = try f.skeleton.map("counts", key: UInt32.btfCodec, value: UInt64.btfCodec)
        try counts.update(batch: (0..<10).map { (UInt32($0), UInt64($0)) })
        let r = try f.counts.lookupBatch(after: nil, maxCount: Int.max)
        #expect(r.entries.count == 10 && r.next == nil)
        #expect { _ = try f.counts.lookupBatch(after: nil, maxCount: 0) } throws: { e in "\(e)".contains("is not positive") }
        #expect { _ = try f.counts.lookupBatch(after: [1], maxCount: 4) } throws: { e in "\(e)".contains("a token of 1 bytes, not 8") }
        #expect { _ = try EventReader.perfBuffer(map: f.pb.fd!, name: "pb", pagesPerCPU: 1 << 62) } throws: { e in
            "\(e)".contains("pages per CPU is more than")
        }
        #expect { _ = try EventReader.perfBuffer(map: f.pb.fd!, name: "pb", pagesPerCPU: -4) } throws: { e in
            "\(e)".contains("not a power of two")
        }
        #expect { try f.skeleton.pin(at: "/sys/fs/bpf/lib2_x\0y") } throws: { e in "\(e)".contains("contains a NUL byte") }
    }
}
