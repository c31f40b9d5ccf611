import BPFCore

/// Something in the object that generated Swift cannot express.
struct CannotExpress: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// How a BTF type is spelled and coded in generated Swift.
struct SwiftTypeRef {
    /// The Swift type: "UInt32", "Types.flow_key", "InlineArray<16, Int8>".
    let name: String
    /// An expression of its BTFCodec: "UInt32.btfCodec", "InlineArray<7, Int8>.btfCodec".
    let codec: String
    /// An expression of its zero value.
    let zero: String
    /// How a bitfield of this type converts from its bits; nil when it cannot be one.
    let bitfield: Bitfield?
    /// The C size, which is also the Swift type's `MemoryLayout` size and stride.
    var size: Int = 0
    /// The Swift type's alignment (at most the C alignment).
    var align: Int = 1
    /// The C alignment (natural alignment as BTF implies it; 1 for a packed struct).
    var cAlign: Int = 1
    /// Byte offsets of C `bool`s inside a value (Swift's Bool allows only 0 and 1).
    var boolOffsets: [Int] = []
    /// Whether `==` and `hash(into:)` are missing (InlineArray), so generated code compares bytes.
    var comparesBytes = false
    /// Byte ranges of padding inside a value (nested structs' and array elements' included), sorted.
    var padding: [Range<Int>] = []
    /// Whether its bytes outside `padding` decide its `==` (false when a float,
    /// which compares by value, is in it, or its padding is too scattered to list).
    var byteEquality = true
    /// Its zero value as a default argument (`.init(repeating: 0)`: the parameter's type is known).
    var defaultZero: String = "0"

    enum Bitfield {
        case integer(signed: Bool)
        case bool
        case enumeration(rawType: String, signed: Bool)
    }
}

/// What a generated type is, for tests that check its layout: the BTF type,
/// its Swift name and how each BTF member became Swift.
struct GeneratedTypeLayout {
    enum MemberForm: Equatable {
        /// A stored property at the member's BTF offset (`MemoryLayout.offset(of:)` gives it).
        case stored
        /// A computed property over the bytes at the member's BTF offset (union
        /// members, bitfields, members a packed struct does not align).
        case computed
        /// A bitfield: a computed property over its bits.
        case bitfield
        /// Not a property (a flexible array member: its elements follow the struct).
        case none
    }
    let btfID: UInt32
    let swiftName: String
    let members: [(swiftName: String, form: MemberForm)]
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
        "UnsafeRawBufferPointer", "UnsafeMutableRawBufferPointer", "InlineArray", "Sendable", "BitwiseCopyable",
        "Hasher", "MemoryLayout",
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
            case 4: var r = scalar("Float", zero: "0", size: 4); r.byteEquality = false; return r
            case 8: var r = scalar("Double", zero: "0", size: 8); r.byteEquality = false; return r
            default: throw CannotExpress("\(context) has a \(t.size)-byte float type \(t.name), which Swift lacks")
            }
        case .ptr:
            // Pointers in BPF memory are kernel addresses: plain integers here.
            let size = btf.sizeOf(id) ?? 8
            guard size == 8 || size == 4 else { throw CannotExpress("\(context) has a \(size)-byte pointer") }
            return scalar(size == 8 ? "UInt64" : "UInt32", zero: "0", size: size)
        case .array:
            let elem = try ref(t.arrayElementType, context: context)
            let n = Int(t.arrayCount)
            guard n <= 1 << 24, elem.size * n <= 1 << 28 else { throw CannotExpress("\(context) has an array of \(n) elements") }
            let name = "InlineArray<\(n), \(elem.name)>"
            var bools: [Int] = []
            if !elem.boolOffsets.isEmpty {
                for i in 0..<n { bools += elem.boolOffsets.map { $0 + i * elem.size } }
            }
            // The elements' padding, unless there is too much of it to list.
            let listable = n * elem.padding.count <= Self.maxPaddingRanges
            var padding: [Range<Int>] = []
            if listable {
                for i in 0..<n { padding += elem.padding.map { $0.lowerBound + i * elem.size..<$0.upperBound + i * elem.size } }
            }
            return SwiftTypeRef(name: name, codec: "\(name).btfCodec", zero: "\(name)(repeating: \(elem.zero))",
                                bitfield: nil, size: elem.size * n, align: elem.align, cAlign: elem.cAlign,
                                boolOffsets: bools, comparesBytes: true, padding: Self.merged(padding),
                                byteEquality: elem.byteEquality && listable,
                                defaultZero: ".init(repeating: \(elem.defaultZero))")
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
            if let full = fullTypes {
                let target = t.kind == .typedef ? btf.skipModifiers(t.referencedType) : id
                if !full.contains(target), let tt = btf.type(target) {
                    opaqueDecl(tt, name: t.name)
                    continue
                }
            }
            let saved = (names, used, inProgress, declarations, layouts, typeLayouts)
            do {
                _ = try ref(id, context: t.name)
            } catch let e as CannotExpress {
                (names, used, inProgress, declarations, layouts, typeLayouts) = saved
                omitted.append("\(t.kind) \(t.name): \(e.message)")
            } catch {
                (names, used, inProgress, declarations, layouts, typeLayouts) = saved
                omitted.append("\(t.kind) \(t.name): \(error)")
            }
        }
    }

    /// Types `declareAllTypes` left out, and why.
    private(set) var omitted: [String] = []

    /// The BTF ids of the structs, unions and enums `declareAllTypes`
    /// declares in full; nil: all of them. The others it names compactly
    /// (`opaqueDecl`).
    var fullTypes: Set<UInt32>?

    /// Types declared compactly, in declaration order (for tests of their size and alignment).
    private(set) var opaqueLayouts: [(btfID: UInt32, swiftName: String, size: Int, align: Int)] = []

    /// A type no map, global or program argument holds by value (the
    /// object reaches it through pointers or CO-RE relocations): a struct or
    /// union as a `BPFOpaque` of its C size and alignment, an enum as its
    /// integer type. One line each: an object built against vmlinux.h has
    /// a hundred of them.
    private func opaqueDecl(_ t: BTFType, name cName: String) {
        let size = Int(t.size)
        var align = 1
        let alias: String
        if t.kind == .structure || t.kind == .union {
            align = btf.alignOf(t.id) ?? 1
            while align > 1 && (size % align != 0 || align > 16) { align /= 2 }
            let unit = [1: "UInt8", 2: "UInt16", 4: "UInt32", 8: "UInt64", 16: "UInt128"][align] ?? "UInt8"
            if unit == "UInt8" { align = 1 }
            alias = "BPFOpaque<\(size / align), \(unit)>"
        } else {
            guard let raw = try? enumRawType(t) else { return }
            align = size
            alias = raw
        }
        let name = unique(cName)
        names[t.id] = name
        opaqueLayouts.append((t.id, name, size, align))
        declarations.append(["public typealias \(name) = \(alias)"])
    }

    /// The structs, unions and enums that the types at `roots` hold by
    /// value (through typedefs, modifiers, arrays and members; not through
    /// pointers), themselves included.
    static func usedTypes(_ btf: BTF, roots: [UInt32]) -> Set<UInt32> {
        var out: Set<UInt32> = []
        var seen: Set<UInt32> = []
        var work = roots
        while let id = work.popLast() {
            guard seen.insert(id).inserted, let t = btf.type(id) else { continue }
            switch t.kind {
            case .typedef, .volatile, .const, .restrict, .typeTag: work.append(t.referencedType)
            case .array: work.append(t.arrayElementType)
            case .structure, .union:
                out.insert(id)
                work += t.members.map(\.typeID)
            case .enumeration, .enum64: out.insert(id)
            default: break
            }
        }
        return out
    }

    private func scalar(_ name: String, zero: String, size: Int, bitfield: SwiftTypeRef.Bitfield? = nil) -> SwiftTypeRef {
        SwiftTypeRef(name: name, codec: "\(name).btfCodec", zero: zero, bitfield: bitfield,
                     size: size, align: size, cAlign: size, defaultZero: zero)
    }

    private func intRef(_ t: BTFType, context: String) throws -> SwiftTypeRef {
        if t.isBool {
            guard t.size == 1 else { throw CannotExpress("\(context) has a \(t.size)-byte bool") }
            var r = scalar("Bool", zero: "false", size: 1, bitfield: .bool)
            r.boolOffsets = [0]
            return r
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
        return scalar(name, zero: "0", size: Int(t.size), bitfield: t.size <= 8 ? .integer(signed: signed) : nil)
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

    /// Size and alignment of the types declared so far, by BTF id.
    private var layouts: [UInt32: (size: Int, align: Int, cAlign: Int, bools: [Int], padding: [Range<Int>], byteEquality: Bool)] = [:]
    /// The generated types, in declaration order (for tests of their layout).
    private(set) var typeLayouts: [GeneratedTypeLayout] = []

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
        guard let l = layouts[t.id] else { throw CannotExpress("\(describe(t.id)) holds itself") }
        let qualified = "Types." + name
        var bitfield: SwiftTypeRef.Bitfield?
        if t.kind == .enumeration || t.kind == .enum64 {
            bitfield = .enumeration(rawType: try enumRawType(t), signed: t.isSignedEnum)
        }
        return SwiftTypeRef(name: qualified, codec: "\(qualified).btfCodec", zero: "\(qualified)()", bitfield: bitfield,
                            size: l.size, align: l.align, cAlign: l.cAlign, boolOffsets: l.bools,
                            padding: l.padding, byteEquality: l.byteEquality, defaultZero: ".init()")
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
        /// N for a `char[N]` or `unsigned char[N]` member (a C string), else nil.
        var charArrayCount: Int? = nil

        /// Bytes the member touches: [first, end).
        var firstByte: Int { bitOffset / 8 }
        var endByte: Int { (bitOffset + (bitSize != 0 ? bitSize : type.size * 8) + 7) / 8 }
        var bare: String { swiftName.trimmingBackticks }
    }

    /// Names generated code uses inside a type, which no member may shadow.
    private static let reservedMembers: Set<String> = reservedTypeNames.union(["btfSize", "btfCodec", "btfBytes", "btfBools",
                                                                                      "btfMember", "setBTFMember", "btfBits", "setBTFBits"])

    /// N when `typeID` is `char[N]` or `unsigned char[N]` (modifiers skipped).
    private func charArrayCount(_ typeID: UInt32) -> Int? {
        guard let a = btf.type(btf.skipModifiers(typeID)), a.kind == .array, a.arrayCount > 0,
              let e = btf.type(btf.skipModifiers(a.arrayElementType)), e.kind == .int, e.size == 1,
              e.name == "char" || e.name == "unsigned char" || e.name == "signed char"
        else { return nil }
        return Int(a.arrayCount)
    }

    /// For a struct with `char[N]` members: an initializer taking those as
    /// Strings (`Types.key(comm: "bash")`), the other members as in the
    /// memberwise one (`settable`, in its order); a string that does not fit throws.
    private func stringInitializer(_ settable: [Member], _ p: inout CodePrinter) {
        guard settable.contains(where: { $0.charArrayCount != nil }) else { return }
        let params = settable.map { m in
            m.charArrayCount != nil ? "\(m.swiftName): String" : "\(m.swiftName): \(m.type.name) = \(m.type.defaultZero)"
        }.joined(separator: ", ")
        // The array's type spelled out: only the memberwise initializer takes it.
        let args = settable.map { m in
            m.charArrayCount != nil ? "\(m.swiftName): \(m.type.name)(cString: \(m.swiftName), member: \(quote(m.cName)))"
                : "\(m.swiftName): \(m.swiftName)"
        }.joined(separator: ", ")
        p.line("/// With the `char` arrays from strings (UTF-8, NUL-padded); one that does not fit throws.")
        p.line("public init(\(params)) throws(BPFError) { try self.init(\(args)) }")
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
            if m.bitfieldSize != 0 && (type.bitfield == nil || Int(m.bitfieldSize) > type.size * 8) {
                throw CannotExpress("bitfield \(cName) of \(typeName) has type \(type.name)")
            }
            let member = Member(swiftName: swiftName, cName: cName, type: type, byteOffset: Int(m.bitOffset / 8),
                                bitOffset: Int(m.bitOffset), bitSize: Int(m.bitfieldSize),
                                charArrayCount: m.bitfieldSize == 0 ? charArrayCount(m.typeID) : nil)
            if member.endByte > Int(t.size) {
                throw CannotExpress("member \(cName) of \(typeName) ends at byte \(member.endByte), past the type's \(t.size) bytes")
            }
            out.append(member)
        }
        return out
    }

    /// Raw storage of `to - from` bytes whose alignment is the largest power
    /// of two (at most `limit` and 16) dividing both `from` and the length.
    /// At most this many padding ranges are listed in a type's `btfPadding`;
    /// a type with more compares member by member.
    static let maxPaddingRanges = 32

    /// `ranges` sorted, with touching and overlapping ones joined.
    static func merged(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) where !r.isEmpty {
            if let last = out.last, r.lowerBound <= last.upperBound {
                out[out.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    private static func storage(from: Int, to: Int, limit: Int) -> (type: String, align: Int) {
        var a = 16
        while a > 1 && (a > limit || from % a != 0 || (to - from) % a != 0) { a /= 2 }
        let elem = [1: "UInt8", 2: "UInt16", 4: "UInt32", 8: "UInt64", 16: "UInt128"][a]!
        return ("InlineArray<\((to - from) / a), \(elem)>", a)
    }

    /// The C alignment of a struct or union with these members: the largest
    /// member alignment, or 1 when a member or the size says it is packed.
    private static func cAlignment(_ ms: [Member], size: Int) -> Int {
        let natural = ms.map(\.type.cAlign).max() ?? 1
        let packed = size % natural != 0
            || ms.contains { $0.bitSize == 0 && $0.type.size > 0 && $0.byteOffset % $0.type.cAlign != 0 }
        return packed ? 1 : natural
    }

    /// One stored property of a generated type.
    private enum Slot {
        /// A member at its BTF offset.
        case member(Member)
        /// Bytes at [from, to): padding, or the raw storage of bitfields,
        /// members a packed layout does not align, or a union.
        case storage(name: String, type: String, from: Int, to: Int, padding: Bool, holds: [String])
    }

    /// A computed property over the type's own bytes at the member's BTF offset.
    private func computedProperty(_ m: Member, _ p: inout CodePrinter) {
        if m.bitSize == 0 && m.type.size == 0 {
            p.line("/// `\(m.cName)`: a flexible array member (or an empty one) at offset \(m.byteOffset): no bytes of its")
            p.line("/// own; in a record, its elements follow the struct's \(m.byteOffset) bytes.")
            p.line("public var \(m.swiftName): \(m.type.name) { \(m.type.zero) }")
            return
        }
        // One line each (BPFCore's BTFRecord accessors): a kernel context such as pt_regs has dozens.
        if m.bare != m.cName { p.line("/// `\(m.cName)`") }
        if m.bitSize != 0 {
            p.line("public var \(m.swiftName): \(m.type.name) { get { btfBits(\(m.bitOffset), \(m.bitSize)) } "
                   + "set { setBTFBits(newValue, \(m.bitOffset), \(m.bitSize)) } }")
        } else {
            p.line("public var \(m.swiftName): \(m.type.name) { get { btfMember(at: \(m.byteOffset)) } "
                   + "set { setBTFMember(newValue, at: \(m.byteOffset)) } }")
        }
    }

    /// How a generated type gets `==` and `hash(into:)`.
    private enum Equality {
        /// Every stored property is a Hashable member (no padding, no C
        /// array): Swift synthesizes them, in no lines.
        case synthesized
        /// BPFCore's `BTFBytesHashable`: the bytes, padding left out (no floats in it).
        case bytes
        /// Written out member by member (floats compare by value).
        case members
    }

    private static func equality(_ slots: [Slot], byteEquality: Bool) -> Equality {
        if !slots.isEmpty, slots.allSatisfy({ if case .member(let m) = $0 { return !m.type.comparesBytes } else { return false } }) {
            return .synthesized
        }
        return byteEquality ? .bytes : .members
    }

    /// `==` and `hash(into:)` over the members (padding left out); C arrays
    /// and raw storage compare as bytes, since `InlineArray` has neither.
    private func memberEquality(_ slots: [Slot], _ p: inout CodePrinter) {
        var compared: [(name: String, bytes: Bool)] = []
        for s in slots {
            switch s {
            case .member(let m): compared.append((m.swiftName, m.type.comparesBytes))
            case .storage(let name, _, _, _, let padding, _): if !padding { compared.append((name, true)) }
            }
        }
        p.line()
        if compared.isEmpty {
            p.line("public static func == (lhs: Self, rhs: Self) -> Bool { true }")
            p.line()
            p.line("public func hash(into hasher: inout Hasher) {}")
            return
        }
        // One guard per member: a long `&&` chain is slow to type-check.
        p.block("public static func == (lhs: Self, rhs: Self) -> Bool {") { p in
            for c in compared {
                let e = c.bytes ? "BTFLayout.bytesEqual(lhs.\(c.name), rhs.\(c.name))" : "lhs.\(c.name) == rhs.\(c.name)"
                p.line("guard \(e) else { return false }")
            }
            p.line("return true")
        }
        p.line()
        p.block("public func hash(into hasher: inout Hasher) {") { p in
            for c in compared {
                p.line(c.bytes ? "BTFLayout.hashBytes(self.\(c.name), into: &hasher)" : "hasher.combine(self.\(c.name))")
            }
        }
    }

    /// The declaration of a layout-exact struct or union: its stored
    /// properties (members, padding, raw storage) make `MemoryLayout` size
    /// and stride equal the BTF size and put each stored member at its BTF
    /// offset; other members are computed properties at their BTF offsets.
    private func layoutDecl(_ t: BTFType, name: String, isUnion: Bool) throws -> [String] {
        let size = Int(t.size)
        let ms = try members(of: t, typeName: name,
                             reserved: isUnion ? Self.reservedMembers.union(["bytes"]) : Self.reservedMembers)
        let cAlign = Self.cAlignment(ms, size: size)
        var usedNames = Set(ms.map(\.bare))
        func fresh(_ base: String) -> String {
            var n = base
            while usedNames.contains(n) { n += "_" }
            usedNames.insert(n)
            return n
        }
        var forms = [GeneratedTypeLayout.MemberForm](repeating: .computed, count: ms.count)
        var slots: [Slot] = []
        var cur = 0
        func storage(_ base: String, to end: Int, padding: Bool, holds: [String] = []) {
            guard end > cur else { return }
            let s = Self.storage(from: cur, to: end, limit: cAlign)
            slots.append(.storage(name: fresh(base + "\(cur)"), type: s.type, from: cur, to: end, padding: padding, holds: holds))
            cur = end
        }
        var placed = !isUnion
        if !isUnion {
            // Members in offset order: stored where Swift puts them at the BTF
            // offset; runs of others share raw storage up to the next member.
            func storable(_ m: Member) -> Bool {
                m.bitSize == 0 && m.type.size > 0 && m.byteOffset % m.type.align == 0 && m.type.align <= cAlign
            }
            var i = 0
            while i < ms.count {
                let m = ms[i]
                if m.bitSize == 0 && m.type.size == 0 { forms[i] = .computed; i += 1; continue }
                if storable(m) && m.byteOffset >= cur {
                    storage("_pad", to: m.byteOffset, padding: true)
                    slots.append(.member(m))
                    forms[i] = .stored
                    cur = m.byteOffset + m.type.size
                    i += 1
                    continue
                }
                let start = m.firstByte
                guard start >= cur else { placed = false; break }
                var end = m.endByte
                var holds = [m.cName]
                forms[i] = m.bitSize != 0 ? .bitfield : .computed
                var j = i + 1
                while j < ms.count {
                    let n = ms[j]
                    if n.bitSize == 0 && n.type.size == 0 { forms[j] = .computed; j += 1; continue }
                    if storable(n) && n.firstByte >= end { break }
                    guard n.firstByte >= start else { placed = false; break }
                    end = max(end, n.endByte)
                    holds.append(n.cName)
                    forms[j] = n.bitSize != 0 ? .bitfield : .computed
                    j += 1
                }
                guard placed else { break }
                // Up to the next stored member (or the end): C padding or unused bits of the unit.
                if j < ms.count { end = max(end, ms[j].firstByte) } else { end = size }
                storage("_pad", to: start, padding: true)
                storage(holds.count == 1 && m.bitSize == 0 ? "_raw" : "_bits", to: end, padding: false, holds: holds)
                i = j
            }
            if placed && cur <= size {
                storage("_pad", to: size, padding: true)
            } else {
                placed = false
            }
        }
        if !placed {
            // A union (or a struct whose members overlap): every member views one raw storage.
            slots = []
            cur = 0
            for (i, m) in ms.enumerated() { forms[i] = m.bitSize != 0 ? .bitfield : .computed }
            storage("_storage", to: size, padding: false, holds: ms.map(\.cName))
        }
        var align = 1
        var bools: [Int] = []
        var storageNames: [(name: String, type: String)] = []
        for s in slots {
            switch s {
            case .member(let m):
                align = max(align, m.type.align)
                bools += m.type.boolOffsets.map { $0 + m.byteOffset }
            case .storage(let n, let type, let from, let to, _, _):
                align = max(align, Self.storage(from: from, to: to, limit: cAlign).align)
                storageNames.append((n, type))
            }
        }
        // Padding, nested types' included: what a bytewise `==` leaves out.
        var padding: [Range<Int>] = []
        var byteEquality = true
        for s in slots {
            switch s {
            case .member(let m):
                padding += m.type.padding.map { $0.lowerBound + m.byteOffset..<$0.upperBound + m.byteOffset }
                byteEquality = byteEquality && m.type.byteEquality
            case .storage(_, _, let from, let to, let isPadding, _):
                if isPadding { padding.append(from..<to) }
            }
        }
        padding = Self.merged(padding)
        if padding.count > Self.maxPaddingRanges { byteEquality = false }
        layouts[t.id] = (size, align, cAlign, bools, padding, byteEquality)
        typeLayouts.append(GeneratedTypeLayout(btfID: t.id, swiftName: name,
                                               members: zip(ms, forms).map { ($0.bare, $1) }))

        let computed = zip(ms, forms).filter { $1 != .stored }.map(\.0)
        let hasRaw = computed.contains { $0.bitSize != 0 || $0.type.size > 0 }
        let stored = Set(zip(ms, forms).filter { $1 == .stored }.map(\.0.bare))
        var p = CodePrinter()
        let cName = "\(isUnion ? "union" : "struct") \(t.name.isEmpty ? "(anonymous)" : t.name)"
        if isUnion {
            p.line("/// `\(cName)`: \(size) bytes; its members are views of the same bytes (`bytes`).")
        } else if !placed {
            p.line("/// `\(cName)`: \(size) bytes; its members overlap, each a view of the bytes at its offset.")
        } else if hasRaw {
            p.line("/// `\(cName)`: \(size) bytes; bitfields and unaligned members are views of their bytes.")
        } else {
            p.line("/// `\(cName)`: \(size) bytes, C layout.")
        }
        let equality = Self.equality(slots, byteEquality: byteEquality)
        // A union is raw storage, so always bytewise (BTFUnion adds its `bytes`).
        let conformances = isUnion ? "BTFUnion, Sendable"
            : equality == .bytes ? "BTFBytesHashable, Sendable" : "BTFRecord, Hashable, Sendable"
        p.block("public struct \(name): \(conformances) {") { p in
            for s in slots {
                switch s {
                case .member(let m):
                    p.line("public var \(m.swiftName): \(m.type.name)  // offset \(m.byteOffset)")
                case .storage(let n, let type, let from, let to, let padding, let holds):
                    let what = padding ? "padding" : "storage of " + holds.joined(separator: ", ")
                    p.line("private var \(n): \(type)  // offset \(from)..<\(to), \(what)")
                }
            }
            p.line()
            let settable = isUnion ? [] : ms.filter { $0.bitSize != 0 || $0.type.size > 0 }
            // One line: from all-zero bytes (padding and raw storage), then each member.
            // Stored members first: the computed ones write into self.
            let params = settable.map { "\($0.swiftName): \($0.type.name) = \($0.type.defaultZero)" }.joined(separator: ", ")
            let body = (storageNames.isEmpty ? [] : ["self = .btfZero"])
                + settable.sorted(by: { stored.contains($0.bare) && !stored.contains($1.bare) }).map { "self.\($0.swiftName) = \($0.swiftName)" }
            p.line("public init(\(params)) {" + (body.isEmpty ? "}" : " " + body.joined(separator: "; ") + " }"))
            if !isUnion { stringInitializer(settable, &p) }
            if !bools.isEmpty {
                p.line("public static let btfBools = [\(bools.map(String.init).joined(separator: ", "))]")
            }
            if equality == .bytes && !padding.isEmpty {
                p.line("public static let btfPadding = [\(padding.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", "))]")
            }
            if !computed.isEmpty { p.line() }
            for m in computed { computedProperty(m, &p) }
            if equality == .members { memberEquality(slots, &p) }
        }
        return p.lines
    }

    private func structDecl(_ t: BTFType, name: String) throws -> [String] {
        try layoutDecl(t, name: name, isUnion: false)
    }

    private func unionDecl(_ t: BTFType, name: String) throws -> [String] {
        try layoutDecl(t, name: name, isUnion: true)
    }

    private func enumDecl(_ t: BTFType, name: String) throws -> [String] {
        let raw = try enumRawType(t)
        let reserved: Set<String> = ["btfSize", "btfCodec", "btfBytes", "rawValue"]
        let cases = try SwiftTypeMapper.memberNames(t.enumerators.map(\.name), reserved: reserved,
                                                    scope: "cases of enum \(name)")
        let size = Int(t.size)
        layouts[t.id] = (size, size, size, [], [], true)
        typeLayouts.append(GeneratedTypeLayout(btfID: t.id, swiftName: name, members: []))
        var p = CodePrinter()
        p.line("/// `enum \(t.name.isEmpty ? "(anonymous)" : t.name)`: \(t.size) bytes; any \(raw) is valid, as in C.")
        // Size, zero value and bytes come from BPFCore's BTFEnum.
        p.block("public struct \(name): BTFEnum, BTFCodable, Hashable, Sendable, BitwiseCopyable {") { p in
            p.line("public var rawValue: \(raw)")
            p.line("public init(rawValue: \(raw)) { self.rawValue = rawValue }")
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
