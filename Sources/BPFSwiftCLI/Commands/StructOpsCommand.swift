import BPFCore

/// `bpfswift struct_ops`: struct_ops maps: register, show, dump, unregister.
enum StructOpsCommand {
    static let group = CommandGroup(
        name: "struct_ops",
        summary: "struct_ops maps: register, show, dump, unregister",
        commands: []
    )
}
