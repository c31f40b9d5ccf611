import BPFCore

/// Something in the object that generated Swift cannot express.
struct CannotExpress: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// How a BTF type is spelled and coded in generated Swift.
struct SwiftTypeRef {
    /// The Swift type: "UInt32", "Types.flow_key", "[Int8]".
    let name: String
    /// An expression of its BTFCodec: "UInt32.btfCodec", "BTFLayout.array(Int8.btfCodec, count: 7)".
    let codec: String
    /// An expression of its zero value.
    let zero: String
    /// How a bitfield of this type converts from its bits; nil when it cannot be one.
    let bitfield: Bitfield?

    enum Bitfield {
        case integer(signed: Bool)
        case bool
        case enumeration(rawType: String, signed: Bool)
    }
}

/// Maps BTF types to Swift types for a skeleton and collects the
/// declarations of the structs, unions and enums it needs (nested in the
/// skeleton's `Types` namespace, keeping their C names).
final class SwiftTypeMapper {
    let btf: BTF
    /// BTF id → Swift type name, for declared types.
    private var names: [UInt32: String] = [:]
    private var used: Set<String> = []
    private var inProgress: Set<UInt32> = []
    /// How deep `ref` is: bounded, as BTF from a file may hold cycles.
    private var refDepth = 0
    /// Declarations, in the order they were completed (dependencies first).
    private(set) var declarations: [[String]] = []

    /// Type names generated code relies on; a C type of that name gets a suffix.
    static let reservedTypeNames: Set<String> = [
        "Int", "Int8", "Int16", "Int32", "Int64", "Int128", "UInt", "UInt8", "UInt16", "UInt32", "UInt64", "UInt128",
        "Bool", "Float", "Double", "Array", "String", "Optional", "Never", "Swift", "BPFCore", "Types",
        "BTFCodable", "BTFCodec", "BTFLayout", "Hashable", "Equatable", "RawRepresentable",
        "UnsafeRawBufferPointer", "UnsafeMutableRawBufferPointer",
    ]

    init(btf: BTF) { self.btf = btf }

    private func describe(_ id: UInt32) -> String {
        guard let t = btf.type(id) else { return "void" }
        return t.name.isEmpty ? "anonymous \(t.kind) (BTF id \(id))" : "\(t.kind) \(t.name) (BTF id \(id))"
    }

    /// The Swift type of BTF type `id`. `context` names anonymous types
    /// ("cfg" for `struct { ... } cfg;` gives `anon_cfg`).
    func ref(_ id: UInt32, context: String) throws -> SwiftTypeRef {
        // Malformed BTF can make typedefs, modifiers or arrays refer back to themselves.
        refDepth += 1
        defer { refDepth -= 1 }
        guard refDepth <= 64 else { throw CannotExpress("\(context) has a type that refers to itself (\(describe(id)))") }
        guard let t = btf.type(id) else { throw CannotExpress("\(context) has type void") }
        switch t.kind {
        case .typedef:
            // A typedef of an anonymous struct/union/enum names it.
            let target = btf.skipModifiers(t.referencedType)
            if let tt = btf.type(target), tt.name.isEmpty,
               tt.kind == .structure || tt.kind == .union || tt.kind == .enumeration || tt.kind == .enum64 {
                return try declared(tt, preferredName: t.name)
            }
            return try ref(t.referencedType, context: context)
        case .volatile, .const, .restrict, .typeTag:
            return try ref(t.referencedType, context: context)
        case .int:
            return try intRef(t, context: context)
        case .float:
            switch t.size {
            case 4: return scalar("Float", zero: "0")
            case 8: return scalar("Double", zero: "0")
            default: throw CannotExpress("\(context) has a \(t.size)-byte float type \(t.name), which Swift lacks")
            }
        case .ptr:
            // Pointers in BPF memory are kernel addresses: plain integers here.
            let size = btf.sizeOf(id) ?? 8
            guard size == 8 || size == 4 else { throw CannotExpress("\(context) has a \(size)-byte pointer") }
            return scalar(size == 8 ? "UInt64" : "UInt32", zero: "0")
        case .array:
            let elem = try ref(t.arrayElementType, context: context)
            let n = Int(t.arrayCount)
            return SwiftTypeRef(name: "[\(elem.name)]", codec: "BTFLayout.array(\(elem.codec), count: \(n))",
                                zero: "Array(repeating: \(elem.zero), count: \(n))", bitfield: nil)
        case .structure, .union, .enumeration, .enum64:
            return try declared(t, preferredName: t.name.isEmpty ? "anon_" + context : t.name)
        case .fwd:
            throw CannotExpress("\(context) has the incomplete type \(t.name) (a forward declaration)")
        default:
            throw CannotExpress("\(context) has type \(describe(id)), which has no Swift form")
        }
    }

    // MARK: every type of the object's BTF

    /// Declares every named struct, union and enum of the object's BTF (and
    /// the anonymous ones a typedef names), after the types the maps and
    /// globals need, in BTF order: events sent through ring or perf buffers
    /// are types no map declares. A type that Swift cannot express (a
    /// bit-sized integer, a 16-byte float, a forward declaration member) is
    /// left out with its reason in `omitted`, and leaves nothing half-declared.
    func declareAllTypes(limit: UInt32 = 1 << 16) {
        let count = min(btf.typeCount, limit)
        guard count > 1 else { return }
        for id in 1..<count {
            guard let t = btf.type(id) else { continue }
            switch t.kind {
            case .structure, .union, .enumeration, .enum64:
                guard !t.name.isEmpty, names[id] == nil else { continue }
            case .typedef:
                let target = btf.skipModifiers(t.referencedType)
                guard !t.name.isEmpty, let tt = btf.type(target), tt.name.isEmpty, names[target] == nil,
                      tt.kind == .structure || tt.kind == .union || tt.kind == .enumeration || tt.kind == .enum64
                else { continue }
            default:
                continue
            }
            let saved = (names, used, inProgress, declarations)
            do {
                _ = try ref(id, context: t.name)
            } catch let e as CannotExpress {
                (names, used, inProgress, declarations) = saved
                omitted.append("\(t.kind) \(t.name): \(e.message)")
            } catch {
                (names, used, inProgress, declarations) = saved
                omitted.append("\(t.kind) \(t.name): \(error)")
            }
        }
    }

    /// Types `declareAllTypes` left out, and why.
    private(set) var omitted: [String] = []

    private func scalar(_ name: String, zero: String, bitfield: SwiftTypeRef.Bitfield? = nil) -> SwiftTypeRef {
        SwiftTypeRef(name: name, codec: "\(name).btfCodec", zero: zero, bitfield: bitfield)
    }

    private func intRef(_ t: BTFType, context: String) throws -> SwiftTypeRef {
        if t.isBool {
            guard t.size == 1 else { throw CannotExpress("\(context) has a \(t.size)-byte bool") }
            return scalar("Bool", zero: "false", bitfield: .bool)
        }
        guard t.intBitOffset == 0, Int(t.intBits) == Int(t.size) * 8 else {
            throw CannotExpress("\(context) has the bit-sized integer type \(t.name)")
        }
        let signed = t.isSignedInt
        let name: String
        switch t.size {
        case 1: name = signed ? "Int8" : "UInt8"
        case 2: name = signed ? "Int16" : "UInt16"
        case 4: name = signed ? "Int32" : "UInt32"
        case 8: name = signed ? "Int64" : "UInt64"
        case 16: name = signed ? "Int128" : "UInt128"
        default: throw CannotExpress("\(context) has the \(t.size)-byte integer type \(t.name)")
        }
        return scalar(name, zero: "0", bitfield: t.size <= 8 ? .integer(signed: signed) : nil)
    }

    /// The integer type of an enum's values.
    private func enumRawType(_ t: BTFType) throws -> String {
        let signed = t.isSignedEnum
        switch t.size {
        case 1: return signed ? "Int8" : "UInt8"
        case 2: return signed ? "Int16" : "UInt16"
        case 4: return signed ? "Int32" : "UInt32"
        case 8: return signed ? "Int64" : "UInt64"
        default: throw CannotExpress("enum \(t.name) has size \(t.size)")
        }
    }

    private func unique(_ base: String) -> String {
        var name = SkeletonModel.sanitize(base)
        if SkeletonNaming.swiftKeywords.contains(name) || SkeletonNaming.swiftSpecialMembers.contains(name)
            || SwiftTypeMapper.reservedTypeNames.contains(name) {
            name += "_"
        }
        if !used.contains(name) { used.insert(name); return name }
        var n = 2
        while used.contains("\(name)_\(n)") { n += 1 }
        used.insert("\(name)_\(n)")
        return "\(name)_\(n)"
    }

    private func declared(_ t: BTFType, preferredName: String) throws -> SwiftTypeRef {
        let name: String
        if let existing = names[t.id] {
            name = existing
        } else {
            name = unique(preferredName)
            names[t.id] = name
            inProgress.insert(t.id)
            let decl: [String]
            switch t.kind {
            case .structure: decl = try structDecl(t, name: name)
            case .union: decl = try unionDecl(t, name: name)
            default: decl = try enumDecl(t, name: name)
            }
            inProgress.remove(t.id)
            declarations.append(decl)
        }
        let qualified = "Types." + name
        var bitfield: SwiftTypeRef.Bitfield?
        if t.kind == .enumeration || t.kind == .enum64 {
            bitfield = .enumeration(rawType: try enumRawType(t), signed: t.isSignedEnum)
        }
        return SwiftTypeRef(name: qualified, codec: "\(qualified).btfCodec", zero: "\(qualified)()", bitfield: bitfield)
    }

    /// A member's Swift name in a scope, before uniquing: sanitized, with a
    /// '_' suffix for names that no member may have (or that the scope reserves).
    static func memberBase(_ cName: String, reserved: Set<String>) -> String {
        var n = SkeletonModel.sanitize(cName)
        if reserved.contains(n) || SkeletonNaming.swiftSpecialMembers.contains(n) { n += "_" }
        return n
    }

    /// Keywords in backticks.
    static func backticked(_ n: String) -> String {
        SkeletonNaming.swiftKeywords.contains(n) ? "`\(n)`" : n
    }

    /// A member's Swift name (alone in its scope).
    static func memberName(_ cName: String, reserved: Set<String>) -> String {
        backticked(memberBase(cName, reserved: reserved))
    }

    /// The Swift names of the members of one scope: valid, distinct (a name
    /// that sanitizing made equal to another gets a `_2` suffix), keywords
    /// in backticks. Two equal C names are an error naming `scope`.
    static func memberNames(_ cNames: [String], reserved: Set<String>, scope: String) throws -> [String] {
        try GeneratedText.uniqueIdentifiers(cNames, base: { memberBase($0, reserved: reserved) },
                                            scope: scope, language: "Swift").map(backticked)
    }

    private struct Member {
        let swiftName: String
        let cName: String
        let type: SwiftTypeRef
        let byteOffset: Int
        let bitOffset: Int
        let bitSize: Int
        /// N for a `char[N]` member (a C string), else nil.
        var charArrayCount: Int? = nil
    }

    /// N when `typeID` is `char[N]` (modifiers skipped).
    private func charArrayCount(_ typeID: UInt32) -> Int? {
        guard let a = btf.type(btf.skipModifiers(typeID)), a.kind == .array, a.arrayCount > 0,
              let e = btf.type(btf.skipModifiers(a.arrayElementType)), e.kind == .int, e.size == 1, e.name == "char"
        else { return nil }
        return Int(a.arrayCount)
    }

    /// For a struct with `char[N]` members: an initializer taking those as
    /// Strings (`Types.key(comm: "bash")`), the other members as in the
    /// memberwise one; a string that does not fit throws.
    private func stringInitializer(_ ms: [Member], _ p: inout CodePrinter) {
        let strings = ms.filter { $0.charArrayCount != nil }
        guard !strings.isEmpty else { return }
        let params = ms.map { m in
            m.charArrayCount != nil ? "\(m.swiftName): String" : "\(m.swiftName): \(m.type.name) = \(m.type.zero)"
        }.joined(separator: ", ")
        p.line()
        p.line("/// With the `char` arrays from strings (UTF-8, NUL-padded); one that does not fit throws.")
        p.block("public init(\(params)) throws(BPFError) {") { p in
            for m in ms {
                if let n = m.charArrayCount {
                    p.line("self.\(m.swiftName) = try [Int8](cString: \(m.swiftName), count: \(n), member: \(quote(m.cName)))")
                } else {
                    p.line("self.\(m.swiftName) = \(m.swiftName)")
                }
            }
        }
    }

    private func members(of t: BTFType, typeName: String, reserved: Set<String>) throws -> [Member] {
        var out: [Member] = []
        let cNames = t.members.enumerated().map { i, m in m.name.isEmpty ? "anon\(i)" : m.name }
        let swiftNames = try SwiftTypeMapper.memberNames(cNames, reserved: reserved, scope: "members of \(typeName)")
        for (i, m) in t.members.enumerated() {
            let cName = cNames[i]
            let swiftName = swiftNames[i]
            let type = try ref(m.typeID, context: "\(typeName)_\(SkeletonModel.sanitize(cName))")
            if m.bitfieldSize == 0 && m.bitOffset % 8 != 0 {
                throw CannotExpress("member \(cName) of \(typeName) starts at bit \(m.bitOffset), not on a byte")
            }
            if m.bitfieldSize != 0 && type.bitfield == nil {
                throw CannotExpress("bitfield \(cName) of \(typeName) has type \(type.name)")
            }
            out.append(Member(swiftName: swiftName, cName: cName, type: type, byteOffset: Int(m.bitOffset / 8),
                              bitOffset: Int(m.bitOffset), bitSize: Int(m.bitfieldSize),
                              charArrayCount: m.bitfieldSize == 0 ? charArrayCount(m.typeID) : nil))
        }
        return out
    }

    private func loadExpr(_ m: Member, buffer: String) -> String {
        guard m.bitSize != 0, let bf = m.type.bitfield else {
            return "\(m.type.codec).load(\(buffer), at: \(m.byteOffset))"
        }
        let signed: Bool
        switch bf {
        case .integer(let s): signed = s
        case .bool: signed = false
        case .enumeration(_, let s): signed = s
        }
        let bits = "BTFLayout.loadBits(\(buffer), bitOffset: \(m.bitOffset), bitSize: \(m.bitSize), signed: \(signed))"
        switch bf {
        case .integer: return "\(m.type.name)(truncatingIfNeeded: \(bits))"
        case .bool: return "\(bits) != 0"
        case .enumeration(let raw, _): return "\(m.type.name)(rawValue: \(raw)(truncatingIfNeeded: \(bits)))"
        }
    }

    private func storeStmt(_ m: Member, value: String, buffer: String) -> String {
        guard m.bitSize != 0, let bf = m.type.bitfield else {
            return "\(m.type.codec).store(\(value), \(buffer), at: \(m.byteOffset))"
        }
        let bits: String
        switch bf {
        case .integer: bits = "UInt64(truncatingIfNeeded: \(value))"
        case .bool: bits = "\(value) ? 1 : 0"
        case .enumeration: bits = "UInt64(truncatingIfNeeded: \(value).rawValue)"
        }
        return "BTFLayout.storeBits(\(bits), \(buffer), bitOffset: \(m.bitOffset), bitSize: \(m.bitSize))"
    }

    private func structDecl(_ t: BTFType, name: String) throws -> [String] {
        let ms = try members(of: t, typeName: name, reserved: ["btfSize", "btfCodec", "btfBytes"])
        var p = CodePrinter()
        p.line("/// `struct \(t.name.isEmpty ? "(anonymous)" : t.name)`: \(t.size) bytes.")
        p.block("public struct \(name): BTFCodable, Hashable {") { p in
            p.line("public static let btfSize = \(t.size)")
            for m in ms {
                let where_ = m.bitSize != 0 ? "bits \(m.bitOffset)..<\(m.bitOffset + m.bitSize)" : "offset \(m.byteOffset)"
                p.line("public var \(m.swiftName): \(m.type.name)  // \(where_)")
            }
            p.line()
            if ms.isEmpty {
                p.line("public init() {}")
            } else {
                let params = ms.map { "\($0.swiftName): \($0.type.name) = \($0.type.zero)" }.joined(separator: ", ")
                p.block("public init(\(params)) {") { p in
                    for m in ms { p.line("self.\(m.swiftName) = \(m.swiftName)") }
                }
            }
            stringInitializer(ms, &p)
            p.line()
            p.block("public init(btfBytes b: UnsafeRawBufferPointer) {") { p in
                for m in ms { p.line("self.\(m.swiftName) = \(loadExpr(m, buffer: "b"))") }
            }
            p.line()
            p.block("public func encode(btfBytes b: UnsafeMutableRawBufferPointer) {") { p in
                p.line("BTFLayout.zero(b, count: Self.btfSize)")
                for m in ms { p.line(storeStmt(m, value: "self.\(m.swiftName)", buffer: "b")) }
            }
        }
        return p.lines
    }

    private func unionDecl(_ t: BTFType, name: String) throws -> [String] {
        let ms = try members(of: t, typeName: name, reserved: ["btfSize", "btfCodec", "btfBytes", "bytes"])
        var p = CodePrinter()
        p.line("/// `union \(t.name.isEmpty ? "(anonymous)" : t.name)`: \(t.size) bytes; every member views the same bytes.")
        p.block("public struct \(name): BTFCodable, Hashable {") { p in
            p.line("public static let btfSize = \(t.size)")
            p.line("/// The union's bytes, which the members read and write.")
            p.line("public var bytes: [UInt8]")
            p.line()
            p.line("public init() { self.bytes = [UInt8](repeating: 0, count: \(t.size)) }")
            p.line()
            p.line("public init(btfBytes b: UnsafeRawBufferPointer) { self.bytes = Array(b.prefix(\(t.size))) }")
            p.line()
            p.line("public func encode(btfBytes b: UnsafeMutableRawBufferPointer) { BTFLayout.copy(self.bytes, into: b) }")
            for m in ms {
                p.line()
                p.block("public var \(m.swiftName): \(m.type.name) {") { p in
                    p.line("get { self.bytes.withUnsafeBytes { \(loadExpr(m, buffer: "$0")) } }")
                    p.line("set { self.bytes.withUnsafeMutableBytes { \(storeStmt(m, value: "newValue", buffer: "$0")) } }")
                }
            }
        }
        return p.lines
    }

    private func enumDecl(_ t: BTFType, name: String) throws -> [String] {
        let raw = try enumRawType(t)
        let reserved: Set<String> = ["btfSize", "btfCodec", "btfBytes", "rawValue"]
        let cases = try SwiftTypeMapper.memberNames(t.enumerators.map(\.name), reserved: reserved,
                                                    scope: "cases of enum \(name)")
        var p = CodePrinter()
        p.line("/// `enum \(t.name.isEmpty ? "(anonymous)" : t.name)`: \(t.size) bytes; any \(raw) is a valid value, as in C.")
        p.block("public struct \(name): BTFCodable, Hashable, RawRepresentable {") { p in
            p.line("public static let btfSize = \(t.size)")
            p.line("public var rawValue: \(raw)")
            p.line()
            p.line("public init(rawValue: \(raw)) { self.rawValue = rawValue }")
            p.line("public init() { self.rawValue = 0 }")
            p.line("public init(btfBytes b: UnsafeRawBufferPointer) { self.rawValue = \(raw).btfCodec.load(b, at: 0) }")
            p.line("public func encode(btfBytes b: UnsafeMutableRawBufferPointer) { \(raw).btfCodec.store(self.rawValue, b, at: 0) }")
            if !t.enumerators.isEmpty { p.line() }
            for (e, swiftName) in zip(t.enumerators, cases) {
                p.line("public static let \(swiftName) = \(name)(rawValue: \(enumLiteral(e.rawValue, size: Int(t.size), signed: t.isSignedEnum)))")
            }
        }
        return p.lines
    }

    private func enumLiteral(_ bits: UInt64, size: Int, signed: Bool) -> String {
        let width = size * 8
        let mask: UInt64 = width >= 64 ? ~0 : (1 << UInt64(width)) - 1
        let v = bits & mask
        if signed {
            // Sign-extend from the enum's width.
            let shift = UInt64(64 - width)
            return String(Int64(bitPattern: v << shift) >> Int64(shift))
        }
        return String(v)
    }
}

extension String {
    var trimmingBackticks: String {
        hasPrefix("`") && hasSuffix("`") && count >= 2 ? String(dropFirst().dropLast()) : self
    }
}
