import Testing
import Foundation
import TestSupport

/// scripts/setup meeting a fresh Debian 12 (stock libbpf 1.1.2, bpftool 7.1,
/// 6.1 UAPI headers, no backports suite) without touching this machine:
/// stand-ins for apt-get, apt-cache, dpkg-query, pkg-config, bpftool, clang,
/// mountpoint, mount, id and sudo (Tests/Fixtures/setup-standins) come first
/// in a PATH that holds nothing else but a few plain tools, and a copy of
/// /etc (BPFSWIFT_SETUP_ETC) takes the edits.
@Suite struct SetupScriptTests {
    static let script = TestEnv.packageRoot + "/scripts/setup"
    static let standins = TestEnv.packageRoot + "/Tests/Fixtures/setup-standins"
    static let tools = ["bash", "cat", "grep", "sed", "sort", "tee", "tr", "mv", "mkdir", "rm", "basename", "dirname", "mktemp", "env"]

    static let libbpf14 = "1:1.4.6-1~bpo12+1"
    static let bpftool75 = "7.5.0+6.12.95-1~bpo12+1"
    static let uapi612 = "6.12.95-1~bpo12+1"

    enum Sources { case deb822, classic }

    /// A machine: its packages, suites, sources, uid, and the stand-ins' log.
    final class World {
        let dir: String
        var etc: String { dir + "/etc" }

        init(_ label: String, sources: Sources, uid: Int = 0, sudo: Bool = false,
             backports: [String: String]? = nil, stockMissing: Set<String> = []) throws {
            dir = NSTemporaryDirectory() + "bpfswift-setup-\(getpid())-\(label)"
            try? FileManager.default.removeItem(atPath: dir)
            let fm = FileManager.default
            for d in ["bin", "tools", "installed", "etc/apt/sources.list.d"] {
                try fm.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true)
            }
            // Only the stand-ins and a few plain tools are on PATH: no real
            // apt, dpkg, sudo or mount can be reached.
            for name in try fm.contentsOfDirectory(atPath: SetupScriptTests.standins)
            where name != "README" && (sudo || name != "sudo") {
                try fm.createSymbolicLink(atPath: dir + "/bin/" + name, withDestinationPath: SetupScriptTests.standins + "/" + name)
            }
            for tool in SetupScriptTests.tools {
                guard let real = ["/usr/bin/", "/bin/"].map({ $0 + tool }).first(where: { fm.isExecutableFile(atPath: $0) }) else {
                    throw TestFailure("no \(tool) on this machine")
                }
                try fm.createSymbolicLink(atPath: dir + "/tools/" + tool, withDestinationPath: real)
            }
            try write("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n")
            switch sources {
            case .deb822: try write("etc/apt/sources.list.d/debian.sources", SetupScriptTests.deb822)
            case .classic: try write("etc/apt/sources.list", SetupScriptTests.classic)
            }
            // What `apt-get update` last saw on this fresh machine.
            try write("lists", "bookworm\nbookworm-updates\nbookworm-security\n")
            try write("uid", "\(uid)\n")
            var stock: [String: String] = [
                "libbpf-dev": "1:1.1.2-0+deb12u1", "libbpf1": "1:1.1.2-0+deb12u1",
                "bpftool": "7.1.0+6.1.176-1", "linux-libc-dev": "6.1.176-1",
                "pkg-config": "1.8.1-1", "libelf-dev": "0.188-2.1", "zlib1g-dev": "1:1.2.13.dfsg-1",
                "libzstd-dev": "1.5.4+dfsg2-5", "binutils": "2.40-2", "bash-completion": "1:2.11-6",
                "zsh": "5.9-4+b7", "fish": "3.6.0-3.1", "strace": "6.1-0.1", "hyperfine": "1.15.0-2",
                "man-db": "2.11.2-2", "iproute2": "6.1.0-3", "jq": "1.6-2.1", "time": "1.9-0.2",
            ]
            for p in stockMissing { stock[p] = nil }
            for (p, v) in stock { try write("repo/bookworm/" + p, v) }
            try write("repo/bookworm-security/bpftool", "7.1.0+6.1.192-3")
            try write("repo/bookworm-security/linux-libc-dev", "6.1.192-3")
            let bpo = backports ?? ["libbpf-dev": SetupScriptTests.libbpf14, "libbpf1": SetupScriptTests.libbpf14,
                                    "bpftool": SetupScriptTests.bpftool75, "linux-libc-dev": SetupScriptTests.uapi612]
            for (p, v) in bpo { try write("repo/bookworm-backports/" + p, v) }
            // Installed on a fresh Debian 12 with the stock BPF packages.
            for p in ["libbpf-dev", "libbpf1", "bpftool", "linux-libc-dev", "binutils", "man-db", "iproute2"] {
                try write("installed/" + p, stock[p]!)
            }
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }

        func write(_ rel: String, _ text: String) throws {
            let path = dir + "/" + rel
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        func read(_ rel: String) -> String? { try? String(contentsOfFile: dir + "/" + rel, encoding: .utf8) }
        func installed(_ pkg: String) -> String? { read("installed/" + pkg).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } }
        /// The stand-ins' calls since the last `clearCalls`.
        var calls: [String] { (read("calls") ?? "").split(separator: "\n").map(String.init) }
        func clearCalls() throws { try write("calls", "") }
        /// Files setup left in TMPDIR (its apt log must go).
        var leftovers: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/tmp")) ?? [])
        }

        func runSetup(_ extra: [String: String] = [:]) throws -> ProcessResult {
            try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
            var env = [
                "PATH": dir + "/bin:" + dir + "/tools",
                "SETUP_WORLD": dir,
                "BPFSWIFT_SETUP_ETC": etc,
                "TMPDIR": dir + "/tmp",
                "CLANG": "",
            ]
            env.merge(extra) { $1 }
            return try runProcess(dir + "/tools/bash", [SetupScriptTests.script], environment: env)
        }
    }

    static let deb822 = """
        Types: deb
        URIs: http://mirror.example/debian
        Suites: bookworm bookworm-updates
        Components: main
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

        Types: deb
        URIs: http://security.example/debian-security
        Suites: bookworm-security
        Components: main
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

        """
    static let classic = """
        deb http://mirror.example/debian bookworm main
        deb http://mirror.example/debian bookworm-updates main
        deb http://security.example/debian-security bookworm-security main

        """

    /// The installs apt-get was asked for, in order (as apt-get recorded
    /// them; the sudo stand-in records its own line before).
    static func installs(_ calls: [String]) -> [String] {
        calls.filter { $0.contains("apt-get install") && !$0.hasPrefix("sudo ") }
    }
    static func backportsInstall(sudo: Bool) -> String {
        (sudo ? "[sudo] " : "") + "apt-get install -y -qq libbpf-dev=\(libbpf14) libbpf1=\(libbpf14) bpftool=\(bpftool75) linux-libc-dev=\(uapi612)"
    }

    /// The fresh machine, then a second run that must change nothing.
    /// Returns the world and the first run's calls.
    func freshThenAgain(_ label: String, sources: Sources, uid: Int = 0, sudo: Bool = false) throws -> (World, [String]) {
        let w = try World(label, sources: sources, uid: uid, sudo: sudo)
        let r = try w.runSetup()
        #expect(r.status == 0, "stderr: \(r.stderr)")
        // apt's chatter stays in the log; setup's own lines are all there is.
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasPrefix("setup: ") }, "stderr: \(r.stderr)")
        #expect(!(r.stdout + r.stderr).contains("Setting up"), "apt's output leaked: \(r.stdout)\(r.stderr)")
        #expect(w.leftovers.isEmpty, "left in TMPDIR: \(w.leftovers)")
        let installs = Self.installs(w.calls)
        #expect(installs.count == 2, "installs: \(installs)")
        #expect(installs.last == Self.backportsInstall(sudo: sudo), "installs: \(installs)")
        #expect(installs.first?.hasSuffix("install -y -qq pkg-config libelf-dev zlib1g-dev libzstd-dev bash-completion zsh fish strace hyperfine time jq") == true,
                "installs: \(installs)")
        #expect(w.installed("libbpf-dev") == Self.libbpf14)
        #expect(w.installed("libbpf1") == Self.libbpf14)
        #expect(w.installed("bpftool") == Self.bpftool75)
        #expect(w.installed("linux-libc-dev") == Self.uapi612)
        if FileManager.default.fileExists(atPath: "/sys/fs/bpf") {
            #expect(w.calls.contains((sudo ? "[sudo] " : "") + "mount -t bpf bpf /sys/fs/bpf"), "calls: \(w.calls)")
        }
        // A new suite's lists are read only by the next update: one before
        // the suite was added, one after.
        #expect(w.calls.filter { $0.hasSuffix("apt-get update -qq") && !$0.hasPrefix("sudo ") }.count == 2, "calls: \(w.calls)")

        let firstCalls = w.calls
        let sourcesBefore = [w.read("etc/apt/sources.list"), w.read("etc/apt/sources.list.d/debian.sources")]
        try w.clearCalls()
        let again = try w.runSetup()
        #expect(again.status == 0, "stderr: \(again.stderr)")
        #expect(again.stderr.isEmpty, "second run said: \(again.stderr)")
        #expect(!w.calls.contains { $0.contains("apt-get") || $0.contains("mount ") || $0.hasPrefix("sudo ") },
                "second run: \(w.calls)")
        #expect([w.read("etc/apt/sources.list"), w.read("etc/apt/sources.list.d/debian.sources")] == sourcesBefore)
        return (w, firstCalls)
    }

    @Test func freshDeb822AsRootAddsBackportsToTheMirrorsStanza() throws {
        let (w, calls) = try freshThenAgain("deb822", sources: .deb822)
        #expect(w.read("etc/apt/sources.list.d/debian.sources") == Self.deb822.replacingOccurrences(
            of: "Suites: bookworm bookworm-updates\n", with: "Suites: bookworm bookworm-updates bookworm-backports\n"))
        #expect(w.read("etc/apt/sources.list") == nil)
        #expect(!calls.contains { $0.contains("sudo") }, "calls: \(calls)")
    }

    @Test func freshClassicSourcesListGetsABackportsLineOnTheSameMirror() throws {
        let (w, _) = try freshThenAgain("classic", sources: .classic)
        #expect(w.read("etc/apt/sources.list") == Self.classic + "deb http://mirror.example/debian bookworm-backports main\n")
    }

    @Test func nonRootGoesThroughSudo() throws {
        let (_, calls) = try freshThenAgain("sudo", sources: .deb822, uid: 1000, sudo: true)
        // What apt-get and mount recorded themselves: all of it run by sudo.
        let privileged = calls.filter {
            !$0.hasPrefix("sudo ") && ($0.contains("apt-get install") || $0.contains("apt-get update") || $0.contains("mount -t"))
        }
        #expect(privileged.count >= 5, "calls: \(calls)")
        #expect(privileged.allSatisfy { $0.hasPrefix("[sudo] ") }, "calls: \(calls)")
        #expect(calls.contains { $0.hasPrefix("sudo sed -i") && $0.hasSuffix("/etc/apt/sources.list.d/debian.sources") }, "calls: \(calls)")
    }

    @Test func nonRootWithoutSudoFailsWithOneLine() throws {
        let w = try World("nosudo", sources: .deb822, uid: 1000)
        let r = try w.runSetup()
        #expect(r.status == 1)
        #expect(r.stderr == "setup: not root and no sudo: run scripts/setup as root\n")
        #expect(r.stdout.isEmpty)
        #expect(w.calls.isEmpty, "calls: \(w.calls)")
    }

    @Test func noSuiteWithLibbpf14FailsWithOneLine() throws {
        let w = try World("nolibbpf", sources: .deb822,
                          backports: ["bpftool": Self.bpftool75, "linux-libc-dev": Self.uapi612])
        let r = try w.runSetup()
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.last == "setup: libbpf >= 1.4 is not available from any apt suite (have 1.1.2); bookworm-backports has none either: add a newer release to the apt sources",
                "stderr: \(r.stderr)")
        #expect(lines.filter { $0.contains("libbpf >= 1.4") }.count == 1, "stderr: \(r.stderr)")
        #expect(lines.allSatisfy { $0.hasPrefix("setup: ") }, "stderr: \(r.stderr)")
        #expect(!Self.installs(w.calls).contains { $0.contains("libbpf") }, "calls: \(w.calls)")
        #expect(w.installed("libbpf-dev") == "1:1.1.2-0+deb12u1")
    }

    @Test func aFailingUpdateIsShownAndNamedInsteadOfBlamingTheSuites() throws {
        let w = try World("updatefails", sources: .deb822)
        let r = try w.runSetup(["SETUP_STANDIN_UPDATE_FAILS": "1"])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("E: Failed to fetch (stand-in)"), "stderr: \(r.stderr)")
        #expect(lines.contains("setup: apt-get update failed (its output is above); going on with the lists apt has"), "stderr: \(r.stderr)")
        #expect(lines.last == "setup: libbpf >= 1.4 is not available from any apt suite (have 1.1.2); apt-get update failed (its output is above): fix that, then run scripts/setup again",
                "stderr: \(r.stderr)")
        #expect(!(r.stderr).contains("Reading package lists"), "stderr: \(r.stderr)")
    }

    @Test func aFailingInstallShowsAptsOutputThenOneLine() throws {
        let w = try World("aptfails", sources: .deb822, stockMissing: ["hyperfine"])
        let r = try w.runSetup()
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("E: Unable to locate package hyperfine"), "stderr: \(r.stderr)")
        #expect(lines.last?.hasPrefix("setup: apt-get install pkg-config ") == true, "stderr: \(r.stderr)")
        #expect(lines.last?.hasSuffix(" failed (its output is above)") == true, "stderr: \(r.stderr)")
        #expect(w.leftovers.isEmpty, "left in TMPDIR: \(w.leftovers)")
    }
}
