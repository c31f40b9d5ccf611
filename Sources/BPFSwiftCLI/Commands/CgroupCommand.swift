#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift cgroup`: programs attached to cgroup v2 directories; bpftool's grammar and output.
enum CgroupCommand {
    static let attachTypeGrammar = "ATTACH_TYPE := { cgroup_inet_ingress | cgroup_inet_egress | cgroup_inet_sock_create | "
        + "cgroup_sock_ops | cgroup_device | cgroup_inet4_bind | cgroup_inet6_bind | cgroup_inet4_post_bind | "
        + "cgroup_inet6_post_bind | cgroup_inet4_connect | cgroup_inet6_connect | cgroup_unix_connect | "
        + "cgroup_inet4_getpeername | cgroup_inet6_getpeername | cgroup_unix_getpeername | "
        + "cgroup_inet4_getsockname | cgroup_inet6_getsockname | cgroup_unix_getsockname | "
        + "cgroup_udp4_sendmsg | cgroup_udp6_sendmsg | cgroup_unix_sendmsg | cgroup_udp4_recvmsg | "
        + "cgroup_udp6_recvmsg | cgroup_unix_recvmsg | cgroup_sysctl | cgroup_getsockopt | "
        + "cgroup_setsockopt | cgroup_inet_sock_release }"

    static let group = CommandGroup(
        name: "cgroup",
        summary: "Programs attached to cgroups: show, tree, attach, detach",
        commands: [
            Command("show", usage: ["{ show | list } CGROUP [effective]"],
                    summary: "List the programs attached to the cgroup v2 directory CGROUP, by attach type: id, "
                        + "attach type, attach flags and name, as bpftool does; effective lists the programs in effect "
                        + "there (those inherited included) instead. Where nothing is attached, the text output is "
                        + "empty and -j prints [] (bpftool 7.5 prints an empty line).",
                    run: show),
            Command("list", usage: [], summary: "The same as show.", run: show),
            Command("tree", usage: ["tree [CGROUP_ROOT] [effective]"],
                    summary: "The same for every cgroup under CGROUP_ROOT (default: the cgroup v2 mount) that has "
                        + "programs, walking directories in the order the file system lists them, without crossing mounts.",
                    run: tree),
            Command("attach", usage: ["attach CGROUP ATTACH_TYPE PROG [ATTACH_FLAGS]"],
                    summary: "Attach PROG to CGROUP (bpf_prog_attach). multi lets several programs share the hook, "
                        + "override lets a descendant's program replace this one. Traditional short names "
                        + "(ingress, egress, sock_create, bind4, sysctl, ...) are accepted as bpftool accepts them.",
                    run: attach),
            Command("detach", usage: ["detach CGROUP ATTACH_TYPE PROG"],
                    summary: "Detach PROG from CGROUP's ATTACH_TYPE hook.",
                    run: detach),
        ],
        grammar: [attachTypeGrammar, "ATTACH_FLAGS := { multi | override }", ProgCommand.progGrammar]
    )

    private static func effectiveFlag(_ args: inout Arguments) throws -> Bool {
        var effective = false
        while let w = args.next() {
            guard !w.isEmpty, "effective".hasPrefix(w) else {
                throw UsageError("\(args.commandPath): expected no more arguments, 'effective', got: '\(w)'?")
            }
            if effective { throw UsageError("\(args.commandPath): duplicated argument: \(w)") }
            effective = true
        }
        return effective
    }

    /// `cgroup show CGROUP [effective]`.
    static func show(_ args: inout Arguments, _ ctx: Context) throws {
        let path = try args.require("CGROUP")
        let effective = try effectiveFlag(&args)
        let cgroup = try CgroupQuery.open(path)
        defer { cgroup.close() }
        let query = CgroupQuery(effective: effective)
        let programs = try query.hasPrograms(cgroup, path: path) ? query.programs(cgroup) : []
        if ctx.json {
            ctx.emitJSON { w in
                w.beginArray()
                for p in programs { json(p, effective: effective, &w) }
                w.endArray()
            }
            return
        }
        guard !programs.isEmpty else { return }
        ctx.out.write(header(effective))
        for p in programs { ctx.out.write(text(p, effective: effective, level: 0)) }
    }

    /// `cgroup tree [CGROUP_ROOT] [effective]`.
    static func tree(_ args: inout Arguments, _ ctx: Context) throws {
        var effective = false
        let root: String
        if let r = args.next() {
            root = r
            effective = try effectiveFlag(&args)
        } else {
            guard let r = CgroupTree.v2Mount() else { throw BPFError("cgroup v2 isn't mounted") }
            root = r
        }
        let query = CgroupQuery(effective: effective)
        var w = ctx.makeJSONWriter()
        if ctx.json { w.beginArray() } else { ctx.out.write("CgroupPath\n" + header(effective)) }
        try CgroupTree.walk(root) { path, level in
            guard let cgroup = try? CgroupQuery.open(path) else {
                throw BPFError("can't open cgroup \(path)", errno: errno)
            }
            defer { cgroup.close() }
            guard try query.hasPrograms(cgroup, path: path) else { return }
            let programs = query.programs(cgroup)
            if ctx.json {
                w.beginObject()
                w.field("cgroup", path)
                w.key("programs")
                w.beginArray()
                for p in programs { json(p, effective: effective, &w) }
                w.endArray()
                w.endObject()
            } else {
                ctx.out.write(path + "\n")
                for p in programs { ctx.out.write(text(p, effective: effective, level: level)) }
            }
        }
        if ctx.json {
            w.endArray()
            ctx.out.write(bytes: w.bytes)
            ctx.out.line()
        }
    }

    private static func header(_ effective: Bool) -> String {
        effective
            ? pad("ID", 8) + " " + pad("AttachType", 15) + " " + pad("Name", 15) + "\n"
            : pad("ID", 8) + " " + pad("AttachType", 15) + " " + pad("AttachFlags", 15) + " " + pad("Name", 15) + "\n"
    }

    /// One line as bpftool's show_bpf_prog prints it (C's %-8u, %-15s columns).
    static func text(_ p: CgroupProgram, effective: Bool, level: Int) -> String {
        var s = (level > 0 ? "    " : "") + pad(String(p.id), 8) + " "
        s += p.attachType.name.map { pad($0, 15) } ?? "type " + pad(String(p.attachType.rawValue), 10)
        if effective {
            s += " " + pad(p.name, 15)
        } else {
            s += " " + pad(p.attachFlags ?? "", 15) + " " + pad(p.name, 15)
        }
        if let n = p.attachBTFName {
            s += " " + pad(n, 15)
        } else if p.attachBTFID != 0 {
            s += " attach_btf_obj_id=\(Int32(bitPattern: p.attachBTFObjectID)) attach_btf_id=\(Int32(bitPattern: p.attachBTFID))"
        }
        return s + "\n"
    }

    static func json(_ p: CgroupProgram, effective: Bool, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", p.id)
        if let n = p.attachType.name { w.field("attach_type", n) } else { w.field("attach_type", p.attachType.rawValue) }
        if !effective { w.field("attach_flags", p.attachFlags ?? "") }
        w.field("name", p.name)
        if let n = p.attachBTFName { w.field("attach_btf_name", n) }
        w.field("attach_btf_obj_id", p.attachBTFObjectID)
        w.field("attach_btf_id", p.attachBTFID)
        w.endObject()
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    /// CGROUP ATTACH_TYPE PROG [FLAGS]: every word checked before anything is opened.
    private static func parse(_ args: inout Arguments, verb: String) throws -> (String, AttachType, Selector, CgroupAttachFlags) {
        guard args.remaining.count >= 4 else { throw UsageError("\(args.commandPath): too few parameters for cgroup \(verb)") }
        let path = args.next()!
        let word = args.next()!
        guard let type = CgroupAttach.attachType(word) else {
            throw UsageError("\(args.commandPath): invalid attach type")
        }
        let selector = try args.selector("PROG", allowed: ProgCommand.selectorWords)
        var flags: CgroupAttachFlags = []
        while verb == "attach", let w = args.next() {
            if !w.isEmpty && "multi".hasPrefix(w) {
                flags.insert(.allowMulti)
            } else if !w.isEmpty && "override".hasPrefix(w) {
                flags.insert(.allowOverride)
            } else {
                throw UsageError("\(args.commandPath): unknown option: \(w)")
            }
        }
        try args.expectEnd()
        return (path, type, selector, flags)
    }

    /// `cgroup attach CGROUP ATTACH_TYPE PROG [multi|override]...`.
    static func attach(_ args: inout Arguments, _ ctx: Context) throws {
        let (path, type, selector, flags) = try parse(&args, verb: "attach")
        let cgroup = try CgroupQuery.open(path)
        defer { cgroup.close() }
        let program = try Program.selectOne(selector)
        defer { program.fd.close() }
        try CgroupAttach.attach(program: program.fd, cgroup: cgroup, type: type, flags: flags)
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    /// `cgroup detach CGROUP ATTACH_TYPE PROG`.
    static func detach(_ args: inout Arguments, _ ctx: Context) throws {
        let (path, type, selector, _) = try parse(&args, verb: "detach")
        let cgroup = try CgroupQuery.open(path)
        defer { cgroup.close() }
        let program = try Program.selectOne(selector)
        defer { program.fd.close() }
        try CgroupAttach.detach(program: program.fd, cgroup: cgroup, type: type)
        if ctx.json { ctx.emitJSON { $0.null() } }
    }
}
