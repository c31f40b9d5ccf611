import BPFCore

/// `bpfswift gen`: code generation: skeletons.
enum GenCommand {
    static let group = CommandGroup(
        name: "gen",
        summary: "code generation: skeletons",
        commands: []
    )
}
