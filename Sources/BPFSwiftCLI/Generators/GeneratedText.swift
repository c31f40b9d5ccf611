/// Escaping for everything generated code copies from an object file
/// (names of maps, programs, variables, types, members, sections): an
/// object is untrusted input, and a name may hold any bytes but NUL. A
/// newline ends a `//` comment, `*/` ends a C block comment, a quote ends a
/// string literal; identifiers must be identifiers, distinct, not keywords.
enum GeneratedText {
    /// Whether `c` ends or breaks a line somewhere (C0 controls but tab,
    /// DEL, C1 controls, and Unicode's line and paragraph separators).
    static func isLineBreaking(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return (v < 0x20 && v != 0x09) || v == 0x7f || (v >= 0x80 && v < 0xa0) || v == 0x2028 || v == 0x2029
    }

    /// `s` as one line of text: control characters as `\u{X}`. The
    /// CodePrinter applies it to every line, so no name can start a line of
    /// its own, whatever context it was put in.
    static func oneLine(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isLineBreaking) else { return s }
        var out = ""
        for c in s.unicodeScalars {
            if isLineBreaking(c) {
                out += "\\u{\(String(c.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Text for inside a C block comment: one line, and no `*/` (nor `/*`,
    /// which some compilers warn about).
    static func cComment(_ s: String) -> String {
        oneLine(s).replacingAll("*/", with: "*\\/").replacingAll("/*", with: "/\\*")
    }

    /// A C string literal holding the UTF-8 bytes of `s`: printable ASCII as
    /// is (but `"`, `\` and `?`, against trigraphs), everything else as
    /// three-digit octal escapes, which never swallow the next character.
    static func cString(_ s: String) -> String {
        var out = "\""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case UInt8(ascii: "?"): out += "\\?"
            case 0x20..<0x7f: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let o = String(b, radix: 8)
                out += "\\" + String(repeating: "0", count: 3 - o.count) + o
            }
        }
        return out + "\""
    }

    /// Identifiers for `originals` (C names from the object) in one scope,
    /// in the same order. `base` turns a name into an identifier (sanitized,
    /// keywords and reserved words suffixed). Names that are already their
    /// own identifier keep it; the others, when sanitizing made them collide
    /// with a name taken before, get `_2`, `_3`, ... Two equal original names
    /// cannot both be kept apart by the reader of the generated code: that
    /// is an error naming `scope`.
    static func uniqueIdentifiers(_ originals: [String], base: (String) -> String, taken: Set<String> = [],
                                  scope: String, language: String) throws -> [String] {
        var seenOriginal: Set<String> = []
        for o in originals where !seenOriginal.insert(o).inserted {
            throw CannotExpress("two \(scope) are both named \(oneLine(o)) in \(language)")
        }
        var used = taken
        var out = [String?](repeating: nil, count: originals.count)
        let bases = originals.map(base)
        for (i, o) in originals.enumerated() where bases[i] == o && !used.contains(o) {
            used.insert(o)
            out[i] = o
        }
        for i in originals.indices where out[i] == nil {
            var name = bases[i]
            if used.contains(name) {
                var n = 2
                while used.contains("\(bases[i])_\(n)") { n += 1 }
                name = "\(bases[i])_\(n)"
            }
            used.insert(name)
            out[i] = name
        }
        return out.map { $0! }
    }

    /// A C identifier for a name: sanitized, and not a C keyword (nor a C++
    /// one: the header has C++ methods and compiles as C++ too).
    static func cIdentifier(_ name: String) -> String {
        let s = SkeletonModel.sanitize(name)
        return SkeletonNaming.cKeywords.contains(s) || cppKeywords.contains(s) ? s + "_" : s
    }

    static let cppKeywords: Set<String> = [
        "alignas", "alignof", "asm", "catch", "class", "const_cast", "constexpr", "decltype", "delete",
        "dynamic_cast", "explicit", "export", "friend", "mutable", "namespace", "new", "noexcept", "nullptr",
        "operator", "private", "protected", "public", "reinterpret_cast", "static_assert", "static_cast",
        "template", "this", "thread_local", "throw", "try", "typeid", "typename", "using", "virtual",
    ]
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation here).
    func replacingAll(_ target: String, with replacement: String) -> String {
        let t = Array(target.utf8), src = Array(utf8)
        guard !t.isEmpty, src.count >= t.count else { return self }
        var out: [UInt8] = []
        out.reserveCapacity(src.count)
        var i = 0
        while i < src.count {
            if i + t.count <= src.count && src[i] == t[0] && Array(src[i..<i + t.count]) == t {
                out += replacement.utf8
                i += t.count
            } else {
                out.append(src[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
