import BPFCore

/// `bpfswift link`: BPF links: show, pin, detach.
enum LinkCommand {
    static let group = CommandGroup(
        name: "link",
        summary: "BPF links: show, pin, detach",
        commands: []
    )
}
