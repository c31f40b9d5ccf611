import BPFCore

/// Writes the Swift skeleton of an object: one file that embeds the object
/// and gives typed access to its maps, programs, links, global variables
/// and struct_ops shadows, on top of BPFCore's `BPFSkeleton` runtime.
struct SwiftSkeletonGenerator {
    let model: SkeletonModel
    /// The generated class's name ("CounterSkeleton").
    let typeName: String
    /// Which structs, unions and enums `Types` spells out member by member.
    var types: TypesPolicy = .used

    /// `used`: the types the maps, globals and programs' arguments use, and
    /// what they hold by value; every other struct and union of the BTF is
    /// a `BPFOpaque` of its size and alignment, every other enum its
    /// constants. `all`: every type in full (`gen skeleton OBJ types all`).
    enum TypesPolicy: String { case used, all }

    /// The marker lines around the embedded object, so tests can normalise it.
    static let blobStart = "    static let elfZlib = \"\"\""
    /// At column 0, so that the base64 lines need no indentation (a third
    /// less text than indented lines of an object this size).
    static let blobEnd = "\"\"\""

    func generate() throws -> String {
        try generateWithLayouts().text
    }

    /// The skeleton and the types `Types` names without members (for tests of their size).
    func generateWithOpaqueLayouts() throws -> (text: String, opaque: [(btfID: UInt32, swiftName: String, size: Int, align: Int)]) {
        do {
            let mapper = model.btf.map { SwiftTypeMapper(btf: $0) }
            if let mapper, types == .used, let btf = model.btf {
                mapper.fullTypes = SwiftTypeMapper.usedTypes(btf, roots: typeRoots())
            }
            let text = try render(mapper)
            return (text, mapper?.opaqueLayouts ?? [])
        } catch let e as CannotExpress {
            throw BPFError("generate skeleton for \(model.fileName): \(e.message)")
        }
    }

    /// The skeleton and what its `Types` hold (for tests of their layout).
    func generateWithLayouts() throws -> (text: String, layouts: [GeneratedTypeLayout], omitted: [String]) {
        do {
            let mapper = model.btf.map { SwiftTypeMapper(btf: $0) }
            if let mapper, types == .used, let btf = model.btf {
                mapper.fullTypes = SwiftTypeMapper.usedTypes(btf, roots: typeRoots())
            }
            let text = try render(mapper)
            return (text, mapper?.typeLayouts ?? [], mapper?.omitted ?? [])
        } catch let e as CannotExpress {
            throw BPFError("generate skeleton for \(model.fileName): \(e.message)")
        }
    }

    private struct MapEntry {
        let map: SkeletonModel.Map
        let swiftName: String
        let swiftType: String
        let initExpr: String
        let doc: String?
    }

    private func render(_ mapper: SwiftTypeMapper?) throws -> String {
        let sections = model.sections
        let structOps = model.structOpsMaps

        // Maps.
        var mapEntries: [MapEntry] = []
        let sectionMaps = Set(sections.map(\.mapName))
        let mapNames = try SwiftTypeMapper.memberNames(model.maps.map(\.ident), reserved: [], scope: "maps")
        for (m, swiftName) in zip(model.maps, mapNames) {
            let kind = m.isInternal ? "internal \(typeWord(m))" : typeWord(m)
            if !m.isInternal && !m.isStructOps && m.keyTypeID != 0 && m.valueTypeID != 0, let mapper {
                let key = try mapper.ref(m.keyTypeID, context: "\(m.ident)_key")
                let value = try mapper.ref(m.valueTypeID, context: "\(m.ident)_value")
                let cls = m.isPerCPU ? "SkeletonPerCPUMap" : "SkeletonTypedMap"
                let fn = m.isPerCPU ? "perCPUMap" : "map"
                mapEntries.append(MapEntry(
                    map: m, swiftName: swiftName, swiftType: "\(cls)<\(key.name), \(value.name)>",
                    initExpr: "try s.\(fn)(\(quote(m.name)), key: \(key.codec), value: \(value.codec))",
                    // The C name when the Swift one differs; per-CPU maps say so.
                    doc: swiftName == m.name && !m.isPerCPU ? nil
                        : "\(kind) \(m.name)" + (m.isPerCPU ? ", per CPU" : "")))
            } else {
                mapEntries.append(MapEntry(
                    map: m, swiftName: swiftName, swiftType: "SkeletonMap",
                    initExpr: "try s.map(\(quote(m.name)))",
                    // An internal map's value is its section: the section's property
                    // (`skel.bss`) names the map and gives its size.
                    doc: !m.isInternal ? "\(kind) \(m.name): \(m.keySize)-byte keys, \(m.valueSize)-byte values"
                        : sectionMaps.contains(m.name) ? nil : "\(kind) \(m.name)"))
            }
        }

        // Programs and links.
        let programNames = try SwiftTypeMapper.memberNames(model.programs.map(\.name), reserved: [], scope: "programs")
        let linkSwiftNames = try SwiftTypeMapper.memberNames(model.programs.map(\.name) + structOps.map(\.ident),
                                                             reserved: ["_skeleton"],
                                                             scope: "links (programs and struct_ops maps)")
        let linkNames = Array(zip(model.programs.map(\.name) + structOps.map(\.name), linkSwiftNames))

        // Sections of global variables, and struct_ops shadows: one class each,
        // named after the section or map (distinct, whatever the names hold).
        let classNames = try GeneratedText.uniqueIdentifiers(
            sections.map { "Section_" + $0.ident } + structOps.map { "StructOps_" + $0.ident },
            base: SkeletonModel.sanitize, scope: "sections and struct_ops maps", language: "Swift")
        let sectionProperties = try SwiftTypeMapper.memberNames(sections.map(\.ident), reserved: [], scope: "sections")
        var sectionBodies: [(section: SkeletonModel.Section, className: String, property: String, lines: [String])] = []
        for (i, s) in sections.enumerated() {
            let className = classNames[i]
            sectionBodies.append((s, className, sectionProperties[i],
                                  try sectionClass(s, className: className, mapper: mapper)))
        }
        let structOpsProperties = try SwiftTypeMapper.memberNames(structOps.map(\.ident), reserved: [], scope: "struct_ops maps")
        var structOpsBodies: [(map: SkeletonModel.Map, className: String, property: String, lines: [String])] = []
        for (i, m) in structOps.enumerated() {
            let className = classNames[sections.count + i]
            structOpsBodies.append((m, className, structOpsProperties[i],
                                    try structOpsClass(m, className: className, mapper: mapper)))
        }

        // Compact on purpose: the file should stay near the size of the
        // object it embeds (what every skeleton does is in BPFCore's
        // GeneratedSkeleton; the object is embedded compressed).
        var p = CodePrinter()
        p.line("// generated by bpfswift; do not edit")
        p.line("import BPFCore")
        p.line()
        p.line("/// \(model.fileName), embedded; load(), attach(), pin(at:): `GeneratedSkeleton`.")
        p.block("public final class \(typeName): GeneratedSkeleton, @unchecked Sendable {") { p in
            p.line("public let skeleton: BPFSkeleton")
            p.line("public let maps: Maps")
            p.line("public let programs: Programs")
            p.line("public let links: Links")
            for b in sectionBodies {
                p.line("/// `\(sectionTitle(b.section))` (map \(b.section.mapName)): \(accessDoc(b.section.access))")
                p.line("public let \(b.property): \(b.className)")
            }
            if !structOpsBodies.isEmpty {
                p.line("/// The struct_ops maps' shadows: which programs fill which slots, before load.")
                p.line("public let struct_ops: StructOps")
            }
            p.line()
            p.block("public init(options: ObjectOpenOptions = .init()) throws {") { p in
                p.line("let s = try BPFSkeleton(embedded: Self.elfZlib, count: Self.elfSize, objectName: \(quote(model.objectName)), "
                       + "source: \(quote(model.fileName)), options: options)")
                p.line("skeleton = s")
                p.line("maps = try Maps(s)")
                p.line("programs = try Programs(s)")
                p.line("links = Links(s)")
                for b in sectionBodies {
                    p.line("\(b.property) = \(b.className)(try s.globals(\(quote(b.section.mapName)), access: \(accessExpr(b.section.access))))")
                }
                if !structOpsBodies.isEmpty { p.line("struct_ops = try StructOps(s)") }
            }
            p.line()
            p.line("public static var elfBytes: [UInt8] { get throws { try EmbeddedObject.decompress(base64: elfZlib, count: elfSize) } }")

            // Maps
            p.line()
            p.block("public final class Maps {") { p in
                for e in mapEntries {
                    if let doc = e.doc { p.line("/// \(doc)") }
                    p.line("public let \(e.swiftName): \(e.swiftType)")
                }
                if !mapEntries.isEmpty { p.line() }
                p.block("init(_ s: BPFSkeleton) throws {") { p in
                    for e in mapEntries { p.line("\(e.swiftName) = \(e.initExpr)") }
                }
            }

            // Programs
            p.line()
            p.block("public final class Programs {") { p in
                for (prog, name) in zip(model.programs, programNames) {
                    p.line("/// SEC(\(quote(prog.sectionName)))")
                    p.line("public let \(name): ObjectProgram")
                }
                if !programNames.isEmpty { p.line() }
                p.block("init(_ s: BPFSkeleton) throws {") { p in
                    for (prog, name) in zip(model.programs, programNames) {
                        p.line("\(name) = try s.program(\(quote(prog.name)))")
                    }
                }
            }

            // Links
            p.line()
            p.block("public final class Links: SkeletonLinks {") { p in
                for (cName, name) in linkNames {
                    p.line("public var \(name): BPFLink? { _skeleton.link(\(quote(cName))) }")
                }
            }

            for b in sectionBodies {
                p.line()
                p.lines(b.lines)
            }

            if !structOpsBodies.isEmpty {
                p.line()
                p.block("public final class StructOps {") { p in
                    for b in structOpsBodies { p.line("public let \(b.property): \(b.className)") }
                    p.line()
                    p.block("init(_ s: BPFSkeleton) throws {") { p in
                        for b in structOpsBodies {
                            p.line("\(b.property) = \(b.className)(try s.structOps(\(quote(b.map.name))))")
                        }
                    }
                }
                for b in structOpsBodies {
                    p.line()
                    p.lines(b.lines)
                }
            }

            if let mapper {
                typesNamespace(mapper, &p)
            }

            p.line()
            // DWARF stripped: libbpf needs BTF and BTF.ext only, and with -g DWARF is most of the file.
            let embedded = ELFDebugStrip.strippingDebugSections(model.elf)
            p.line("/// Without DWARF: \(embedded.count) bytes, zlib, base64.")
            p.line("static let elfSize = \(embedded.count)")
            p.raw(SwiftSkeletonGenerator.blobStart)
            for l in EmbeddedObject.encodeBase64(EmbeddedObject.compress(embedded), lineLength: 120) { p.raw(l) }
            p.raw(SwiftSkeletonGenerator.blobEnd)
        }
        return p.text
    }

    /// `Types`: every struct, union and enum of the object's BTF (the ones
    /// the maps and globals use first), as Swift types whose memory layout
    /// is the C layout; with `types used`, the structs and unions the
    /// object only points to as `BPFOpaque`s of their size.
    private func typesNamespace(_ mapper: SwiftTypeMapper, _ p: inout CodePrinter) {
        mapper.declareAllTypes()
        guard !mapper.declarations.isEmpty || !mapper.omitted.isEmpty else { return }
        p.line()
        p.line("/// The structs, unions and enums of the object's BTF, with the C memory layout.")
        if !mapper.opaqueLayouts.isEmpty {
            p.line("/// Those it only points to are `BPFOpaque`s of their size (`gen skeleton OBJ types all`: in full).")
        }
        for o in mapper.omitted { p.line("/// Left out: \(o)") }
        p.block("public enum Types {") { p in
            for (i, d) in mapper.declarations.enumerated() {
                // Typealiases (one line each) follow one another without blank lines.
                if i > 0 && (d.count > 1 || mapper.declarations[i - 1].count > 1) { p.line() }
                p.lines(d)
            }
        }
    }

    /// Program types whose context user space can build: the kernel's
    /// `BPF_PROG_TEST_RUN` takes a `ctx_in` for them (`ProgramTestRun.run(...,
    /// ctxIn:)`). socket_filter (1), sched_cls (3), sched_act (4), cgroup_skb (8),
    /// lwt_in/out/xmit (10-12), lwt_seg6local (19): `__sk_buff`; xdp (6): `xdp_md`;
    /// raw_tracepoint (17), raw_tracepoint_writable (24): the argument array;
    /// flow_dissector (22): the kernel reads `bpf_flow_keys` from `ctx_in`;
    /// sk_lookup (30): `bpf_sk_lookup`; syscall (31): the program's own
    /// argument struct; netfilter (32): `bpf_nf_ctx`. Not kprobe, tracepoint,
    /// perf_event (no test run), tracing (fentry/fexit: a test run without
    /// `ctx_in`; iter, lsm), struct_ops, cgroup sock/sysctl/sockopt, sk_skb,
    /// sk_msg, sock_ops: their contexts are kernel memory a program never
    /// gets from user space.
    static let testRunContextProgramTypes: Set<UInt32> = [1, 3, 4, 6, 8, 10, 11, 12, 17, 19, 22, 24, 30, 31, 32]

    /// Where the types the object uses start: the maps' keys and values
    /// (inner maps' too, from the `.maps` definitions), the global variables
    /// (and what a global pointer points to: the `unused_event` idiom), and
    /// the pointees of the parameters of the programs whose type takes a
    /// context in a test run (`testRunContextProgramTypes`): `__sk_buff`,
    /// `xdp_md`, a syscall program's argument struct. Other programs'
    /// contexts (`pt_regs` of a kprobe or uprobe, `trace_event_raw_sys_enter`,
    /// `bpf_iter__task`) are kernel memory user space never holds, so they
    /// are roots only when a map or global holds them. (Nor the parameters
    /// of subprograms: a static helper taking a `struct request *` would
    /// pull in a hundred kernel types by value, which no map or global holds.)
    func typeRoots() -> [UInt32] {
        guard let btf = model.btf else { return [] }
        var roots: [UInt32] = []
        for m in model.maps { roots += [m.keyTypeID, m.valueTypeID] }
        /// `id` without typedefs, modifiers and array dimensions.
        func element(_ id: UInt32) -> UInt32 {
            var cur = btf.skipModifiers(id)
            for _ in 0..<64 {
                guard let t = btf.type(cur), t.kind == .array else { break }
                cur = btf.skipModifiers(t.arrayElementType)
            }
            return cur
        }
        func pointee(_ id: UInt32) -> UInt32? {
            guard let t = btf.type(element(id)), t.kind == .ptr else { return nil }
            return t.referencedType
        }
        /// A map definition (`__type(key, ...)` is a pointer member named key).
        func mapDefinition(_ id: UInt32, depth: Int) {
            guard depth < 4, let t = btf.type(element(id)), t.kind == .structure else { return }
            for m in t.members {
                switch m.name {
                case "key", "value": if let p = pointee(m.typeID) { roots.append(p) }
                case "values":
                    if let p = pointee(m.typeID) {
                        mapDefinition(p, depth: depth + 1)
                        roots.append(p)
                    }
                default: break
                }
            }
        }
        let programs = Set(model.programs
            .filter { SwiftSkeletonGenerator.testRunContextProgramTypes.contains($0.type) }
            .map(\.name))
        let count = min(btf.typeCount, 1 << 20)
        guard count > 1 else { return roots }
        for id in 1..<count {
            guard let t = btf.type(id) else { continue }
            switch t.kind {
            case .dataSection:
                for sv in t.sectionVariables {
                    guard let v = btf.type(sv.typeID), v.kind == .variable else { continue }
                    if t.name == ".maps" {
                        mapDefinition(v.referencedType, depth: 0)
                    } else {
                        roots.append(v.referencedType)
                        if let p = pointee(v.referencedType) { roots.append(p) }
                    }
                }
            case .function where programs.contains(t.name):
                guard let proto = btf.type(t.referencedType), proto.kind == .functionProto else { continue }
                for param in proto.parameters {
                    if let p = pointee(param.typeID) { roots.append(p) }
                }
            default:
                continue
            }
        }
        return roots
    }

    private func typeWord(_ m: SkeletonModel.Map) -> String {
        m.isStructOps ? "struct_ops map" : "map"
    }

    private func sectionTitle(_ s: SkeletonModel.Section) -> String {
        if let dot = s.mapName.firstIndex(of: ".") { return String(s.mapName[dot...]) }
        return s.mapName
    }

    private func accessDoc(_ a: SkeletonModel.SectionAccess) -> String {
        switch a {
        case .writable: return "initial values, then live after `load()`."
        case .writableUntilLoad: return "read-only after `load()`."
        case .readOnly: return "libbpf fills it at `load()`."
        }
    }

    private func accessExpr(_ a: SkeletonModel.SectionAccess) -> String {
        switch a {
        case .writable: return ".writable"
        case .writableUntilLoad: return ".writableUntilLoad"
        case .readOnly: return ".readOnly"
        }
    }

    private func cDecl(_ typeID: UInt32, _ name: String) -> String {
        guard let d = try? model.btf?.cDeclaration(of: typeID, name: name), !d.contains("\n") else { return name }
        return d
    }

    private func sectionClass(_ s: SkeletonModel.Section, className: String, mapper: SwiftTypeMapper?) throws -> [String] {
        var vars: [(v: SkeletonModel.Variable, name: String, type: SwiftTypeRef)] = []
        let names = try SwiftTypeMapper.memberNames(s.variables.map(\.name), reserved: ["_globals"],
                                                    scope: "variables of \(sectionTitle(s))")
        for (v, name) in zip(s.variables, names) {
            guard let mapper else { break }
            let type = try mapper.ref(v.typeID, context: SkeletonModel.sanitize(v.name))
            vars.append((v, name, type))
        }
        // Documented where the skeleton declares its property; `_globals` and the
        // subscripts over it come from BPFCore's SkeletonSection.
        var p = CodePrinter()
        p.block("public final class \(className): SkeletonSection {") { p in
            for (v, name, type) in vars {
                p.line("/// `\(cDecl(v.typeID, v.name))`")
                if s.access == .readOnly {
                    p.line("public var \(name): \(type.name) { self[\(v.offset)] }")
                } else {
                    // A failed write names the variable from the object's BTF.
                    p.line("public var \(name): \(type.name) { get { self[\(v.offset)] } set { self[\(v.offset)] = newValue } }")
                }
            }
        }
        return p.lines
    }

    /// The shadow of a struct_ops map: function-pointer slots as programs,
    /// scalar and array members typed; other members (pointers to data,
    /// nested structs) are left out, as bpftool leaves them opaque.
    private func structOpsClass(_ m: SkeletonModel.Map, className: String, mapper: SwiftTypeMapper?) throws -> [String] {
        guard let btf = model.btf, let mapper, let t = btf.type(m.valueTypeID), t.kind == .structure else {
            throw CannotExpress("struct_ops map \(m.name) has no BTF struct type")
        }
        enum Slot { case program, value(SwiftTypeRef) }
        var members: [(cName: String, name: String, typeID: UInt32, offset: Int, slot: Slot)] = []
        let eligible = t.members.filter { !$0.name.isEmpty && $0.bitfieldSize == 0 && $0.bitOffset % 8 == 0 }
        let names = try SwiftTypeMapper.memberNames(eligible.map(\.name), reserved: ["_ops"],
                                                    scope: "members of struct_ops map \(m.name)")
        for (mem, name) in zip(eligible, names) {
            let target = btf.skipModifiers(mem.typeID)
            guard let mt = btf.type(target) else { continue }
            switch mt.kind {
            case .ptr:
                if let pointee = btf.type(btf.skipModifiers(mt.referencedType)), pointee.kind == .functionProto {
                    members.append((mem.name, name, mem.typeID, Int(mem.bitOffset / 8), .program))
                }
            case .int, .float, .enumeration, .enum64:
                members.append((mem.name, name, mem.typeID, Int(mem.bitOffset / 8), .value(try mapper.ref(mem.typeID, context: "\(m.ident)_\(mem.name)"))))
            case .array:
                let elem = btf.type(btf.skipModifiers(mt.arrayElementType))
                if let k = elem?.kind, k == .int || k == .float || k == .enumeration || k == .enum64 {
                    members.append((mem.name, name, mem.typeID, Int(mem.bitOffset / 8), .value(try mapper.ref(mem.typeID, context: "\(m.ident)_\(mem.name)"))))
                }
            default:
                continue
            }
        }
        var p = CodePrinter()
        p.line("/// The shadow of struct_ops map \(m.name) (`struct \(t.name)`): set slots and members before `load()`.")
        p.block("public final class \(className): SkeletonStructOpsShadow {") { p in
            for (i, mem) in members.enumerated() {
                if i > 0 { p.line() }
                switch mem.slot {
                case .program:
                    p.line("/// Slot `\(mem.cName)`: the program that fills it, or nil.")
                    p.block("public var \(mem.name): ObjectProgram? {") { p in
                        p.line("get { _ops.program(at: \(mem.offset)) }")
                        p.line("set { _ops.setProgram(newValue, at: \(mem.offset), name: \(quote(mem.cName))) }")
                    }
                case .value(let type):
                    p.line("/// `\(cDecl(mem.typeID, mem.cName))`, offset \(mem.offset)")
                    p.block("public var \(mem.name): \(type.name) {") { p in
                        p.line("get { _ops.load(at: \(mem.offset), \(type.codec)) }")
                        p.line("set { _ops.store(newValue, at: \(mem.offset), \(type.codec), name: \(quote(mem.cName))) }")
                    }
                }
            }
        }
        return p.lines
    }
}

/// A Swift string literal of `s` (C identifiers and section names: only quotes and backslashes need escaping).
func quote(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if c.value < 0x20 || c.value == 0x7f {
                out += "\\u{\(String(c.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(c)
            }
        }
    }
    return out + "\""
}
