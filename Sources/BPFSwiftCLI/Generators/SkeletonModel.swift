#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// What the skeleton generators need to know about an object, gathered
/// once from libbpf's view of it (opened, never loaded), in the object's
/// order so that the output is deterministic.
struct SkeletonModel {
    /// Who may write a section of global variables.
    enum SectionAccess {
        case writable, writableUntilLoad, readOnly
    }

    struct Variable {
        let name: String
        /// The variable's type (the VAR's referenced type).
        let typeID: UInt32
        let offset: Int
        let size: Int
    }

    /// An mmapable internal map: `.bss`, `.data`, `.rodata`, `.data.*`, `.rodata.*`, `.kconfig`.
    struct Section {
        let mapName: String
        /// bpftool's identifier: "bss", "rodata", "data_foo".
        let ident: String
        let access: SectionAccess
        /// The DATASEC, when the object has BTF for it.
        let datasecID: UInt32?
        /// Non-static variables (static ones are not exposed, as in bpftool).
        let variables: [Variable]
        let size: Int
    }

    struct Map {
        let name: String
        /// bpftool's identifier: the map's name, or "bss"/"rodata"/... for internal maps.
        let ident: String
        let type: UInt32
        let isInternal: Bool
        let isStructOps: Bool
        let isPerCPU: Bool
        let keySize: Int
        let valueSize: Int
        let keyTypeID: UInt32
        let valueTypeID: UInt32
        let flags: UInt32
        /// The section of global variables it holds (mmapable internal maps).
        let section: Section?
    }

    struct Program {
        let name: String
        let sectionName: String
        /// The kernel program type number (`BPF_PROG_TYPE_*`).
        let type: UInt32
    }

    let fileName: String
    /// The name the object is opened under (internal map names derive from it).
    let objectName: String
    let elf: [UInt8]
    let object: BPFObject
    let btf: BTF?
    let maps: [Map]
    let programs: [Program]

    var sections: [Section] { maps.compactMap(\.section) }
    var structOpsMaps: [Map] { maps.filter(\.isStructOps) }

    static let mapTypeStructOps: UInt32 = 26
    static let mapTypeArena: UInt32 = 33
    static let mmapableFlag: UInt32 = 1 << 10
    static let perCPUTypes: Set<UInt32> = [5, 6, 10, 21]

    /// Opens `path` under `objectName` and reads its maps, programs and sections.
    static func read(path: String, objectName: String) throws -> SkeletonModel {
        let elf = try readELFFileBytes(path)
        let object = try BPFObject.open(bytes: elf, options: ObjectOpenOptions(objectName: objectName))
        let fileName = path.split(separator: "/").last.map(String.init) ?? path
        let btf = object.btf
        var maps: [Map] = []
        for m in object.maps {
            let isInternal = m.isInternal
            if m.type == mapTypeArena {
                throw BPFError("generate skeleton for \(fileName): map \(m.name) is an arena; skeletons of arena maps are not supported")
            }
            // bpftool leaves out internal maps of kinds it does not know; so do we
            // (they stay reachable through the object).
            guard let ident = mapIdent(name: m.name, isInternal: isInternal) else { continue }
            var section: Section?
            if isInternal && m.flags & mmapableFlag != 0 {
                section = try readSection(m, ident: ident, btf: btf, fileName: fileName)
            }
            maps.append(Map(name: m.name, ident: ident, type: m.type, isInternal: isInternal,
                            isStructOps: m.type == mapTypeStructOps, isPerCPU: perCPUTypes.contains(m.type),
                            keySize: Int(m.keySize), valueSize: Int(m.valueSize),
                            keyTypeID: isInternal ? 0 : m.btfKeyTypeID, valueTypeID: m.btfValueTypeID,
                            flags: m.flags, section: section))
        }
        let programs = object.programs.map { Program(name: $0.name, sectionName: $0.sectionName, type: $0.type) }
        return SkeletonModel(fileName: fileName, objectName: objectName, elf: elf, object: object, btf: btf,
                             maps: maps, programs: programs)
    }

    /// bpftool's map identifier: the name of a user map; for an internal
    /// map the part from its section suffix on, with the dot dropped and
    /// other non-identifier characters made '_' ("counter.rodata" → "rodata",
    /// ".data.foo" → "data_foo"). nil for an internal map of another kind.
    static func mapIdent(name: String, isInternal: Bool) -> String? {
        guard isInternal else { return name }
        let bytes = Array(name.utf8)
        for sfx in [".data", ".rodata", ".bss", ".kconfig"] {
            let s = Array(sfx.utf8)
            guard bytes.count >= s.count else { continue }
            for i in 0...(bytes.count - s.count) where Array(bytes[i..<i + s.count]) == s {
                return sanitize(String(decoding: bytes[(i + 1)...], as: UTF8.self))
            }
        }
        return nil
    }

    /// Non-identifier characters become '_' (bpftool's sanitize_identifier),
    /// and a name that is empty or starts with a digit gets a leading '_':
    /// the result is always an identifier (ASCII letters, digits, '_').
    static func sanitize(_ s: String) -> String {
        let out = String(s.unicodeScalars.map { c -> Character in
            let v = c.value
            let ok = (v >= 48 && v <= 57) || (v >= 65 && v <= 90) || (v >= 97 && v <= 122) || v == 95
            return ok ? Character(c) : "_"
        })
        if let f = out.unicodeScalars.first, f.value >= 48 && f.value <= 57 { return "_" + out }
        return out.isEmpty ? "_" : out
    }

    private static func readSection(_ m: ObjectMap, ident: String, btf: BTF?, fileName: String) throws -> Section {
        let access: SectionAccess
        if ident.hasPrefix("rodata") {
            access = .writableUntilLoad
        } else if ident == "kconfig" {
            access = .readOnly
        } else {
            access = .writable
        }
        var vars: [Variable] = []
        var datasec: UInt32?
        if let btf, m.btfValueTypeID != 0, let sec = btf.type(m.btfValueTypeID), sec.kind == .dataSection {
            datasec = sec.id
            for sv in sec.sectionVariables {
                guard let v = btf.type(sv.typeID), v.kind == .variable else { continue }
                if v.linkage == 0 { continue }  // static: not exposed
                vars.append(Variable(name: v.name, typeID: v.referencedType, offset: Int(sv.offset), size: Int(sv.size)))
            }
        }
        return Section(mapName: m.name, ident: ident, access: access, datasecID: datasec, variables: vars,
                       size: Int(m.valueSize))
    }
}

/// Names for generated code.
enum SkeletonNaming {
    /// The part of a file name before its first '.' (libbpf's default object
    /// name: "counter.bpf.o" → "counter"), at most 15 bytes as libbpf keeps.
    static func objectName(fromPath path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        let stem = base.split(separator: ".", omittingEmptySubsequences: false).first.map(String.init) ?? base
        return String(decoding: Array(stem.utf8.prefix(15)), as: UTF8.self)
    }

    /// The default Swift type name: UpperCamelCase of the file stem plus
    /// "Skeleton" ("counter.bpf.o" → "CounterSkeleton", "skel_maps.bpf.o" → "SkelMapsSkeleton").
    static func swiftTypeName(fromPath path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        let stem = base.split(separator: ".", omittingEmptySubsequences: false).first.map(String.init) ?? base
        var out = ""
        var word = ""
        func flush() {
            if let f = word.first { out += f.uppercased() + word.dropFirst() }
            word = ""
        }
        for c in stem.unicodeScalars {
            let v = c.value
            if (v >= 48 && v <= 57) || (v >= 65 && v <= 90) || (v >= 97 && v <= 122) {
                word.unicodeScalars.append(c)
            } else {
                flush()
            }
        }
        flush()
        return out + "Skeleton"
    }

    /// bpftool's default C name: the file name without ".o", sanitized
    /// ("counter.bpf.o" → "counter_bpf").
    static func cName(fromPath path: String) -> String {
        var base = path.split(separator: "/").last.map(String.init) ?? path
        base = String(decoding: Array(base.utf8.prefix(63)), as: UTF8.self)
        if base.hasSuffix(".o") { base.removeLast(2) }
        return SkeletonModel.sanitize(base)
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first else { return false }
        if first.value >= 48 && first.value <= 57 { return false }
        return s.unicodeScalars.allSatisfy { c in
            let v = c.value
            return (v >= 48 && v <= 57) || (v >= 65 && v <= 90) || (v >= 97 && v <= 122) || v == 95
        }
    }

    static let swiftKeywords: Set<String> = [
        "associatedtype", "borrowing", "class", "consuming", "deinit", "enum", "extension", "fileprivate", "func",
        "import", "init", "inout", "internal", "let", "nonisolated", "open", "operator", "private", "precedencegroup",
        "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case",
        "catch", "continue", "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat",
        "return", "throw", "switch", "where", "while", "Any", "as", "await", "false", "is", "nil", "self", "Self",
        "super", "throws", "true", "try", "_",
    ]

    /// Names that cannot be used as members even in backticks (they mean
    /// something on every value or type), so they get a '_' suffix.
    static let swiftSpecialMembers: Set<String> = ["self", "Self", "init", "deinit", "Type", "Protocol", "_", "subscript"]

    static let cKeywords: Set<String> = [
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
        "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
        "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
        "_Bool", "_Complex", "_Imaginary", "bool", "true", "false",
    ]

    /// Checks a Swift type name given with `name NAME`.
    static func validateSwiftTypeName(_ name: String) throws {
        guard isIdentifier(name), !swiftKeywords.contains(name), !swiftSpecialMembers.contains(name) else {
            throw UsageError("gen skeleton: invalid name '\(name)': expected a Swift identifier (letters, digits, '_', not starting with a digit)")
        }
    }

    /// Checks a C identifier given with `name NAME`.
    static func validateCName(_ name: String) throws {
        guard isIdentifier(name), !cKeywords.contains(name), name.utf8.count < 64 else {
            throw UsageError("gen skeleton: invalid name '\(name)': expected a C identifier of at most 63 characters")
        }
    }
}
