import Testing
import Foundation
import BPFCore
@testable import BPFSwiftCLI
import TestSupport

/// `feature probe` and `feature list_builtins` against bpftool 7.5 on the
/// running kernel: text line by line, JSON field by field (both ways, and
/// in bpftool's key order), for every form of the command.
///
/// Allowed differences, and only these:
/// - `unprivileged` where /proc/sys/kernel/unprivileged_bpf_disabled is 0:
///   bpftool reads an errno its probe did not set (a load that succeeds
///   after an earlier probe failed with EPERM counts as not available);
///   bpfswift clears errno before each probe. So there, and only in the
///   program types and helpers, bpftool may say "not available" where
///   bpfswift says "available" (never the other way). This machine's
///   setting (2) makes every unprivileged probe fail: no difference allowed.
/// - Nothing else: our libbpf (1.4) names the same program, map, attach and
///   link types as bpftool's (1.5) through bpfswift's name tables; helper
///   names come from the same UAPI list (ids 0 to 211); and libbpf 1.4's
///   helper probe, which misreads this kernel's "program of this type
///   cannot use helper", is replaced by a load read as libbpf 1.5 reads it.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct FeatureProbeTests {
    /// unprivileged_bpf_disabled, for the allowed difference above.
    static let unprivilegedBPFEnabled: Bool = {
        (try? String(contentsOfFile: "/proc/sys/kernel/unprivileged_bpf_disabled", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) == "0"
    }()

    /// Whether bpftool's line `theirs` may stand where bpfswift printed `ours`
    /// (the one allowed difference, in text and macro form).
    static func allowedTextDifference(_ args: [String], ours: Substring, theirs: Substring) -> Bool {
        guard args.contains("unprivileged"), unprivilegedBPFEnabled else { return false }
        if ours.hasPrefix("eBPF program_type ") && ours.hasSuffix(" is available") {
            return theirs == ours.dropLast(" is available".count) + " is NOT available"
        }
        if ours.hasPrefix("#define ") && ours.contains("_PROG_TYPE") && !ours.contains("NO_HAVE_") {
            return theirs == ours.replacingOccurrences(of: "HAVE_", with: "NO_HAVE_")
        }
        if ours.contains("__HELPER_") && ours.hasSuffix(" 1") { return theirs == ours.dropLast() + "0" }
        return false
    }

    func runBoth(_ args: [String]) throws -> (ours: ProcessResult, theirs: ProcessResult) {
        let theirs = try Bpftool.run(args)
        let ours = try bpfswift(args: args)
        #expect(theirs.status == 0, "bpftool \(args): \(theirs.stderr)")
        #expect(ours.status == 0, "bpfswift \(args): \(ours.stderr)")
        // Notes (no kernel config, no procfs) go to stderr in both, identically.
        #expect(ours.stderr == theirs.stderr, "stderr of \(args)")
        return (ours, theirs)
    }

    /// Text output, line by line (helper lines of an allowed difference aside).
    func sameText(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (ours, theirs) = try runBoth(["feature", "probe"] + args)
        let a = ours.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let b = theirs.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(a.count > (args.contains("dev") ? 20 : 40), "bpfswift feature probe \(args) printed \(a.count) lines", sourceLocation: sourceLocation)
        if a == b { return }
        // An allowed difference in helpers removes a line from bpftool's text; compare what remains.
        var i = 0, j = 0, differences: [String] = []
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] { i += 1; j += 1; continue }
            if i < a.count, j < b.count, Self.allowedTextDifference(args, ours: a[i], theirs: b[j]) { i += 1; j += 1; continue }
            if i < a.count, a[i].hasPrefix("\t- "), args.contains("unprivileged"), Self.unprivilegedBPFEnabled { i += 1; continue }
            differences.append("line \(i + 1): ours \(i < a.count ? String(a[i]) : "<end>") / bpftool \(j < b.count ? String(b[j]) : "<end>")")
            i += 1; j += 1
            if differences.count > 5 { break }
        }
        #expect(differences.isEmpty, "feature probe \(args.joined(separator: " ")) differs from bpftool: \(differences)",
                sourceLocation: sourceLocation)
    }

    /// The keys of a JSON object in document order (JSONSerialization keeps no order).
    static func keyOrder(_ json: String, of object: String?) -> [String] {
        // Top level: the sections; a section: its keys. Good for bpftool's flat sections.
        var text = Substring(json)
        if let object {
            guard let r = text.range(of: "\"\(object)\":{") else { return [] }
            text = text[r.upperBound...]
            text = text[..<(text.firstIndex(of: "}") ?? text.endIndex)]
        }
        var keys: [String] = []
        var depth = 0, inString = false, escaped = false, start: Substring.Index? = nil
        var idx = text.startIndex
        while idx < text.endIndex {
            let c = text[idx]
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" {
                    inString = false
                    let next = text.index(after: idx)
                    if let s = start, next < text.endIndex, text[next] == ":", depth == (object == nil ? 1 : 0) {
                        keys.append(String(text[s..<idx]))
                    }
                }
            } else if c == "\"" { inString = true; start = text.index(after: idx) }
            else if c == "{" || c == "[" { depth += 1 }
            else if c == "}" || c == "]" { depth -= 1 }
            idx = text.index(after: idx)
        }
        return keys
    }

    /// JSON output: every field of bpftool's in ours with the same value and
    /// every field of ours in bpftool's, sections and keys in the same order.
    func sameJSON(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (ours, theirs) = try runBoth(["-j", "feature", "probe"] + args)
        let o = try #require(try parseJSON(ours.stdout) as? [String: Any], sourceLocation: sourceLocation)
        let t = try #require(try parseJSON(theirs.stdout) as? [String: Any], sourceLocation: sourceLocation)
        let sections = Self.keyOrder(theirs.stdout, of: nil)
        #expect(sections == ["system_config", "syscall_config", "program_types", "map_types", "helpers", "misc"]
                || args.contains("dev"), sourceLocation: sourceLocation)
        #expect(Self.keyOrder(ours.stdout, of: nil) == sections, sourceLocation: sourceLocation)
        for s in sections where s != "helpers" {
            #expect(Self.keyOrder(ours.stdout, of: s) == Self.keyOrder(theirs.stdout, of: s), "key order of \(s)",
                    sourceLocation: sourceLocation)
        }
        let unprivilegedSlack = args.contains("unprivileged") && Self.unprivilegedBPFEnabled
        for s in sections {
            let os = try #require(o[s] as? [String: Any], "section \(s)", sourceLocation: sourceLocation)
            let ts = try #require(t[s] as? [String: Any], sourceLocation: sourceLocation)
            #expect(Set(os.keys) == Set(ts.keys), "keys of \(s)", sourceLocation: sourceLocation)
            for (k, tv) in ts {
                guard let ov = os[k] else { continue }
                if unprivilegedSlack, s == "program_types", (ov as? Bool) == true, (tv as? Bool) == false { continue }
                if unprivilegedSlack, s == "helpers", let oa = ov as? [String], let ta = tv as? [String],
                   Set(ta).isSubset(of: Set(oa)) { continue }
                if let d = jsonDifference(expected: tv, actual: ov, path: "\(s).\(k)") {
                    Issue.record("feature probe -j \(args.joined(separator: " ")): \(d)", sourceLocation: sourceLocation)
                }
            }
        }
    }

    @Test("feature probe: text and JSON as bpftool's")
    func probe() throws {
        try sameText([])
        try sameJSON([])
    }

    @Test("feature probe kernel: text and JSON as bpftool's")
    func probeKernel() throws {
        try sameText(["kernel"])
        try sameJSON(["kernel"])
    }

    @Test("feature probe full: text and JSON as bpftool's; full adds the helpers that write to the kernel log")
    func probeFull() throws {
        try sameText(["full"])
        try sameJSON(["full"])
        let plain = try #require(try parseJSON(try bpfswift("-j", "feature", "probe").stdout) as? [String: Any])
        let full = try #require(try parseJSON(try bpfswift("-j", "feature", "probe", "full").stdout) as? [String: Any])
        let plainKprobe = try #require((plain["helpers"] as? [String: Any])?["kprobe_available_helpers"] as? [String])
        let fullKprobe = try #require((full["helpers"] as? [String: Any])?["kprobe_available_helpers"] as? [String])
        #expect(plainKprobe.contains("bpf_map_lookup_elem"))
        #expect(!plainKprobe.contains("bpf_trace_printk"))
        #expect(fullKprobe.contains("bpf_trace_printk"))
        // A helper no socket filter may call (the verifier's "program of this type cannot use helper").
        let socketFilter = try #require((plain["helpers"] as? [String: Any])?["socket_filter_available_helpers"] as? [String])
        #expect(!socketFilter.contains("bpf_override_return") && !socketFilter.contains("bpf_sys_bpf"))
    }

    @Test("feature probe macros (with and without prefix): the same #define lines; -j ignores macros as bpftool does")
    func probeMacros() throws {
        try sameText(["macros", "prefix", "X_"])
        try sameText(["macros"])
        try sameText(["full", "macros", "prefix", "BPFSWIFT_FEATURE_"])
        try sameJSON(["macros", "prefix", "X_"])
        let text = try bpfswift("feature", "probe", "macros", "prefix", "X_").stdout
        #expect(text.contains("#define X_HAVE_BPF_SYSCALL\n"))
        #expect(text.contains("#define X_HAVE_PROG_TYPE_HELPER(prog_type, helper)\t\\\n"))
    }

    @Test("feature probe unprivileged: capabilities dropped, as bpftool drops them; also as a user without them")
    func probeUnprivileged() throws {
        try sameText(["unprivileged"])
        try sameJSON(["unprivileged"])
        try sameText(["full", "unprivileged", "macros", "prefix", "U_"])
        // As nobody: a full probe is refused with bpftool's words, an unprivileged one prints what bpftool prints.
        let setpriv = "/usr/bin/setpriv"
        guard FileManager.default.isExecutableFile(atPath: setpriv) else {
            if TestEnv.inCI { Issue.record("setpriv (util-linux) is needed to probe as an unprivileged user") }
            return
        }
        let drop = ["--reuid=65534", "--regid=65534", "--clear-groups"]
        for args in [["feature", "probe"], ["feature", "probe", "unprivileged"], ["-j", "feature", "probe", "unprivileged"]] {
            let ours = try runProcess(setpriv, drop + [TestEnv.binary] + args)
            let theirs = try runProcess(setpriv, drop + [Bpftool.path] + args)
            #expect(ours.stdout == theirs.stdout, "as nobody: \(args)")
            if args.count == 2 {
                #expect(ours.status != 0 && theirs.status != 0)
                #expect(ours.stderr == theirs.stderr)
                #expect(ours.stderr.contains("run as root or use 'unprivileged'"))
            } else {
                #expect(ours.status == 0 && theirs.status == 0, "as nobody: \(args): \(ours.stderr)")
            }
        }
    }

    @Test("feature probe dev lo: the offload probes bpftool makes (a device that offloads nothing)")
    func probeDevice() throws {
        try sameText(["dev", "lo"])
        try sameJSON(["dev", "lo"])
    }

    @Test("feature list_builtins: every group, text and JSON, as bpftool's")
    func listBuiltins() throws {
        for group in ["prog_types", "map_types", "attach_types", "link_types", "helpers", "prog", "h"] {
            for json in [[], ["-j"]] {
                let args = json + ["feature", "list_builtins", group]
                let (ours, theirs) = try runBoth(args)
                #expect(ours.stdout == theirs.stdout, "\(args)")
                #expect(ours.stdout.count > 20, "\(args)")
            }
        }
        let helpers = try bpfswift("feature", "list_builtins", "helpers").stdout.split(separator: "\n")
        #expect(helpers.first == "bpf_unspec" && helpers.count == 212 && helpers.last == "bpf_cgrp_storage_delete")
    }

    @Test("bad input: one error line, usage exit status, nothing on stdout (JSON: the error object)")
    func badInput() throws {
        for args in [["feature", "probe", "bogus"], ["feature", "probe", "kernel", "kernel"],
                     ["feature", "probe", "prefix", "X"], ["feature", "probe", "macros", "prefix"],
                     ["feature", "probe", "macros", "prefix", "A", "prefix", "B"], ["feature", "probe", "dev"],
                     ["feature", "list_builtins"], ["feature", "list_builtins", "nope"],
                     ["feature", "list_builtins", "helpers", "extra"], ["feature", "frob"]] {
            let r = try bpfswift(args: args)
            #expect(r.status == 2, "\(args): \(r.status)")
            #expect(r.stdout.isEmpty, "\(args)")
            #expect(r.stderr.hasPrefix("Error: ") && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            // bpftool refuses the same input.
            #expect(try Bpftool.run(args).status != 0 || args.contains("extra"), "\(args)")
        }
        let dev = try bpfswift("feature", "probe", "dev", "no_such_dev0")
        #expect(dev.status == 1 && dev.stderr == "Error: unrecognized netdevice 'no_such_dev0': No such device\n")
        let j = try bpfswift("-j", "feature", "probe", "bogus")
        let obj = try #require(try parseJSON(j.stdout) as? [String: Any])
        #expect((obj["error"] as? String)?.contains("got: 'bogus'") == true)
    }

    @Test("help lists probe and list_builtins with bpftool's grammar")
    func help() throws {
        let r = try bpfswift("feature", "help")
        #expect(r.status == 0)
        #expect(r.stdout.contains("feature probe [COMPONENT] [full] [unprivileged] [macros [prefix PREFIX]]"))
        #expect(r.stdout.contains("feature list_builtins GROUP"))
        #expect(r.stdout.contains("COMPONENT := { kernel | dev NAME }"))
        #expect(r.stdout.contains("GROUP := { prog_types | map_types | attach_types | link_types | helpers }"))
    }
}
