import BPFCore

/// A usage error: wrong words on the command line. Exit status 2.
public struct UsageError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One verb of an object: its name in the table, its usage lines, and what it runs.
public struct Command {
    public let name: String
    /// Usage lines without the "bpfswift OBJECT" prefix, e.g. "{ show | list } [PROG]".
    public let usage: [String]
    /// What the command does, for man pages and `help` (one paragraph).
    public var summary: String { summaryText() }
    public let run: (inout Arguments, Context) throws -> Void
    /// Made when read: every run builds the table it dispatches into, and a
    /// summary with an interpolation (object pin's) cost more to build than
    /// the rest of the table (String appends of ~1 KB: 38K instructions).
    private let summaryText: () -> String

    public init(_ name: String, usage: [String], summary: @autoclosure @escaping () -> String = "",
                run: @escaping (inout Arguments, Context) throws -> Void) {
        self.name = name
        self.usage = usage
        self.summaryText = summary
        self.run = run
    }
}

/// One object's command table (bpftool's `struct cmd[]`) and its help.
public struct CommandGroup {
    public let name: String
    public let summary: String
    public let commands: [Command]
    /// Grammar lines printed after the verbs (e.g. "PROG := { id PROG_ID | ... }").
    public let grammar: [String]

    public init(name: String, summary: String, commands: [Command], grammar: [String] = []) {
        self.name = name
        self.summary = summary
        self.commands = commands
        self.grammar = grammar
    }

    /// The full usage text, as `bpfswift OBJECT help` prints it.
    public var usageText: String {
        var lines: [String] = []
        var first = true
        for c in commands where !c.usage.isEmpty {
            for u in c.usage {
                lines.append((first ? "Usage: " : "       ") + "bpfswift [OPTIONS] \(name) " + u)
                first = false
            }
        }
        if first { lines.append("Usage: bpfswift [OPTIONS] \(name) { COMMAND | help }") }
        lines.append("       bpfswift \(name) help")
        if !grammar.isEmpty {
            lines.append("")
            lines.append(contentsOf: grammar.map { "       " + $0 })
        }
        lines.append("       " + CLI.optionsGrammar)
        return lines.joined(separator: "\n") + "\n"
    }

    /// bpftool's cmd_select: the first entry that starts with `word` (never
    /// for an empty word: `object ""` must not select `pin`).
    public func select(_ word: String) -> Command? {
        guard !word.isEmpty else { return nil }
        return commands.first { $0.name.hasPrefix(word) }
    }
}

/// The words after the verb, consumed left to right.
public struct Arguments {
    public private(set) var items: [String]
    public private(set) var index = 0
    /// "bpfswift prog show", for messages.
    public let commandPath: String

    public init(_ items: [String], commandPath: String) {
        self.items = items
        self.commandPath = commandPath
    }

    public var isEmpty: Bool { index >= items.count }
    public var remaining: [String] { Array(items[index...]) }
    public func peek(_ offset: Int = 0) -> String? {
        index + offset < items.count ? items[index + offset] : nil
    }

    public mutating func next() -> String? {
        guard index < items.count else { return nil }
        defer { index += 1 }
        return items[index]
    }

    /// The next word, or a usage error naming what was expected.
    public mutating func require(_ what: String) throws -> String {
        guard let v = next() else { throw UsageError("\(commandPath): expected \(what)") }
        return v
    }

    /// Consumes `word` when it is next (exact match).
    public mutating func accept(_ word: String) -> Bool {
        if peek() == word { index += 1; return true }
        return false
    }

    /// Fails with a usage error if anything is left.
    public func expectEnd() throws {
        if let extra = peek() {
            throw UsageError("\(commandPath): unexpected argument '\(extra)'")
        }
    }

    /// Removes every `--flag VALUE` pair (and `--flag=VALUE`) from the remaining
    /// words and returns the values, in order.
    public mutating func extractOption(_ flag: String) throws -> [String] {
        var values: [String] = []
        var kept: [String] = Array(items[..<index])
        var i = index
        while i < items.count {
            let w = items[i]
            if w == flag {
                guard i + 1 < items.count else { throw UsageError("\(commandPath): \(flag) needs a value") }
                values.append(items[i + 1]); i += 2; continue
            }
            if w.hasPrefix(flag + "=") { values.append(String(w.dropFirst(flag.count + 1))); i += 1; continue }
            kept.append(w); i += 1
        }
        items = kept
        return values
    }

    /// Removes every `--flag` (no value) and says whether there was one.
    public mutating func extractFlag(_ flag: String) -> Bool {
        let before = items.count
        items = Array(items[..<index]) + items[index...].filter { $0 != flag }
        return items.count != before
    }

    /// Parses `id ID | pinned FILE | tag TAG | name NAME`, limited to `allowed` words.
    public mutating func selector(_ kindWord: String, allowed: [String]) throws -> Selector {
        // Built only for an error message: every show/dump/pin passes here.
        func grammar() -> String {
            allowed.map { w -> String in
                switch w {
                case "id": return "id ID"
                case "pinned": return "pinned FILE"
                case "tag": return "tag TAG"
                default: return "name NAME"
                }
            }.joined(separator: " | ")
        }
        guard let word = next() else {
            throw UsageError("\(commandPath): expected \(kindWord) := { \(grammar()) }")
        }
        guard allowed.contains(word) else {
            throw UsageError("\(commandPath): expected \(kindWord) := { \(grammar()) }, got '\(word)'")
        }
        guard let value = next() else {
            throw UsageError("\(commandPath): '\(word)' needs a value: expected \(kindWord) := { \(grammar()) }")
        }
        switch word {
        case "id":
            guard let v = UInt32(value) else { throw UsageError("\(commandPath): can't parse '\(value)' as ID") }
            return .id(v)
        case "pinned":
            return .pinned(value)
        case "tag":
            let b = Array(value.utf8)
            guard b.count == 16, let bytes = parseHexBytes(value) else {
                throw UsageError("\(commandPath): can't parse tag '\(value)': expected 16 hex digits")
            }
            return .tag(bytes)
        default:
            guard !value.isEmpty else { throw UsageError("\(commandPath): empty name") }
            return .name(value)
        }
    }
}

/// "aabbcc" → [0xaa, 0xbb, 0xcc]; nil on odd length or a non-hex digit.
func parseHexBytes(_ s: String) -> [UInt8]? {
    let b = Array(s.utf8)
    guard b.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(b.count / 2)
    var i = 0
    while i < b.count {
        guard let hi = hexValue(b[i]), let lo = hexValue(b[i + 1]) else { return nil }
        out.append(hi << 4 | lo)
        i += 2
    }
    return out
}

func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: return c - 48
    case 97...102: return c - 87
    case 65...70: return c - 55
    default: return nil
    }
}
