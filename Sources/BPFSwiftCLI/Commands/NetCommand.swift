#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift net`: programs on network devices (XDP, tcx, tc), the
/// namespace's flow dissector and netfilter hooks; bpftool's grammar and output.
enum NetCommand {
    static let group = CommandGroup(
        name: "net",
        summary: "Network attachments: show, attach, detach (XDP, tcx, tc, flow dissector, netfilter)",
        commands: [
            Command("show", usage: ["{ show | list } [dev NAME]"],
                    summary: "Show the BPF programs attached in the current network namespace, as bpftool does: "
                        + "XDP programs by device and mode, tcx and netkit programs, classic tc (cls_bpf) filters "
                        + "with their actions, the flow dissector, and netfilter links. dev NAME keeps one device. "
                        + "With -j, the flow dissector is written as [{\"id\": ID}] (bpftool 7.5 writes invalid JSON there).",
                    run: show),
            Command("list", usage: [], summary: "The same as show.", run: show),
            Command("attach", usage: ["attach ATTACH_TYPE PROG dev NAME [overwrite]"],
                    summary: "Attach PROG to device NAME: xdp (the driver's mode if it has one, else generic), "
                        + "xdpgeneric, xdpdrv, xdpoffload, or tcx_ingress/tcx_egress. An XDP program already there "
                        + "is replaced only with overwrite. The attachment stays after the command exits (no link).",
                    run: attach),
            Command("detach", usage: ["detach ATTACH_TYPE dev NAME"],
                    summary: "Detach the program ATTACH_TYPE names from device NAME.",
                    run: detach),
        ],
        grammar: [ProgCommand.progGrammar,
                  "ATTACH_TYPE := { xdp | xdpgeneric | xdpdrv | xdpoffload | tcx_ingress | tcx_egress }"]
    )

    /// `dev NAME` → the device's index (bpftool's net_parse_dev).
    private static func device(_ args: inout Arguments) throws -> Int32 {
        let word = try args.require("dev NAME")
        guard !word.isEmpty, "dev".hasPrefix(word) else {
            throw UsageError("\(args.commandPath): expected 'dev', got: '\(word)'?")
        }
        let name = try args.require("NAME after dev")
        let index = if_nametoindex(name)
        guard index > 0 else { throw BPFError("invalid devname \(name)") }
        return Int32(bitPattern: index)
    }

    private static func attachType(_ args: inout Arguments) throws -> NetAttachType {
        let word = try args.require("ATTACH_TYPE")
        guard let t = NetAttachType(prefix: word) else {
            throw UsageError("\(args.commandPath): invalid net attach/detach type: \(word)")
        }
        return t
    }

    /// `net show [dev NAME]`.
    static func show(_ args: inout Arguments, _ ctx: Context) throws {
        var filter: Int32? = nil
        if !args.isEmpty { filter = try device(&args) }
        try args.expectEnd()
        let a = try NetAttachments.query(interfaceIndex: filter)
        if ctx.json {
            ctx.emitJSON { NetOutput.json(a, &$0) }
        } else {
            ctx.out.write(NetOutput.text(a))
        }
    }

    /// `net attach ATTACH_TYPE PROG dev NAME [overwrite]`.
    static func attach(_ args: inout Arguments, _ ctx: Context) throws {
        let type = try attachType(&args)
        let selector = try args.selector("PROG", allowed: ProgCommand.selectorWords)
        let index = try device(&args)
        var overwrite = false
        if let w = args.next() {
            guard !w.isEmpty, "overwrite".hasPrefix(w) else {
                throw UsageError("\(args.commandPath): expected 'overwrite', got: '\(w)'?")
            }
            overwrite = true
        }
        try args.expectEnd()
        let program = try Program.selectOne(selector)
        defer { program.fd.close() }
        try NetAttach.attach(type, program: program.fd, interfaceIndex: index, overwrite: overwrite)
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    /// `net detach ATTACH_TYPE dev NAME`.
    static func detach(_ args: inout Arguments, _ ctx: Context) throws {
        let type = try attachType(&args)
        let index = try device(&args)
        try args.expectEnd()
        try NetAttach.detach(type, interfaceIndex: index)
        if ctx.json { ctx.emitJSON { $0.null() } }
    }
}
