#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift link`: BPF links: show, pin, detach.
enum LinkCommand {
    static let group = CommandGroup(
        name: "link",
        summary: "BPF links: show, pin, detach",
        commands: [
            Command("show", usage: ["{ show | list } [LINK]"],
                    summary: "Show every link, or the one LINK names, with the details of its type "
                        + "as bpftool prints them; -j prints JSON with bpftool's keys, -f adds the pinned paths.",
                    run: show),
            Command("list", usage: [], summary: "The same as show.", run: show),
            Command("pin", usage: ["pin LINK FILE"],
                    summary: "Pin LINK at FILE, a new name on a bpffs mount: the link, and the program "
                        + "attached through it, then outlive every process. Removing the pin lets it go.",
                    run: pin),
            Command("detach", usage: ["detach LINK"],
                    summary: "Detach LINK from its hook: the program stops running, while descriptors "
                        + "and pins keep the (now defunct) link. Link types without a detach operation "
                        + "(perf_event, raw_tracepoint, iter, ...) fail with \"Operation not supported\".",
                    run: detach),
        ],
        grammar: ["LINK := { id LINK_ID | pinned FILE }"]
    )

    static let selectorWords = ["id", "pinned"]

    /// `link show [LINK]`: one link (a JSON object), or every link (a JSON array).
    static func show(_ args: inout Arguments, _ ctx: Context) throws {
        if args.isEmpty {
            let links = try KernelLink.openAll()
            var infos: [LinkInfo] = []
            infos.reserveCapacity(links.count)
            for link in links {
                // A link detached between listing and reading it (its program or
                // map already gone) went away: skip it, as it would not be listed.
                do {
                    infos.append(try link.info())
                } catch {
                    if error.errno == ENOENT { continue }
                    throw error
                }
            }
            if ctx.json {
                ctx.emitJSON { w in
                    w.beginArray()
                    for info in infos { LinkOutput.json(info, pinned: pinnedForJSON(info, ctx), &w) }
                    w.endArray()
                }
            } else {
                for info in infos { ctx.out.write(LinkOutput.text(info, pinned: pinnedForText(info, ctx))) }
            }
            return
        }
        let selector = try args.selector("LINK", allowed: selectorWords)
        try args.expectEnd()
        let info = try KernelLink.open(selector).info()
        if ctx.json {
            ctx.emitJSON { w in LinkOutput.json(info, pinned: pinnedForJSON(info, ctx), &w) }
        } else {
            ctx.out.write(LinkOutput.text(info, pinned: pinnedForText(info, ctx)))
        }
    }

    /// bpftool adds `"pinned"` to every link once any link is pinned (with -f).
    private static func pinnedForJSON(_ info: LinkInfo, _ ctx: Context) -> [String]? {
        guard ctx.options.bpffs, ctx.pinned.hasPins(.link) else { return nil }
        return ctx.pinned.pathsInBpftoolOrder(.link, id: info.id.rawValue)
    }

    private static func pinnedForText(_ info: LinkInfo, _ ctx: Context) -> [String] {
        ctx.options.bpffs ? ctx.pinned.pathsInBpftoolOrder(.link, id: info.id.rawValue) : []
    }

    /// `link pin LINK FILE`.
    static func pin(_ args: inout Arguments, _ ctx: Context) throws {
        let selector = try args.selector("LINK", allowed: selectorWords)
        let path = try args.require("FILE")
        try args.expectEnd()
        try KernelLink.open(selector).pin(at: path)
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    /// `link detach LINK`: the program leaves its hook; the link object stays
    /// (defunct) while descriptors or pins hold it.
    static func detach(_ args: inout Arguments, _ ctx: Context) throws {
        let selector = try args.selector("LINK", allowed: selectorWords)
        try args.expectEnd()
        try KernelLink.open(selector).detach()
        if ctx.json { ctx.emitJSON { $0.null() } }
    }
}
