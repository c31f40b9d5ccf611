import BPFCore

/// `bpfswift gen`: code generation: skeletons.
enum GenCommand {
    static let group = CommandGroup(
        name: "gen",
        summary: "code generation: skeletons",
        commands: [
            Command("skeleton", usage: ["skeleton FILE [name OBJECT_NAME] [--lang { swift | c }]"],
                    summary: "Print a skeleton of the BPF object FILE on standard output: code that embeds the object "
                        + "and gives typed access to its maps, programs, links and global variables. With --lang swift "
                        + "(the default), one Swift file for the BPFCore library: a class named after the file "
                        + "(counter.bpf.o gives CounterSkeleton) with init(), load(), attach(), detach(), pin(at:), "
                        + "maps with generated key and value types, and the sections of global variables (.rodata "
                        + "writable until load, .bss and .data live after it, .kconfig read-only). With --lang c, "
                        + "a header with bpftool's skeleton API (NAME__open, __load, __attach, __destroy, "
                        + "skel->maps, skel->bss, ...), NAME defaulting to the file name without .o. "
                        + "name OBJECT_NAME sets the type or C name.",
                    run: skeleton),
        ],
        grammar: [
            "FILE := a compiled BPF object (ELF)",
            "swift: one Swift file for the BPFCore library; c: a header with bpftool's skeleton API",
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
        while let w = args.next() {
            // bpftool accepts any prefix of "name"
            guard !w.isEmpty, "name".hasPrefix(w) else {
                throw UsageError("\(args.commandPath): unknown argument '\(w)'; expected name OBJECT_NAME")
            }
            guard name == nil else { throw UsageError("\(args.commandPath): object name already specified") }
            name = try args.require("OBJECT_NAME after 'name'")
        }
        try args.expectEnd()
        let text = try generateSkeleton(path: file, name: name, language: language)
        ctx.out.write(text)
    }

    /// The skeleton of the object at `path` as text.
    static func generateSkeleton(path: String, name: String?, language: Language) throws -> String {
        switch language {
        case .swift:
            let typeName = name ?? SkeletonNaming.swiftTypeName(fromPath: path)
            do {
                try SkeletonNaming.validateSwiftTypeName(typeName)
            } catch let e as UsageError where name == nil {
                throw UsageError(e.message + " (derived from the file name; give one with name OBJECT_NAME)")
            }
            let model = try SkeletonModel.read(path: path, objectName: SkeletonNaming.objectName(fromPath: path))
            return try SwiftSkeletonGenerator(model: model, typeName: typeName).generate()
        case .c:
            let cName = name ?? SkeletonNaming.cName(fromPath: path)
            do {
                try SkeletonNaming.validateCName(cName)
            } catch let e as UsageError where name == nil {
                throw UsageError(e.message + " (derived from the file name; give one with name OBJECT_NAME)")
            }
            // As bpftool: the C name is also the object name libbpf opens it under.
            let model = try SkeletonModel.read(path: path, objectName: cName)
            return try CSkeletonGenerator(model: model, name: cName).generate()
        }
    }
}
