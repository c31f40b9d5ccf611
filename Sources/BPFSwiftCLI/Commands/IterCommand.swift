#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift iter`: pin a BPF iterator; reading the pin runs it.
enum IterCommand {
    static let group = CommandGroup(
        name: "iter",
        summary: "BPF iterators: pin",
        commands: [
            Command("pin", usage: ["pin OBJ PATH [map MAP]"],
                    summary: "Load OBJ, attach its first program as an iterator (over the elements of MAP for map "
                        + "iterators) and pin the link at PATH on bpffs: each read of PATH (cat PATH) runs the iterator.",
                    run: pin),
        ],
        grammar: ["MAP := { id MAP_ID | pinned FILE | name MAP_NAME }"]
    )

    static func pin(_ args: inout Arguments, _ ctx: Context) throws {
        let obj = try args.require("OBJ")
        let path = try args.require("PATH")
        var map: FileDescriptor? = nil
        defer { map?.close() }
        if let w = args.next() {
            guard !w.isEmpty, "map".hasPrefix(w) else {
                throw UsageError("\(args.commandPath): expected no more arguments or 'map', got: '\(w)'?")
            }
            guard args.remaining.count >= 2 else { throw UsageError("\(args.commandPath): incorrect map spec") }
            map = try ProgCommand.openOneMap(try args.selector("MAP", allowed: ["id", "pinned", "name"]))
        }
        try args.expectEnd()
        try IteratorPin.pin(objectFile: obj, at: path, map: map)
        if ctx.json { ctx.emitJSON { $0.null() } }
    }
}
