import BPFCore

/// `bpfswift map`: BPF maps: show, dump, lookup, update, ....
enum MapCommand {
    static let group = CommandGroup(
        name: "map",
        summary: "BPF maps: show, dump, lookup, update, ...",
        commands: []
    )
}
