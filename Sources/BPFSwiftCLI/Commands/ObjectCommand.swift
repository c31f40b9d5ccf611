import BPFCore

/// `bpfswift object`: whole BPF object files and their pinned trees.
enum ObjectCommand {
    static let group = CommandGroup(
        name: "object",
        summary: "whole BPF object files and their pinned trees",
        commands: []
    )
}
