import BPFCore

/// What `key ... value ... [any|exist|noexist]` said.
struct MapElementInput {
    var key: [UInt8]?
    var value: [UInt8]?
    var flag: MapUpdateFlag?
    /// The inner map or program a map-of-maps / prog_array value refers to:
    /// its descriptor number is the value, so it must stay open until the update.
    var reference: FileDescriptor?
}

/// Parses the element words after MAP the way bpftool's parse_elem does:
/// `key [hex] BYTES`, `value [hex] BYTES | MAP | PROG`, and an update flag,
/// in any order, keywords matched by prefix. Bytes are decimal (0x.. hex and
/// 0.. octal too, as strtoul reads them) or, after `hex`, hex. Mistakes are
/// usage errors that name the part and the count.
enum MapElementParser {
    static func parse(_ words: [String], info: MapInfo, wantKey: Bool, wantValue: Bool, allowFlags: Bool,
                      commandPath: String, warn: ((String) -> Void)? = nil) throws -> MapElementInput {
        func fail(_ m: String) -> UsageError { UsageError("\(commandPath): \(m)") }
        var out = MapElementInput()
        var i = 0
        while i < words.count {
            let w = words[i]
            if isPrefix(w, of: "key") {
                if out.key != nil { throw fail("duplicate key") }
                if !wantKey { throw fail("unnecessary key") }
                let start = i + 1
                out.key = try parseBytes(words, &i, after: start, name: "key", count: Int(info.keySize), fail)
            } else if isPrefix(w, of: "value") {
                if out.value != nil { throw fail("duplicate value") }
                if !wantValue { throw fail("unnecessary value") }
                i += 1
                if info.type.isMapOfMaps || info.type.isProgArray {
                    let what = info.type.isMapOfMaps ? "map in map" : "map of progs"
                    if info.valueSize != 4 { throw fail("value smaller than 4B for \(what)?") }
                    guard i + 1 < words.count else { throw fail("not enough value arguments for \(what)") }
                    let fd: FileDescriptor
                    if info.type.isMapOfMaps {
                        fd = try BPFMap.openOne(try mapSelector(words[i], words[i + 1], fail)).fd
                    } else {
                        if isPrefix(words[i], of: "id") {
                            warn?("Warning: updating program array via MAP_ID, make sure this map is kept open\n"
                                  + "         by some process or pinned otherwise update will be lost")
                        }
                        fd = try MapValueReference.openProgram(try progSelector(words[i], words[i + 1], fail))
                    }
                    i += 2
                    out.reference = fd
                    out.value = withUnsafeBytes(of: UInt32(bitPattern: fd.rawValue).littleEndian) { Array($0) }
                } else {
                    let start = i
                    out.value = try parseBytes(words, &i, after: start, name: "value", count: Int(info.valueSize), fail)
                }
            } else if isPrefix(w, of: "any") || isPrefix(w, of: "noexist") || isPrefix(w, of: "exist") {
                if !allowFlags || out.flag != nil { throw fail("flags specified multiple times: \(w)") }
                out.flag = isPrefix(w, of: "any") ? .any : (isPrefix(w, of: "noexist") ? .noExist : .exist)
                i += 1
            } else {
                throw fail("expected key or value, got: \(w)")
            }
        }
        if wantKey && out.key == nil { throw fail("did not find key") }
        if wantValue && out.value == nil { throw fail("did not find value") }
        return out
    }

    static func isKeyword(_ w: String) -> Bool {
        ["key", "value", "any", "noexist", "exist"].contains { isPrefix(w, of: $0) }
    }

    /// `[hex] BYTES`: exactly `count` bytes starting at `start`; leaves `i` after them.
    static func parseBytes(_ words: [String], _ i: inout Int, after start: Int, name: String, count: Int,
                           _ fail: (String) -> UsageError) throws -> [UInt8] {
        var j = start
        var base = 0
        if j < words.count, isPrefix(words[j], of: "hex") { base = 16; j += 1 }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count && j < words.count {
            let w = words[j]
            guard let v = parseCUnsigned(w, base: base) else {
                if isKeyword(w) { throw fail("\(name) expected \(count) bytes got \(bytes.count)") }
                throw fail("error parsing byte: \(w)" + (base == 16 ? " (expected hex digits)" : ""))
            }
            guard v <= 255 else { throw fail("error parsing byte: \(w) (a byte is 0 to 255)") }
            bytes.append(UInt8(v))
            j += 1
        }
        if bytes.count != count { throw fail("\(name) expected \(count) bytes got \(bytes.count)") }
        if j < words.count, !isKeyword(words[j]), parseCUnsigned(words[j], base: base) != nil {
            var extra = 0
            while j + extra < words.count, !isKeyword(words[j + extra]),
                  parseCUnsigned(words[j + extra], base: base) != nil { extra += 1 }
            throw fail("\(name) expected \(count) bytes got \(count + extra)")
        }
        i = j
        return bytes
    }

    /// `id ID | pinned FILE | name NAME`, words matched by prefix as bpftool does.
    static func mapSelector(_ word: String, _ value: String, _ fail: (String) -> UsageError) throws -> Selector {
        if isPrefix(word, of: "id") {
            guard let id = parseCUnsigned(value, base: 0), id <= UInt64(UInt32.max) else { throw fail("can't parse \(value) as ID") }
            return .id(UInt32(id))
        }
        if isPrefix(word, of: "name") {
            if value.utf8.count > 15 { throw fail("can't parse name: \(value) (map names have at most 15 characters)") }
            return .name(value)
        }
        if isPrefix(word, of: "pinned") { return .pinned(value) }
        throw fail("expected 'id', 'name' or 'pinned', got: '\(word)'?")
    }

    /// `id ID | tag TAG | name NAME | pinned FILE`, words matched by prefix.
    static func progSelector(_ word: String, _ value: String, _ fail: (String) -> UsageError) throws -> Selector {
        if isPrefix(word, of: "id") {
            guard let id = parseCUnsigned(value, base: 0), id <= UInt64(UInt32.max) else { throw fail("can't parse \(value) as ID") }
            return .id(UInt32(id))
        }
        if isPrefix(word, of: "tag") {
            guard value.utf8.count == 16, let v = parseCUnsigned(value, base: 16) else {
                throw fail("can't parse tag \(value)")
            }
            return .tag(withUnsafeBytes(of: v.bigEndian) { Array($0) })
        }
        if isPrefix(word, of: "name") { return .name(value) }
        if isPrefix(word, of: "pinned") { return .pinned(value) }
        throw fail("expected 'id', 'tag', 'name' or 'pinned', got: '\(word)'?")
    }
}
