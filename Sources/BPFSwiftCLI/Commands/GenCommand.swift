import BPFCore

/// `bpfswift gen`: code generation: skeletons.
enum GenCommand {
    static let group = CommandGroup(
        name: "gen",
        summary: "code generation: skeletons",
        commands: [
            Command("skeleton", usage: ["skeleton FILE [name OBJECT_NAME] [types { used | all }] [--lang { swift | c }]"],
                    summary: "Print a skeleton of the BPF object FILE on standard output: code that embeds the object "
                        + "and gives typed access to its maps, programs, links and global variables. With --lang swift "
                        + "(the default), one Swift file for the BPFCore library: a class named after the file "
                        + "(counter.bpf.o gives CounterSkeleton) with init(), load(), attach(), detach(), pin(at:), "
                        + "maps with generated key and value types, and the sections of global variables (.rodata "
                        + "writable until load, .bss and .data live after it, .kconfig read-only). With --lang c, "
                        + "a header with bpftool's skeleton API (NAME__open, __load, __attach, __destroy, "
                        + "skel->maps, skel->bss, ...), NAME defaulting to the file name without .o. "
                        + "name OBJECT_NAME sets the type or C name. The Swift file's Types holds the structs, unions "
                        + "and enums of the object's BTF with their C layout: in full those that the maps, globals and "
                        + "programs' arguments hold by value, the others (reached only through pointers) as typealiases "
                        + "of their size and alignment (types used, the default); types all spells out every one. "
                        + "The object is embedded without DWARF, zlib-compressed.",
                    run: skeleton),
        ],
        grammar: [
            "FILE := a compiled BPF object (ELF)",
            "swift: one Swift file for the BPFCore library; c: a header with bpftool's skeleton API",
            "types: used: full layouts for what the object holds by value, others opaque; all: every type in full (swift only)",
        ]
    )

    enum Language: String { case swift, c }

    /// `gen skeleton FILE [name NAME] [--lang swift|c]`: prints the skeleton on stdout.
    static func skeleton(_ args: inout Arguments, _ ctx: Context) throws {
        let langs = try args.extractOption("--lang")
        guard langs.count <= 1 else { throw UsageError("\(args.commandPath): --lang given more than once") }
        let language: Language
        if let l = langs.first {
            guard let v = Language(rawValue: l) else {
                throw UsageError("\(args.commandPath): unknown language '\(l)'; expected --lang { swift | c }")
            }
            language = v
        } else {
            language = .swift
        }
        let file = try args.require("FILE")
        var name: String?
        var types: SwiftSkeletonGenerator.TypesPolicy?
        while let w = args.next() {
            // bpftool accepts any prefix of "name"
            if !w.isEmpty, "name".hasPrefix(w) {
                guard name == nil else { throw UsageError("\(args.commandPath): object name already specified") }
                name = try args.require("OBJECT_NAME after 'name'")
            } else if w == "types" {
                guard types == nil else { throw UsageError("\(args.commandPath): types already specified") }
                let v = try args.require("used or all after 'types'")
                guard let t = SwiftSkeletonGenerator.TypesPolicy(rawValue: v) else {
                    throw UsageError("\(args.commandPath): unknown types '\(v)'; expected types { used | all }")
                }
                types = t
            } else {
                throw UsageError("\(args.commandPath): unknown argument '\(w)'; expected name OBJECT_NAME or types { used | all }")
            }
        }
        try args.expectEnd()
        if types != nil && language == .c {
            throw UsageError("\(args.commandPath): types applies to --lang swift (a C skeleton has no types)")
        }
        switch language {
        case .swift: ctx.out.write(document: try swiftSkeleton(path: file, name: name, types: types ?? .used))
        case .c: ctx.out.write(document: try cSkeleton(path: file, name: name))
        }
    }

    /// The skeleton of the object at `path` as text.
    static func generateSkeleton(path: String, name: String?, language: Language,
                                 types: SwiftSkeletonGenerator.TypesPolicy = .used) throws -> String {
        switch language {
        case .swift: return try swiftSkeleton(path: path, name: name, types: types)
        case .c: return String(decoding: try cSkeleton(path: path, name: name), as: UTF8.self)
        }
    }

    private static func swiftSkeleton(path: String, name: String?,
                                      types: SwiftSkeletonGenerator.TypesPolicy) throws -> String {
        let typeName = name ?? SkeletonNaming.swiftTypeName(fromPath: path)
        do {
            try SkeletonNaming.validateSwiftTypeName(typeName)
        } catch let e as UsageError where name == nil {
            throw UsageError(e.message + " (derived from the file name; give one with name OBJECT_NAME)")
        }
        let model = try SkeletonModel.read(path: path, objectName: SkeletonNaming.objectName(fromPath: path))
        return try SwiftSkeletonGenerator(model: model, typeName: typeName, types: types).generate()
    }

    /// The C header as UTF-8 bytes, as the command writes it.
    private static func cSkeleton(path: String, name: String?) throws -> [UInt8] {
        let cName = name ?? SkeletonNaming.cName(fromPath: path)
        do {
            try SkeletonNaming.validateCName(cName)
        } catch let e as UsageError where name == nil {
            throw UsageError(e.message + " (derived from the file name; give one with name OBJECT_NAME)")
        }
        // As bpftool: the C name is also the object name libbpf opens it under.
        let model = try SkeletonModel.read(path: path, objectName: cName)
        return try CSkeletonGenerator(model: model, name: cName).generateBytes()
    }
}
