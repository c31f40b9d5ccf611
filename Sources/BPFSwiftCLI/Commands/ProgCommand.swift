import BPFCore

/// `bpfswift prog`: BPF programs: show, pin, dump.
enum ProgCommand {
    static let group = CommandGroup(
        name: "prog",
        summary: "BPF programs: show, pin, dump",
        commands: []
    )
}
