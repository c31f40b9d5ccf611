/// Text output of names and paths that come from object files, pins or
/// the kernel: a control character in a name (a newline that would forge a
/// line of output, an ESC that would drive the terminal) is printed as an
/// escape (`\n`, `\t`, `\x1b`, `\u{85}`). JSON output needs none of this:
/// the JSON writer escapes every control character.
enum TextEscape {
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return v < 0x20 || v == 0x7f || (v >= 0x80 && v < 0xa0) || v == 0x2028 || v == 0x2029
    }

    /// `s` with its control characters (tab included) escaped.
    static func controls(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isControl) else { return s }
        var out = ""
        for c in s.unicodeScalars {
            guard isControl(c) else { out.unicodeScalars.append(c); continue }
            switch c {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x80 {
                    let h = String(c.value, radix: 16)
                    out += "\\x" + (h.count < 2 ? "0" : "") + h
                } else {
                    out += "\\u{\(String(c.value, radix: 16))}"
                }
            }
        }
        return out
    }
}

/// A name or path for text output, control characters escaped (TextEscape).
func shown(_ s: String) -> String { TextEscape.controls(s) }

/// An optional name or path for text output.
func shown(_ s: String?) -> String? { s.map(TextEscape.controls) }
