/// Builds generated source text line by line with an indentation level,
/// so generators say what they emit instead of escaping format strings.
struct CodePrinter {
    private(set) var lines: [String] = []
    private var level = 0
    private let unit: String

    /// `unit` is one level of indentation ("    " for Swift, "\t" for C).
    init(indentUnit unit: String = "    ") {
        self.unit = unit
    }

    /// One line at the current indentation (an empty line stays empty).
    /// Control characters (from names in the object) are escaped: nothing
    /// interpolated into a line can start a line of its own.
    mutating func line(_ text: String = "") {
        lines.append(text.isEmpty ? "" : String(repeating: unit, count: level) + GeneratedText.oneLine(text))
    }

    /// Several lines at the current indentation.
    mutating func lines(_ texts: [String]) {
        for t in texts { line(t) }
    }

    /// A line exactly as given, without indentation (preprocessor lines,
    /// literal bodies).
    mutating func raw(_ text: String) {
        lines.append(GeneratedText.oneLine(text))
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
        guard let last = lines.last else { return }
        if last.isEmpty || last.hasSuffix("{") { return }
        lines.append("")
    }

    /// The text, newline-terminated.
    var text: String { lines.joined(separator: "\n") + "\n" }
}
