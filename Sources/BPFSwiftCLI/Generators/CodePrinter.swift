/// Builds generated source text line by line with an indentation level,
/// so generators say what they emit instead of escaping format strings.
///
/// The text goes into one byte buffer as it is built: an array of line
/// Strings joined at the end, then copied into the output, made
/// `gen skeleton --lang c` grow its heap by ~360 KB for a 27 KB header.
struct CodePrinter {
    /// The text so far, UTF-8, every line newline-terminated.
    private(set) var bytes: [UInt8] = []
    private var level = 0
    private let unit: [UInt8]
    /// Where the last line starts in `bytes` (nil before the first), and
    /// whether it holds anything but ASCII: what `separator()` looks at.
    private var lastStart: Int?
    private var lastNonASCII = false

    /// `unit` is one level of indentation ("    " for Swift, "\t" for C);
    /// `capacity`, when known, how many bytes the text will take about.
    init(indentUnit unit: String = "    ", capacity: Int = 0) {
        self.unit = Array(unit.utf8)
        if capacity > 0 { bytes.reserveCapacity(capacity) }
    }

    /// One line at the current indentation (an empty line stays empty).
    /// Control characters (from names in the object) are escaped: nothing
    /// interpolated into a line can start a line of its own.
    mutating func line(_ text: String = "") {
        let start = bytes.count
        var nonASCII = false
        if !text.isEmpty {
            for _ in 0..<level { bytes.append(contentsOf: unit) }
            nonASCII = appendOneLine(text)
        }
        endLine(start: start, nonASCII: nonASCII)
    }

    /// Several lines at the current indentation.
    mutating func lines(_ texts: [String]) {
        for t in texts { line(t) }
    }

    /// A line exactly as given, without indentation (preprocessor lines,
    /// literal bodies).
    mutating func raw(_ text: String) {
        let start = bytes.count
        let nonASCII = appendOneLine(text)
        endLine(start: start, nonASCII: nonASCII)
    }

    /// Lines that `body` appends as bytes, without indentation or escaping:
    /// for a literal too long to build as Strings (an embedded object).
    /// `body` must append whole lines of printable ASCII and tabs, each
    /// ending in a newline.
    mutating func rawASCIILines(_ body: (inout [UInt8]) -> Void) {
        let from = bytes.count
        body(&bytes)
        guard bytes.count > from else { return }
        precondition(bytes[bytes.count - 1] == 10, "CodePrinter: raw lines must end in a newline")
        var start = bytes.count - 1
        while start > from && bytes[start - 1] != 10 { start -= 1 }
        lastStart = start
        lastNonASCII = false
    }

    mutating func indent() { level += 1 }

    mutating func outdent() {
        precondition(level > 0, "CodePrinter: outdent below zero")
        level -= 1
    }

    /// `open` (e.g. "public struct X {"), the body indented, then `close`.
    mutating func block(_ open: String, close: String = "}", _ body: (inout CodePrinter) throws -> Void) rethrows {
        line(open)
        indent()
        try body(&self)
        outdent()
        line(close)
    }

    /// An empty line unless the last one is already empty or opens a block.
    mutating func separator() {
        guard let start = lastStart else { return }
        let end = bytes.count - 1  // the last line's newline
        if end == start { return }
        if bytes[end - 1] == UInt8(ascii: "{") {
            // Whether the line ends in the Character "{" (not, say, a "{"
            // that a preceding scalar joined into one Character).
            if !lastNonASCII || String(decoding: bytes[start..<end], as: UTF8.self).hasSuffix("{") { return }
        }
        endLine(start: bytes.count, nonASCII: false)
    }

    /// The lines (without their newlines).
    var lines: [String] {
        var out: [String] = []
        var start = 0
        for i in bytes.indices where bytes[i] == 10 {
            out.append(String(decoding: bytes[start..<i], as: UTF8.self))
            start = i + 1
        }
        return out
    }

    /// The text, newline-terminated.
    var text: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func endLine(start: Int, nonASCII: Bool) {
        bytes.append(10)
        lastStart = start
        lastNonASCII = nonASCII
    }

    /// Appends `GeneratedText.oneLine(text)`; returns whether it holds
    /// anything but ASCII. Plain ASCII (the usual line) is copied as it is.
    private mutating func appendOneLine(_ text: String) -> Bool {
        func plain(_ b: UInt8) -> Bool { (b >= 0x20 && b < 0x7f) || b == 0x09 }
        let isPlain = text.utf8.withContiguousStorageIfAvailable { $0.allSatisfy(plain) }
            ?? text.utf8.allSatisfy(plain)
        if isPlain {
            bytes.append(contentsOf: text.utf8)
            return false
        }
        bytes.append(contentsOf: GeneratedText.oneLine(text).utf8)
        return true
    }
}
