/// `char[N]` members of generated types are `[Int8]`: a C string view and
/// a C string initializer for them (process names, file names, keys).
extension Array where Element == Int8 {
    /// The C string the bytes hold: up to the first NUL (or all of them),
    /// decoded as UTF-8 with invalid bytes replaced.
    public var string: String {
        let bytes = prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `count` bytes holding `string`'s UTF-8 bytes and NUL padding, as C
    /// code fills a `char[count]`. A string that does not fit with its NUL
    /// (or holds a NUL) is an error naming `member`, not a silent truncation
    /// that would make a key that matches nothing.
    public init(cString string: String, count: Int, member: String = "string") throws(BPFError) {
        let utf8 = [UInt8](string.utf8)
        guard utf8.count < count else {
            throw BPFError("\(member): \"\(string)\" is \(utf8.count) bytes; char[\(count)] holds at most \(count - 1) and a NUL",
                           errno: 22)
        }
        guard !utf8.contains(0) else {
            throw BPFError("\(member): the string holds a NUL byte", errno: 22)
        }
        self = utf8.map { Int8(bitPattern: $0) } + [Int8](repeating: 0, count: count - utf8.count)
    }
}

extension Array where Element == UInt8 {
    /// The C string the bytes hold: up to the first NUL, decoded as UTF-8 with invalid bytes replaced.
    public var string: String { String(decoding: prefix { $0 != 0 }, as: UTF8.self) }
}

/// `char[N]` members of generated types are `InlineArray<N, Int8>`: a C
/// string view and a C string initializer for them (process names, file
/// names, keys).
extension InlineArray where Element == Int8 {
    /// The C string the bytes hold: up to the first NUL (or all of them),
    /// decoded as UTF-8 with invalid bytes replaced.
    public var string: String {
        var bytes: [UInt8] = []
        for i in indices {
            if self[i] == 0 { break }
            bytes.append(UInt8(bitPattern: self[i]))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The `N` bytes holding `string`'s UTF-8 bytes and NUL padding, as C
    /// code fills a `char[N]`. A string that does not fit with its NUL (or
    /// holds a NUL) is an error naming `member`, not a silent truncation
    /// that would make a key that matches nothing.
    public init(cString string: String, member: String = "string") throws(BPFError) {
        let bytes = try [Int8](cString: string, count: Self.count, member: member)
        self.init { i in bytes[i] }
    }
}

/// `unsigned char[N]` members: the same string view and initializer.
extension InlineArray where Element == UInt8 {
    /// The C string the bytes hold: up to the first NUL, decoded as UTF-8 with invalid bytes replaced.
    public var string: String {
        var bytes: [UInt8] = []
        for i in indices {
            if self[i] == 0 { break }
            bytes.append(self[i])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The `N` bytes holding `string`'s UTF-8 bytes and NUL padding; one that
    /// does not fit with its NUL (or holds a NUL) is an error naming `member`.
    public init(cString string: String, member: String = "string") throws(BPFError) {
        let bytes = try [Int8](cString: string, count: Self.count, member: member)
        self.init { i in UInt8(bitPattern: bytes[i]) }
    }
}
