import BPFCore

/// `bpfswift feature`: what BPF features the kernel offers (bpftool's
/// `feature probe`, with its sections, keys and macros) and the names
/// bpfswift knows (`feature list_builtins`).
enum FeatureCommand {
    static let group = CommandGroup(
        name: "feature",
        summary: "Probe the kernel's BPF features; list the type and helper names bpfswift knows",
        commands: [
            Command("probe", usage: ["probe [COMPONENT] [full] [unprivileged] [macros [prefix PREFIX]]"],
                    summary: "Probe the system configuration (BPF sysctls, kernel config), the bpf() syscall, every program "
                        + "and map type, the helpers each program type may call, and miscellaneous features (large programs, "
                        + "bounded loops, ISA extensions), printed as bpftool prints them. full also probes the helpers that "
                        + "write to the kernel log when probed (bpf_trace_printk, bpf_trace_vprintk, bpf_probe_write_user). "
                        + "unprivileged drops CAP_SYS_ADMIN, CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON first and probes what a "
                        + "user without them may use; without it, those capabilities are required. macros prints C "
                        + "#define lines (HAVE_..., NO_HAVE_..., with PREFIX before each name). dev NAME probes what can be "
                        + "offloaded to network device NAME instead of the kernel.",
                    run: probe),
            Command("list_builtins", usage: ["list_builtins GROUP"],
                    summary: "The names of program types, map types, attach types, link types or helpers that bpfswift "
                        + "knows (from libbpf and the kernel UAPI header it was built with), one a line, in enum order.",
                    run: listBuiltins),
        ],
        grammar: [
            "COMPONENT := { kernel | dev NAME }",
            "GROUP := { prog_types | map_types | attach_types | link_types | helpers }",
        ]
    )

    /// bpftool's is_prefix: `word` is a non-empty prefix of `keyword`.
    static func isPrefix(_ word: String, _ keyword: String) -> Bool { !word.isEmpty && keyword.hasPrefix(word) }

    struct ProbeRequest {
        var component: Component = .unspecified
        var device: String?
        var full = false
        var unprivileged = false
        /// nil: no macros; "" or a prefix: macros.
        var macroPrefix: String?
        enum Component { case unspecified, kernel, device }
    }

    static func parseProbe(_ args: inout Arguments) throws -> ProbeRequest {
        var r = ProbeRequest()
        while let w = args.next() {
            if isPrefix(w, "kernel") {
                guard r.component == .unspecified else { throw UsageError("component to probe already specified") }
                r.component = .kernel
            } else if isPrefix(w, "dev") {
                guard r.component == .unspecified else { throw UsageError("component to probe already specified") }
                r.device = try args.require("a network device NAME after 'dev'")
                r.component = .device
            } else if isPrefix(w, "full") {
                r.full = true
            } else if isPrefix(w, "macros") && r.macroPrefix == nil {
                r.macroPrefix = ""
            } else if isPrefix(w, "prefix") {
                guard let p = r.macroPrefix else { throw UsageError("'prefix' argument can only be used after 'macros'") }
                guard p.isEmpty else { throw UsageError("'prefix' already defined") }
                r.macroPrefix = try args.require("a PREFIX after 'prefix'")
            } else if isPrefix(w, "unprivileged") {
                r.unprivileged = true
            } else {
                throw UsageError("expected no more arguments, 'kernel', 'dev', 'full', 'unprivileged', 'macros' or 'prefix', got: '\(w)'")
            }
        }
        return r
    }

    static func probe(_ args: inout Arguments, _ ctx: Context) throws {
        let r = try parseProbe(&args)
        let ifindex = try r.device.map { name throws(BPFError) in try FeatureProbe.deviceIndex(name) }
        try FeatureProbe.checkPrivileges(unprivileged: r.unprivileged)
        let report = FeatureProbe.run(.init(full: r.full, unprivileged: r.unprivileged, deviceIndex: ifindex))
        if ctx.json {
            ctx.emitJSON { w in FeatureOutput.json(report, &w) }
        } else {
            // bpftool's notes (procfs missing, no kernel config) go to stderr, never with -j.
            for note in FeatureOutput.notes(report) { ctx.err.line(note) }
            ctx.out.write(FeatureOutput.text(report, macroPrefix: r.macroPrefix))
        }
    }

    static func listBuiltins(_ args: inout Arguments, _ ctx: Context) throws {
        let groups = FeatureProbe.BuiltinGroup.allCases
        let word = try args.require("GROUP := { prog_types | map_types | attach_types | link_types | helpers }")
        guard let group = groups.first(where: { isPrefix(word, $0.rawValue) }) else {
            throw UsageError("expected 'prog_types', 'map_types', 'attach_types', 'link_types' or 'helpers', got: \(word)")
        }
        try args.expectEnd()
        let names = FeatureProbe.builtinNames(group)
        if ctx.json {
            ctx.emitJSON { w in
                w.beginArray()
                for n in names { w.string(n) }
                w.endArray()
            }
        } else {
            for n in names { ctx.out.line(n) }
        }
    }
}

/// `feature probe` rendered as bpftool renders it: plain text, C macros, JSON.
enum FeatureOutput {
    static func notes(_ r: FeatureReport) -> [String] {
        guard let s = r.system else { return [] }
        var out: [String] = []
        if s.sysctls == nil { out.append("/* procfs not mounted, skipping related probes */") }
        if let p = s.kernelConfigProblem { out.append(p) }
        return out
    }

    /// "_" → "_", letters upper-cased (C's toupper on ASCII).
    static func upper(_ s: String) -> String {
        String(decoding: s.utf8.map { $0 >= 0x61 && $0 <= 0x7a ? $0 - 0x20 : $0 }, as: UTF8.self)
    }

    static func text(_ r: FeatureReport, macroPrefix: String?) -> String {
        var o = ""
        let macros = macroPrefix != nil
        let prefix = macroPrefix ?? ""
        func section(_ plain: String, _ comment: String) { o += (macros ? comment : plain) + "\n" }
        func bool(_ plain: String, _ define: String, _ res: Bool) {
            if macros { o += "#define \(prefix)\(res ? "" : "NO_")HAVE_\(define)\n" }
            else { o += "\(plain) is \(res ? "" : "NOT ")available\n" }
        }
        if let s = r.system {
            section("Scanning system configuration...", "/*** Misc kernel config items ***/")
            if !macros, let c = s.sysctls {
                o += describe(c.unprivilegedBPFDisabled, [
                    0: "bpf() syscall for unprivileged users is enabled",
                    1: "bpf() syscall restricted to privileged users (without recovery)",
                    2: "bpf() syscall restricted to privileged users (admin can change)",
                    -1: "Unable to retrieve required privileges for bpf() syscall",
                ], other: "bpf() syscall restriction has unknown value")
                o += describe(c.jitEnable, [
                    0: "JIT compiler is disabled", 1: "JIT compiler is enabled",
                    2: "JIT compiler is enabled with debugging traces in kernel logs",
                    -1: "Unable to retrieve JIT-compiler status",
                ], other: "JIT-compiler status has unknown value")
                o += describe(c.jitHarden, [
                    0: "JIT compiler hardening is disabled",
                    1: "JIT compiler hardening is enabled for unprivileged users",
                    2: "JIT compiler hardening is enabled for all users",
                    -1: "Unable to retrieve JIT hardening status",
                ], other: "JIT hardening status has unknown value")
                o += describe(c.jitKallsyms, [
                    0: "JIT compiler kallsyms exports are disabled",
                    1: "JIT compiler kallsyms exports are enabled for root",
                    -1: "Unable to retrieve JIT kallsyms export status",
                ], other: "JIT kallsyms exports status has unknown value")
                o += c.jitLimit == -1
                    ? "Unable to retrieve global memory limit for JIT compiler for unprivileged users\n"
                    : "Global memory limit for JIT compiler for unprivileged users is \(c.jitLimit) bytes\n"
            }
            for opt in s.kernelConfig ?? [] where !macros || opt.inMacros {
                if macros {
                    o += opt.value.map { "#define \(prefix)\(opt.name) \($0)\n" } ?? "/* \(prefix)\(opt.name) is not set */\n"
                } else {
                    o += opt.value.map { "\(opt.name) is set to \($0)\n" } ?? "\(opt.name) is not set\n"
                }
            }
            o += "\n"
        }
        section("Scanning system call availability...", "/*** System call availability ***/")
        bool("bpf() syscall", "BPF_SYSCALL", r.syscallAvailable)
        o += "\n"
        guard r.probedBeyondSyscall else { return o }

        section("Scanning eBPF program types...", "/*** eBPF program types ***/")
        for t in r.programTypes { bool("eBPF program_type \(t.name)", upper("\(t.name)_prog_type"), t.available) }
        o += "\n"
        section("Scanning eBPF map types...", "/*** eBPF map types ***/")
        for t in r.mapTypes { bool("eBPF map_type \(t.name)", upper("\(t.name)_map_type"), t.available) }
        o += "\n"
        section("Scanning eBPF helper functions...", "/*** eBPF helper functions ***/")
        if macros {
            o += """
                /*
                 * Use \(prefix)HAVE_PROG_TYPE_HELPER(prog_type_name, helper_name)
                 * to determine if <helper_name> is available for <prog_type_name>,
                 * e.g.
                 *\t#if \(prefix)HAVE_PROG_TYPE_HELPER(xdp, bpf_redirect)
                 *\t\t// do stuff with this helper
                 *\t#elif
                 *\t\t// use a workaround
                 *\t#endif
                 */
                #define \(prefix)HAVE_PROG_TYPE_HELPER(prog_type, helper)\t\\
                \t\(prefix)BPF__PROG_TYPE_ ## prog_type ## __HELPER_ ## helper

                """
        }
        for h in r.helpers {
            if macros {
                for f in h.helpers {
                    o += "#define \(prefix)BPF__PROG_TYPE_\(h.programType)__HELPER_\(f.name) \(f.available ? "1" : "0")\n"
                }
                continue
            }
            o += "eBPF helpers supported for program type \(h.programType):"
            for f in h.helpers where f.available { o += "\n\t- \(f.name)" }
            o += "\n"
            if !h.anyAvailable {
                o += h.programTypeSupported ? "\tCould not determine which helpers are available\n" : "\tProgram type not supported\n"
            }
        }
        o += "\n"
        section("Scanning miscellaneous eBPF features...", "/*** eBPF misc features ***/")
        for m in r.misc { bool(m.description, m.macro, m.available) }
        o += "\n"
        return o
    }

    static func describe(_ v: Int, _ known: [Int: String], other: String) -> String {
        (known[v] ?? "\(other) \(v)") + "\n"
    }

    static func json(_ r: FeatureReport, _ w: inout JSONWriter) {
        w.beginObject()
        if let s = r.system {
            w.key("system_config"); w.beginObject()
            if let c = s.sysctls {
                w.field("unprivileged_bpf_disabled", c.unprivilegedBPFDisabled)
                w.field("bpf_jit_enable", c.jitEnable)
                w.field("bpf_jit_harden", c.jitHarden)
                w.field("bpf_jit_kallsyms", c.jitKallsyms)
                w.field("bpf_jit_limit", c.jitLimit)
            }
            for opt in s.kernelConfig ?? [] {
                w.key(opt.name)
                if let v = opt.value { w.string(v) } else { w.null() }
            }
            w.endObject()
        }
        w.key("syscall_config"); w.beginObject()
        w.field("have_bpf_syscall", r.syscallAvailable)
        w.endObject()
        if r.probedBeyondSyscall {
            w.key("program_types"); w.beginObject()
            for t in r.programTypes { w.field("have_\(t.name)_prog_type", t.available) }
            w.endObject()
            w.key("map_types"); w.beginObject()
            for t in r.mapTypes { w.field("have_\(t.name)_map_type", t.available) }
            w.endObject()
            w.key("helpers"); w.beginObject()
            for h in r.helpers {
                w.key("\(h.programType)_available_helpers"); w.beginArray()
                for f in h.helpers where f.available { w.string(f.name) }
                w.endArray()
            }
            w.endObject()
            w.key("misc"); w.beginObject()
            for m in r.misc { w.field("have_\(m.key)", m.available) }
            w.endObject()
        }
        w.endObject()
    }
}
