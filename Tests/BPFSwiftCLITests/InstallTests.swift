import Testing
import Foundation
import TestSupport

/// scripts/install into a temporary PREFIX, with the binary under test
/// (`--binary`; the release build itself is what scripts/demo runs): the
/// files land where man, bash-completion, zsh's compinit and fish look for
/// them, a second run changes nothing, and a damaged file is repaired.
@Suite struct InstallTests {
    static let script = TestEnv.packageRoot + "/scripts/install"

    /// What scripts/install puts under PREFIX, with its mode and source.
    static var expectedFiles: [String: (mode: Int, source: String)] {
        var files: [String: (Int, String)] = [
            "bin/bpfswift": (0o755, TestEnv.binary),
            "share/bash-completion/completions/bpfswift": (0o644, TestEnv.packageRoot + "/completions/bpfswift.bash"),
            "share/zsh/site-functions/_bpfswift": (0o644, TestEnv.packageRoot + "/completions/_bpfswift"),
            "share/fish/vendor_completions.d/bpfswift.fish": (0o644, TestEnv.packageRoot + "/completions/bpfswift.fish"),
        ]
        let man = TestEnv.packageRoot + "/Docs/man"
        for page in (try? FileManager.default.contentsOfDirectory(atPath: man)) ?? [] where page.hasSuffix(".8") {
            files["share/man/man8/" + page] = (0o644, man + "/" + page)
        }
        return files
    }

    func install(prefix: String, _ extra: [String] = []) throws -> ProcessResult {
        try runProcess("/bin/bash", [Self.script, "--binary", TestEnv.binary] + extra, environment: ["PREFIX": prefix])
    }

    /// Relative path → (mode, contents) of every file under `root`.
    func tree(_ root: String) throws -> [String: (mode: Int, data: Data)] {
        var out: [String: (Int, Data)] = [:]
        let e = FileManager.default.enumerator(atPath: root)!
        while let rel = e.nextObject() as? String {
            let p = root + "/" + rel
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue else { continue }
            let mode = (try FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as! NSNumber).intValue
            out[rel] = (mode, try Data(contentsOf: URL(fileURLWithPath: p)))
        }
        return out
    }

    func tempDir(_ label: String) throws -> String {
        let d = NSTemporaryDirectory() + "bpfswift-install-\(getpid())-\(label)"
        try? FileManager.default.removeItem(atPath: d)
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func installsEveryFileAndIsIdempotent() throws {
        let base = try tempDir("files"), prefix = base + "/usr"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let r = try install(prefix: prefix)
        #expect(r.status == 0, "\(r.stderr)")
        let expected = Self.expectedFiles
        #expect(expected.count >= 10, "man pages found: \(expected.keys.sorted())")
        let first = try tree(prefix)
        #expect(Set(first.keys) == Set(expected.keys))
        for (rel, e) in expected {
            guard let got = first[rel] else { continue }
            #expect(got.mode == e.mode, "\(rel): mode \(String(got.mode, radix: 8))")
            #expect(got.data == (try Data(contentsOf: URL(fileURLWithPath: e.source))), "\(rel) differs from \(e.source)")
        }

        // Again: the same tree.
        let again = try install(prefix: prefix)
        #expect(again.status == 0, "\(again.stderr)")
        let second = try tree(prefix)
        #expect(Set(second.keys) == Set(first.keys))
        for (rel, f) in first { #expect(second[rel]?.data == f.data && second[rel]?.mode == f.mode, "\(rel) changed") }

        // A damaged page is put back.
        let page = prefix + "/share/man/man8/bpfswift-map.8"
        try Data("broken".utf8).write(to: URL(fileURLWithPath: page))
        chmod(page, 0o600)
        #expect(try install(prefix: prefix).status == 0)
        let repaired = try tree(prefix)["share/man/man8/bpfswift-map.8"]
        #expect(repaired?.data == first["share/man/man8/bpfswift-map.8"]?.data && repaired?.mode == 0o644)
    }

    /// The installed files work where they are: the binary runs, man finds
    /// the pages, and each shell finds its completion without being told the file.
    @Test func installedFilesAreFoundWhereTheyLand() throws {
        let base = try tempDir("use")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let prefix = base + "/usr", home = base + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        #expect(try install(prefix: prefix).status == 0)

        let v = try runProcess(prefix + "/bin/bpfswift", ["version"])
        #expect(v.status == 0 && v.stdout.hasPrefix("bpfswift v"), "\(v.stdout)\(v.stderr)")

        for page in ["bpfswift", "bpfswift-prog", "bpfswift-object"] {
            let m = try runProcess("/usr/bin/man", ["-M", prefix + "/share/man", page],
                                   environment: ["MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"])
            #expect(m.status == 0 && m.stdout.contains("SYNOPSIS"), "man \(page): \(m.stderr)")
        }

        let path = prefix + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let env = ["HOME": home, "XDG_CONFIG_HOME": home + "/.config", "XDG_DATA_HOME": home + "/.local/share",
                   "XDG_DATA_DIRS": prefix + "/share", "PATH": path]
        // bash-completion's on-demand loader looks in $XDG_DATA_DIRS/bash-completion/completions
        // (and returns 124, "completion loaded, retry").
        let bash = try runProcess("/bin/bash", ["--norc", "--noprofile", "-c",
            "source /usr/share/bash-completion/bash_completion; _completion_loader bpfswift; complete -p bpfswift"],
            environment: env)
        #expect(bash.stdout.contains("complete -F _bpfswift bpfswift"), "bash: \(bash.stdout)\(bash.stderr)")
        // compinit registers the #compdef file found in fpath.
        let zsh = try runProcess("/usr/bin/zsh", ["-f", "-c",
            "fpath=(\(prefix)/share/zsh/site-functions $fpath); autoload -Uz compinit && compinit -u -D && print -r -- $_comps[bpfswift]"],
            environment: env)
        #expect(zsh.stdout == "_bpfswift\n", "zsh: \(zsh.stdout)\(zsh.stderr)")
        // fish loads vendor completions from $XDG_DATA_DIRS/fish/vendor_completions.d.
        let fish = try runProcess("/usr/bin/fish", ["-c", "complete -C 'bpfswift obj'"], environment: env)
        #expect(fish.stdout.hasPrefix("object\t"), "fish: \(fish.stdout)\(fish.stderr)")
    }

    @Test func refusesBadArguments() throws {
        let bogus = try runProcess("/bin/bash", [Self.script, "--bogus"])
        #expect(bogus.status == 2 && bogus.stderr.contains("usage: scripts/install"), "\(bogus.stderr)")
        let relative = try runProcess("/bin/bash", [Self.script, "--binary", TestEnv.binary], environment: ["PREFIX": "usr/local"])
        #expect(relative.status == 2 && relative.stderr.contains("absolute"), "\(relative.stderr)")
        let missing = try runProcess("/bin/bash", [Self.script, "--binary", "/nonexistent/bpfswift"],
                                     environment: ["PREFIX": NSTemporaryDirectory() + "bpfswift-never"])
        #expect(missing.status == 1 && missing.stderr.contains("not an executable"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: NSTemporaryDirectory() + "bpfswift-never"))
    }
}
