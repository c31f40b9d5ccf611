import Testing
@testable import BPFSwiftCLI
import BPFCore

/// Key/value words as bpftool's parse_elem takes them, and the errors for
/// wrong sizes and bad bytes.
@Suite struct MapElementParserTests {
    let hash = MapInfo(type: .hash, keySize: 4, valueSize: 8)
    let queue = MapInfo(type: .queue, keySize: 0, valueSize: 4)

    func words(_ s: String) -> [String] { s.split(separator: " ").map(String.init) }

    func update(_ s: String, _ info: MapInfo? = nil) throws -> MapElementInput {
        let info = info ?? hash
        return try MapElementParser.parse(words(s), info: info, wantKey: info.keySize > 0, wantValue: info.valueSize > 0,
                                          allowFlags: true, commandPath: "map update")
    }

    func lookup(_ s: String, _ info: MapInfo? = nil) throws -> MapElementInput {
        let info = info ?? hash
        return try MapElementParser.parse(words(s), info: info, wantKey: info.keySize > 0, wantValue: false,
                                          allowFlags: false, commandPath: "map lookup")
    }

    func usageMessage(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as UsageError { return e.message } catch { return "\(error)" }
        return nil
    }

    @Test func decimalHexOctalBytes() throws {
        let r = try update("key 1 0 0 255 value 0x10 010 9 0 0 0 0 1")
        #expect(r.key == [1, 0, 0, 255])
        #expect(r.value == [16, 8, 9, 0, 0, 0, 0, 1])
        #expect(r.flag == nil)
        let h = try update("key hex 0a ff 00 10 value hex de ad be ef 0x01 2 3 4")
        #expect(h.key == [0x0a, 0xff, 0x00, 0x10])
        #expect(h.value == [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04])
        // Keywords match by prefix, in any order.
        let p = try update("v 1 2 3 4 5 6 7 8 k h 1 2 3 4 noex")
        #expect(p.key == [1, 2, 3, 4] && p.value == [1, 2, 3, 4, 5, 6, 7, 8] && p.flag == .noExist)
    }

    @Test func updateFlags() throws {
        #expect(try update("key 1 2 3 4 value 1 2 3 4 5 6 7 8 any").flag == .any)
        #expect(try update("key 1 2 3 4 value 1 2 3 4 5 6 7 8 exist").flag == .exist)
        #expect(try update("key 1 2 3 4 e value 1 2 3 4 5 6 7 8").flag == .exist)
        // In hex mode a byte may look like a flag: within the count it is a byte.
        let r = try update("key hex 1 2 3 a value hex 1 2 3 4 5 6 7 8 a")
        #expect(r.key == [1, 2, 3, 0x0a] && r.flag == .any)
        #expect(usageMessage { _ = try update("key 1 2 3 4 value 1 2 3 4 5 6 7 8 any exist") }
                == "map update: flags specified multiple times: exist")
    }

    @Test func wrongSizesSayWhatAndHowMany() {
        #expect(usageMessage { _ = try lookup("key 1 2 3") } == "map lookup: key expected 4 bytes got 3")
        #expect(usageMessage { _ = try lookup("key 1 2 3 4 5 6") } == "map lookup: key expected 4 bytes got 6")
        #expect(usageMessage { _ = try update("key 1 2 value 1 2 3 4 5 6 7 8") } == "map update: key expected 4 bytes got 2")
        #expect(usageMessage { _ = try update("key 1 2 3 4 value 1") } == "map update: value expected 8 bytes got 1")
        #expect(usageMessage { _ = try update("key hex 1 2 3 4 value hex 1 2 3 4 5 6 7 8 9") }
                == "map update: value expected 8 bytes got 9")
    }

    @Test func badBytes() {
        #expect(usageMessage { _ = try lookup("key 1 2 3 x") } == "map lookup: error parsing byte: x")
        #expect(usageMessage { _ = try lookup("key hex 1 2 3 zz") } == "map lookup: error parsing byte: zz (expected hex digits)")
        #expect(usageMessage { _ = try lookup("key 1 2 3 256") } == "map lookup: error parsing byte: 256 (a byte is 0 to 255)")
        #expect(usageMessage { _ = try lookup("key 1 2 3 -1") } == "map lookup: error parsing byte: -1")
        #expect(usageMessage { _ = try lookup("key 1 2 3 08") } == "map lookup: error parsing byte: 08")
        #expect(usageMessage { _ = try lookup("key 1 2 3 0x") } == "map lookup: error parsing byte: 0x")
    }

    @Test func missingAndUnwantedParts() {
        #expect(usageMessage { _ = try update("") } == "map update: did not find key")
        #expect(usageMessage { _ = try update("key 1 2 3 4") } == "map update: did not find value")
        #expect(usageMessage { _ = try lookup("key 1 2 3 4 value 1 2 3 4 5 6 7 8") } == "map lookup: unnecessary value")
        #expect(usageMessage { _ = try lookup("key 1 2 3 4 key 1 2 3 4") } == "map lookup: duplicate key")
        #expect(usageMessage { _ = try lookup("frob") } == "map lookup: expected key or value, got: frob")
        #expect(usageMessage { _ = try update("key 1 value 1 2 3 4", queue) } == "map update: unnecessary key")
    }

    @Test func keylessMaps() throws {
        let r = try update("value 1 2 3 4", queue)
        #expect(r.key == nil && r.value == [1, 2, 3, 4])
        #expect(try lookup("", queue).key == nil)
        #expect(usageMessage { _ = try update("", queue) } == "map update: did not find value")
    }

    @Test func strtoulLikeNumbers() {
        #expect(parseCUnsigned("0", base: 0) == 0)
        #expect(parseCUnsigned("0x1F", base: 0) == 31)
        #expect(parseCUnsigned("017", base: 0) == 15)
        #expect(parseCUnsigned("ff", base: 16) == 255)
        #expect(parseCUnsigned("0xff", base: 16) == 255)
        #expect(parseCUnsigned("ff", base: 0) == nil)
        #expect(parseCUnsigned("", base: 0) == nil)
        #expect(parseCUnsigned("+1", base: 0) == nil)
        #expect(parseCUnsigned(" 1", base: 0) == nil)
    }

    @Test func hexLayoutAsFprintHex() {
        #expect(MapCommand.hexText([]) == "")
        #expect(MapCommand.hexText([1, 2, 3]) == "01 02 03")
        let twenty = (0..<20).map { UInt8($0) }
        #expect(MapCommand.hexText(twenty)
                == "00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n10 11 12 13")
    }

    /// print_entry_plain's layouts: one line up to 24 bytes, names on their own
    /// lines beyond 16-byte parts, a line per CPU, inner map ids.
    @Test func entryLayouts() throws {
        func render(_ info: MapInfo, cpus: Int = 1, _ key: [UInt8], _ value: [UInt8]) throws -> String {
            let sink = OutputSink()
            let buf = MapByteBuffer(sink: sink)
            let p = MapEntryPrinter(info: info, cpus: cpus, style: .text(nil), btf: nil, out: buf)
            try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try p.printOne(k, v) } }
            buf.flush(); sink.flush()
            return sink.text
        }
        #expect(try render(hash, [1, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8])
                == "key: 01 00 00 00  value: 01 02 03 04 05 06 07 08\n")
        let mid = MapInfo(type: .hash, keySize: 8, valueSize: 16)
        #expect(try render(mid, Array(repeating: 1, count: 8), Array(repeating: 2, count: 16))
                == "key: 01 01 01 01 01 01 01 01  value: 02 02 02 02 02 02 02 02  02 02 02 02 02 02 02 02\n")
        let wide = MapInfo(type: .hash, keySize: 12, valueSize: 16)
        #expect(try render(wide, Array(repeating: 1, count: 12), Array(repeating: 2, count: 16))
                == "key: 01 01 01 01 01 01 01 01  01 01 01 01\nvalue: 02 02 02 02 02 02 02 02  02 02 02 02 02 02 02 02\n")
        let big = MapInfo(type: .hash, keySize: 20, valueSize: 4)
        #expect(try render(big, Array(repeating: 0xaa, count: 20), [0, 0, 0, 1])
                == "key:\naa aa aa aa aa aa aa aa  aa aa aa aa aa aa aa aa\naa aa aa aa\nvalue:\n00 00 00 01\n")
        let pcpu = MapInfo(type: .percpuArray, keySize: 4, valueSize: 4)
        #expect(try render(pcpu, cpus: 2, [0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])
                == "key:\n00 00 00 00\nvalue (CPU 00): 01 00 00 00\nvalue (CPU 01): 02 00 00 00\n")
        let outer = MapInfo(type: .hashOfMaps, keySize: 4, valueSize: 4)
        #expect(try render(outer, [7, 0, 0, 0], [0x2a, 0, 0, 0]) == "key: 07 00 00 00  inner_map_id: 42 \n")
        #expect(try render(queue, [], [9, 0, 0, 0]) == "value: 09 00 00 00\n")
    }
}
