import Testing
import Foundation
@testable import BPFSwiftCLI
import BPFCore
import TestSupport

/// The three completion scripts in completions/, driven for real by their
/// shells (bash through bash-completion with COMP_WORDS/COMP_CWORD, fish with
/// `complete -C`, zsh through compsys in a zpty with compadd captured), and
/// checked against the command tables: objects, verbs, options, selector
/// keywords, map types and update flags are read from the tables, so that a
/// verb added to a table without its completion fails here.
@Suite struct CompletionTests {
    // MARK: objects, verbs, options: against the command tables

    @Test(arguments: CompletionShell.allCases)
    func objectsAndVerbsAreTheTables(_ shell: CompletionShell) throws {
        let lines = ["bpfswift "] + CLI.groups.map { "bpfswift \($0.name) " }
        let got = try Completer.run(shell, lines)
        #expect(Set(got[0]) == Set(CLI.objectWords), "\(shell): objects")
        for (i, g) in CLI.groups.enumerated() {
            let verbs = Set(g.commands.map(\.name) + ["help"])
            #expect(Set(got[i + 1]) == verbs, "\(shell): verbs of \(g.name)")
        }
    }

    @Test(arguments: CompletionShell.allCases)
    func optionsAreTheUsageOptions(_ shell: CompletionShell) throws {
        let globals: Set<String> = ["--json", "--pretty", "--debug", "--bpffs", "--help", "--version"]
        var lines: [String] = []
        var expected: [Set<String>] = []
        for g in CLI.groups {
            for c in g.commands where !c.usage.isEmpty {
                lines.append("bpfswift \(g.name) \(c.name) --")
                expected.append(globals.union(c.usage.flatMap(UsageGrammar.options)))
            }
        }
        lines.append("bpfswift -")
        let got = try Completer.run(shell, lines)
        for (i, e) in expected.enumerated() {
            #expect(Set(got[i]) == e, "\(shell): options of '\(lines[i])'")
        }
        #expect(Set(got.last!) == globals.union(["-j", "-p", "-d", "-f", "-h", "-V"]), "\(shell): global options")
    }

    /// After a verb that takes PROG/MAP/LINK/STRUCT_OPS_MAP first, the keywords
    /// of that selector's grammar line (id, pinned, tag, name).
    @Test(arguments: CompletionShell.allCases)
    func selectorKeywordsAreTheGrammar(_ shell: CompletionShell) throws {
        var lines: [String] = []
        var expected: [Set<String>] = []
        for g in CLI.groups {
            for c in g.commands {
                for u in c.usage {
                    guard let first = UsageGrammar.firstArgument(u),
                          let keywords = UsageGrammar.selectorKeywords(first, in: g.grammar) else { continue }
                    lines.append("bpfswift \(g.name) \(c.name) ")
                    expected.append(Set(keywords))
                }
            }
        }
        #expect(lines.count >= 10, "selector verbs found in the tables: \(lines)")
        let got = try Completer.run(shell, lines)
        for (i, e) in expected.enumerated() {
            #expect(Set(got[i]) == e, "\(shell): '\(lines[i])'")
        }
    }

    @Test(arguments: CompletionShell.allCases)
    func keywordsAfterTheSelector(_ shell: CompletionShell) throws {
        let mapGrammar = MapCommand.group.grammar
        let updateFlags = Set(UsageGrammar.alternatives("UPDATE_FLAGS", in: mapGrammar)!.map { $0[0] })
        let cases: [(String, Set<String>)] = [
            ("bpfswift map create /tmp/x type ", Set(MapType.allNames)),
            ("bpfswift map create /tmp/x ", ["type", "key", "value", "entries", "name", "flags", "inner_map", "offload_dev"]),
            ("bpfswift map create /tmp/x type hash name m key 4 ", ["value", "entries", "flags", "inner_map", "offload_dev"]),
            ("bpfswift map create /tmp/x inner_map ", ["id", "pinned", "name"]),
            ("bpfswift map update id 1 ", ["key", "value"]),
            ("bpfswift map update id 1 key ", ["hex"]),
            ("bpfswift map update id 1 key 01 00 00 00 value 02 ", updateFlags),
            ("bpfswift map lookup name m ", ["key"]),
            ("bpfswift map push id 1 ", ["value"]),
            ("bpfswift prog show id 1 ", ["--metadata"]),
            ("bpfswift gen skeleton x.bpf.o ", ["name", "types"]),
            ("bpfswift gen skeleton x.bpf.o types ", ["used", "all"]),
            ("bpfswift gen skeleton x.bpf.o types all ", ["name"]),
            ("bpfswift gen skeleton x.bpf.o --lang ", ["swift", "c"]),
            ("bpfswift help --man ", Set(CLI.groups.map(\.name))),
            // prefixes select as the dispatcher does: p s = prog show, m d = map dump, s = struct_ops
            ("bpfswift p s ", ["id", "pinned", "tag", "name"]),
            ("bpfswift -j m d ", ["id", "pinned", "name"]),
            ("bpfswift s u ", ["id", "name"]),
            ("bpfswift version ", []),
            ("bpfswift feature probe ", ["kernel", "dev", "full", "unprivileged", "macros"]),
            ("bpfswift feature probe kernel macros ", ["full", "unprivileged", "prefix"]),
            ("bpfswift feature list_builtins ", ["prog_types", "map_types", "attach_types", "link_types", "helpers"]),
        ]
        let got = try Completer.run(shell, cases.map(\.0))
        for (i, c) in cases.enumerated() {
            #expect(Set(got[i]) == c.1, "\(shell): '\(c.0)'")
        }
    }

    // MARK: files and object-file map names (offline)

    @Test(arguments: CompletionShell.allCases)
    func filesForFileObjAndPath(_ shell: CompletionShell) throws {
        let dir = NSTemporaryDirectory() + "bpfswift-comp-\(getpid())-\(shell)"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/prog.bpf.o", contents: Data([0]))
        FileManager.default.createFile(atPath: dir + "/notes.txt", contents: Data([0]))
        let lines = [
            "bpfswift object inspect \(dir)/",      // OBJ: object files and directories
            "bpfswift prog pin id 1 \(dir)/",       // FILE: anything
            "bpfswift object pin x.o \(dir)/",      // PATH: directories
            "bpfswift map show pinned \(dir)/n",    // pinned FILE
            "bpfswift object pin x.o /sys/fs/bpf/x --pin-root \(dir)/",
        ]
        let got = try Completer.run(shell, lines).map { Set($0.map(Completer.trimSlash)) }
        #expect(got[0].isSuperset(of: ["\(dir)/prog.bpf.o", "\(dir)/sub"]), "\(shell): \(got[0])")
        if shell != .fish {  // fish's suffix completion lists other files after the matching ones
            #expect(!got[0].contains("\(dir)/notes.txt"), "\(shell): \(got[0])")
        }
        #expect(got[1].isSuperset(of: ["\(dir)/prog.bpf.o", "\(dir)/sub", "\(dir)/notes.txt"]), "\(shell): \(got[1])")
        #expect(got[2] == ["\(dir)/sub"], "\(shell): \(got[2])")
        #expect(got[3] == ["\(dir)/notes.txt"], "\(shell): \(got[3])")
        #expect(got[4] == ["\(dir)/sub"], "\(shell): \(got[4])")
    }

    /// --enable/--disable/--map/--pin-map offer the maps of the OBJ on the line,
    /// read offline with `object inspect`.
    @Test(arguments: CompletionShell.allCases)
    func mapNamesFromTheObjectFile(_ shell: CompletionShell) throws {
        let counter = try Fixtures.object("counter")
        let ops = try Fixtures.object("comp_ops")
        let maps = try Self.inspectMaps(counter)
        #expect(maps.contains("hit_map"))
        let lines = [
            "bpfswift object pin \(counter) /sys/fs/bpf/x --enable ",
            "bpfswift object pin \(counter) /sys/fs/bpf/x --attach --disable ",
            "bpfswift object pin \(counter) /sys/fs/bpf/x --map hit",
            "bpfswift object pin \(counter) /sys/fs/bpf/x --pin-map=hit",
            "bpfswift struct_ops register \(ops) /sys/fs/bpf/x --enable ",
            "bpfswift object pin \(counter) /sys/fs/bpf/x ",
        ]
        let got = try Completer.run(shell, lines)
        #expect(Set(got[0]) == Set(maps), "\(shell): \(got[0])")
        #expect(Set(got[1]) == Set(maps), "\(shell): \(got[1])")
        #expect(got[2] == ["hit_map="], "\(shell): \(got[2])")
        #expect(got[3] == ["--pin-map=hit_map="], "\(shell): \(got[3])")
        #expect(got[4] == ["comp_ca"], "\(shell): \(got[4])")
        #expect(Set(got[5]) == Set(UsageGrammar.options(ObjectCommand.group.select("pin")!.usage[0])), "\(shell): \(got[5])")
    }

    // MARK: live ids and names from the kernel

    /// Ids, names and tags of programs, maps and links the test pins in its own
    /// BPFFSDir come back from `bpfswift -p ... show`; maps are filtered by type
    /// where bpftool's completion filters them (pop: stacks, struct_ops: struct_ops maps).
    @Test(.enabled(if: TestEnv.kernelTestsEnabled), .serialized, arguments: CompletionShell.allCases)
    func liveIdsAndNames(_ shell: CompletionShell) throws {
        let dir = try BPFFSDir("comp_\(shell)")
        defer { dir.remove() }
        let tree = dir.sub("obj"), opsTree = dir.sub("ops"), stack = dir.sub("stk")
        var r = try bpfswift("object", "pin", try Fixtures.object("counter"), tree, "--attach")
        try #require(r.status == 0, "object pin: \(r.stderr)")
        defer { _ = try? bpfswift("object", "unpin", tree) }
        r = try bpfswift("object", "pin", try Fixtures.object("comp_ops"), opsTree, "--attach")
        try #require(r.status == 0, "object pin comp_ops: \(r.stderr)")
        defer { _ = try? bpfswift("object", "unpin", opsTree) }
        r = try bpfswift("map", "create", stack, "type", "stack", "key", "0", "value", "4", "entries", "4", "name", "comp_stack")
        try #require(r.status == 0, "map create: \(r.stderr)")

        let shown = try parseJSON(try bpfswift("-j", "object", "show", tree).stdout) as! [String: Any]
        let progs = shown["programs"] as! [[String: Any]], maps = shown["maps"] as! [[String: Any]]
        let links = shown["links"] as! [[String: Any]]
        let enter = progs.first { $0["name"] as? String == "count_enter" }!
        let progID = "\(enter["id"] as! Int)"
        let progInfo = try parseJSON(try bpfswift("-j", "prog", "show", "id", progID).stdout) as! [String: Any]
        let tag = progInfo["tag"] as! String
        let mapID = "\(maps.first { $0["name"] as? String == "hit_map" }!["id"] as! Int)"
        let linkID = "\(links[0]["id"] as! Int)"

        let lines = [
            "bpfswift prog show id ",
            "bpfswift prog show name count_",
            "bpfswift prog pin tag \(tag.prefix(6))",
            "bpfswift -j map dump id ",
            "bpfswift map dump name hit_",
            "bpfswift map lookup name ",
            "bpfswift link show id ",
            "bpfswift object show \(dir.path)/",
            "bpfswift prog show --metadata ",
            "bpfswift map pop name ",
            "bpfswift struct_ops show name ",
            "bpfswift struct_ops unregister id ",
            "bpfswift map create /sys/fs/bpf/x type array inner_map name comp_",
        ]
        let got = try Completer.run(shell, lines).map { Set($0.map(Completer.trimSlash)) }
        #expect(got[0].contains(progID), "\(shell): prog ids lack \(progID)")
        #expect(got[1].isSuperset(of: ["count_enter", "count_raw"]), "\(shell): \(got[1])")
        #expect(got[2] == [tag], "\(shell): \(got[2])")
        #expect(got[3].contains(mapID), "\(shell): map ids lack \(mapID)")
        #expect(got[4].contains("hit_map") && got[4].allSatisfy { $0.hasPrefix("hit_") }, "\(shell): \(got[4])")
        #expect(got[5].isSuperset(of: ["hit_map", "comp_stack", "comp_ca"]), "\(shell): \(got[5].count) names")
        #expect(got[6].contains(linkID), "\(shell): link ids lack \(linkID)")
        #expect(got[7].isSuperset(of: [tree, opsTree]), "\(shell): \(got[7])")
        #expect(got[8].isSuperset(of: ["commit", "build"]), "\(shell): \(got[8])")
        #expect(got[9].contains("comp_stack") && !got[9].contains("hit_map"), "\(shell): pop offers stacks only")
        #expect(got[10].contains("comp_ca") && !got[10].contains("hit_map"), "\(shell): struct_ops names")
        let opsShown = try parseJSON(try bpfswift("-j", "object", "show", opsTree).stdout) as! [String: Any]
        let opsMapID = "\((opsShown["maps"] as! [[String: Any]])[0]["id"] as! Int)"
        #expect(got[11].contains(opsMapID) && !got[11].contains(mapID), "\(shell): struct_ops ids")
        #expect(got[12].isSuperset(of: ["comp_stack", "comp_ca"]) && got[12].allSatisfy { $0.hasPrefix("comp_") },
                "\(shell): \(got[12])")
        dir.remove()
    }

    static func inspectMaps(_ obj: String) throws -> [String] {
        let j = try parseJSON(try bpfswift("-j", "object", "inspect", obj).stdout) as! [String: Any]
        return (j["maps"] as! [[String: Any]]).map { $0["name"] as! String }
    }
}

enum CompletionShell: String, CaseIterable, CustomStringConvertible {
    case bash, zsh, fish
    var description: String { rawValue }
}

/// Reads what the command tables promise: options, first arguments and
/// grammar alternatives, from usage and grammar lines.
enum UsageGrammar {
    /// "--attach", "--pin-root", ... named in a usage line.
    static func options(_ usage: String) -> [String] {
        words(usage).filter { $0.hasPrefix("--") }
    }

    /// The first argument after the verb: "PROG" in "{ show | list } [PROG] ...", "MAP" in "dump MAP".
    static func firstArgument(_ usage: String) -> String? {
        var rest = Substring(usage)
        if rest.hasPrefix("{"), let close = rest.firstIndex(of: "}") {
            rest = rest[rest.index(after: close)...]
        } else if let space = rest.firstIndex(of: " ") {
            rest = rest[space...]
        } else {
            return nil
        }
        return words(String(rest)).first
    }

    /// The alternatives of "NAME := { a A | b B }" among grammar lines, each split into words.
    static func alternatives(_ name: String, in grammar: [String]) -> [[String]]? {
        guard let line = grammar.first(where: { $0.hasPrefix(name + " := {") }),
              let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") else { return nil }
        return line[line.index(after: open)..<close].split(separator: "|").map {
            $0.split(separator: " ").map(String.init)
        }
    }

    /// id/pinned/tag/name for a selector nonterminal (every alternative "keyword PLACEHOLDER").
    static func selectorKeywords(_ name: String, in grammar: [String]) -> [String]? {
        guard let alts = alternatives(name, in: grammar), alts.allSatisfy({ $0.count == 2 }) else { return nil }
        return alts.map { $0[0] }
    }

    static func words(_ s: String) -> [String] {
        s.map { "[]{}|".contains($0) ? " " : $0 }.split(separator: " ").map {
            var w = String($0)
            while w.hasSuffix(".") { w.removeLast() }
            return w
        }.filter { !$0.isEmpty }
    }
}

/// Runs a shell's completion for a list of command lines; each line is
/// completed at its end. `bpfswift` on the PATH is the binary under test.
enum Completer {
    static let completions = TestEnv.packageRoot + "/completions"

    /// A directory holding the drivers and bin/bpfswift (a link to the binary under test).
    static let workDir: String = {
        let d = NSTemporaryDirectory() + "bpfswift-completion-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d + "/bin", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: d + "/bin/bpfswift")
        try? FileManager.default.createSymbolicLink(atPath: d + "/bin/bpfswift", withDestinationPath: TestEnv.binary)
        for (name, text) in [("bash.sh", bashDriver), ("fish.sh", fishDriver), ("zsh.zsh", zshDriver)] {
            FileManager.default.createFile(atPath: d + "/" + name, contents: Data(text.utf8))
        }
        return d
    }()

    static func run(_ shell: CompletionShell, _ lines: [String]) throws -> [[String]] {
        let input = workDir + "/lines-\(shell)-\(UUID().uuidString)"
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: input) }
        let args: [String]
        switch shell {
        case .bash: args = ["bash", "--norc", "--noprofile", workDir + "/bash.sh", completions + "/bpfswift.bash", input]
        case .fish: args = ["bash", "--norc", "--noprofile", workDir + "/fish.sh", completions + "/bpfswift.fish", input]
        case .zsh: args = ["zsh", "-f", workDir + "/zsh.zsh", completions, input]
        }
        let path = workDir + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let r = try runProcess("/usr/bin/timeout", ["120"] + args, environment: ["PATH": path, "TERM": "xterm"])
        guard r.status == 0 else { throw TestFailure("\(shell) driver exited \(r.status): \(r.stderr)") }
        var out: [[String]] = [[]]
        for line in r.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "--END--" { out.append([]); continue }
            if line.isEmpty { continue }
            // fish prints "candidate<TAB>description"
            out[out.count - 1].append(String(line.split(separator: "\t", omittingEmptySubsequences: false)[0]))
        }
        out.removeLast()
        guard out.count == lines.count else {
            throw TestFailure("\(shell): \(out.count) answers for \(lines.count) lines: \(r.stdout) \(r.stderr)")
        }
        return out
    }

    static func trimSlash(_ s: String) -> String {
        s.count > 1 && s.hasSuffix("/") ? String(s.dropLast()) : s
    }

    /// bash: bash-completion loaded, COMP_WORDS split as readline splits them
    /// (at blanks, and '=' as a word of its own), the function called directly.
    static let bashDriver = #"""
        source /usr/share/bash-completion/bash_completion || exit 1
        source "$1" || exit 1
        while IFS= read -r line; do
            COMP_WORDS=()
            for w in $line; do
                while [[ $w == *=* ]]; do
                    [[ -n ${w%%=*} ]] && COMP_WORDS+=( "${w%%=*}" )
                    COMP_WORDS+=( "=" )
                    w=${w#*=}
                done
                [[ -n $w ]] && COMP_WORDS+=( "$w" )
            done
            [[ $line == *' ' || $line == *= ]] && COMP_WORDS+=( "" )
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMP_LINE=$line
            COMP_POINT=${#line}
            COMPREPLY=()
            _bpfswift bpfswift "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            # readline replaces only the text after the last '=': print whole words
            last=${line##* }
            prefix=
            [[ $last == *=* ]] && prefix=${last%=*}=
            for c in "${COMPREPLY[@]}"; do printf '%s\n' "$prefix$c"; done
            echo "--END--"
        done < "$2"
        """#

    /// fish: one `complete -C` per line.
    static let fishDriver = #"""
        script="source '$1'"
        while IFS= read -r line; do
            script+="; complete -C '${line//\'/\\\'}'; echo -- --END--"
        done < "$2"
        exec fish --no-config -c "$script"
        """#

    /// zsh: an interactive zsh in a zpty runs compinit with completions/ in
    /// fpath; TAB is bound to a widget that completes and then prints an end
    /// mark; compadd is wrapped to print each candidate it adds.
    static let zshDriver = #"""
        zmodload zsh/zpty || exit 1
        compdir=$1
        lines=( ${(f)"$(<$2)"} )
        zpty z zsh -f -i || exit 1
        zpty -w z "PS1=''; RPS1=''; unsetopt AUTO_LIST LIST_AMBIGUOUS AUTO_MENU BEEP; fpath=(${(q)compdir} \$fpath)"
        zpty -w z "autoload -Uz compinit && compinit -u -D"
        zpty -w z 'compadd() {
          if [[ ${(j: :)@[1,(i)(-|--)]} == *-(O|A|D)* ]]; then builtin compadd "$@"; return; fi
          local -a __hits __p __pp __s __ss; local __h
          zparseopts -E -a __ignored P:=__p p:=__pp S:=__s s:=__ss
          builtin compadd -A __hits "$@"
          for __h in $__hits; do print -r -- "<<C>>$IPREFIX${__p[2]}${__pp[2]}$__h${__ss[2]}${__s[2]}<</C>>"; done
          builtin compadd "$@"
        }'
        zpty -w z '__capture() { zle complete-word; print -r -- "<<END>>"; BUFFER=""; CURSOR=0; }; zle -N __capture; bindkey "^I" __capture'
        zpty -w z 'print -r -- "<<READY>>"'
        local l c
        while zpty -r z l; do [[ $l == *'<<READY>>'* && $l != *print* ]] && break; done
        for line in $lines; do
          zpty -w -n z "$line"$'\t'
          while zpty -r z l; do
            [[ $l == *'<<END>>'* && $l != *print* ]] && break
            while [[ $l == *'<<C>>'*'<</C>>'* ]]; do
              c=${l#*<<C>>}; c=${c%%<</C>>*}; print -r -- "$c"; l=${l#*<</C>>}
            done
          done
          print -r -- "--END--"
        done
        zpty -d z
        """#
}
