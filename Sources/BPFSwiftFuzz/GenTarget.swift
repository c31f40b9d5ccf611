#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// The `gen` target: hostile names through `gen skeleton`.
///
/// The input is up to nine names separated by NUL bytes. Each replaces one
/// 64-byte placeholder ("HOSTILEi_QQQ...") everywhere in gen_hostile.bpf.o
/// (string tables, BTF strings, section names: the map, program, global
/// variables, struct, member, enum, enumerator and .data.* section names),
/// as an attacker would patch a compiled object. Both skeletons are
/// generated; when generation succeeds, the Swift must parse (`swiftc
/// -dump-parse`) to the same tree of declarations, statements and
/// expressions as the unpatched object's skeleton, and the C must compile
/// (`cc -fsyntax-only`) and lex (`clang -dump-raw-tokens`) to the same token
/// kinds: a name can change identifiers, strings and comments, never the
/// structure. The object is BPFSWIFT_GEN_OBJECT, else ./gen_hostile.bpf.o.
enum GenTarget {
    static let slots = 9
    static let width = 64

    static func placeholder(_ i: Int) -> [UInt8] {
        let head = Array("HOSTILE\(i)_".utf8)
        return head + [UInt8](repeating: UInt8(ascii: "Q"), count: width - head.count)
    }

    /// `object` with placeholder i replaced by `names[i]` (at most 64 bytes, NUL-padded).
    static func patch(_ object: [UInt8], names: [[UInt8]?]) -> [UInt8] {
        var out = object
        for (i, name) in names.enumerated() where i < slots {
            guard let name else { continue }
            let p = placeholder(i)
            let repl = Array(name.filter { $0 != 0 }.prefix(width))
            let padded = repl + [UInt8](repeating: 0, count: width - repl.count)
            var j = 0
            while j + width <= out.count {
                if out[j] == p[0] && out[j..<j + width].elementsEqual(p) {
                    out.replaceSubrange(j..<j + width, with: padded)
                    j += width
                } else {
                    j += 1
                }
            }
        }
        return out
    }

    static let baseObject: [UInt8] = {
        let path = getenv("BPFSWIFT_GEN_OBJECT").map { String(cString: $0) } ?? "gen_hostile.bpf.o"
        guard let bytes = try? readFileBytes(path) else {
            writeErr("gen target: cannot read \(path) (set BPFSWIFT_GEN_OBJECT to Tests/Fixtures/build/gen_hostile.bpf.o)\n")
            exit(2)
        }
        return bytes
    }()

    /// The structure of the placeholder object's skeletons.
    static let reference: (swift: [String], c: [String]) = {
        let (s, c) = generate(baseObject)
        guard let s, let c, let ss = swiftStructure(s), let cs = cStructure(c) else {
            writeErr("gen target: the unpatched object's skeletons do not generate or parse\n")
            abort()
        }
        return (ss, cs)
    }()

    static func run(_ bytes: [UInt8]) {
        _ = reference
        let names = FuzzTargets.splitWords(bytes, separators: [0]).prefix(slots).map { Array($0.utf8) as [UInt8]? }
        let (swift, c) = generate(patch(baseObject, names: Array(names)), names: Array(names))
        if let swift {
            guard let got = swiftStructure(swift) else { violatedText("the Swift skeleton does not parse", names, swift) }
            if got != reference.swift { violatedText(diff("Swift", reference.swift, got), names, swift) }
        }
        if let c {
            guard let got = cStructure(c) else { violatedText("the C skeleton does not compile", names, c) }
            if got != reference.c { violatedText(diff("C", reference.c, got), names, c) }
        }
    }

    /// Both skeletons' text, nil where generation failed (cleanly: checked like every CLI run).
    static func generate(_ object: [UInt8], names: [[UInt8]?] = []) -> (String?, String?) {
        let file = ScratchFile.shared.write(object)
        var out: [String?] = []
        for args in [["gen", "skeleton", file, "name", "HostileSkeleton"], ["gen", "skeleton", file, "name", "hostile", "--lang", "c"]] {
            let r = FuzzTargets.runCLI(args)
            FuzzTargets.checkResult(args, r, allowed: [0, 1])
            out.append(r.status == 0 ? r.out : nil)
        }
        return (out[0], out[1])
    }

    // MARK: checks

    static func violatedText(_ what: String, _ names: [[UInt8]?], _ text: String) -> Never {
        let path = ScratchFile.shared.dir + "/violation.txt"
        writeFile(path, Array(text.utf8))
        let shown = names.map { $0.map { "[" + $0.map { String($0) }.joined(separator: ",") + "]" } ?? "-" }
        writeErr("INVARIANT VIOLATED: \(what)\n  names (bytes): \(shown)\n  output kept in \(path)\n")
        abort()
    }

    static func diff(_ lang: String, _ a: [String], _ b: [String]) -> String {
        let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        return "the \(lang) skeleton's structure differs from the placeholder object's at item \(i): "
            + "expected \(i < a.count ? a[i] : "(end)"), got \(i < b.count ? b[i] : "(end)")"
    }

    /// `swiftc -dump-parse`: the node kinds with their depth, nil when it does not parse.
    static func swiftStructure(_ text: String) -> [String]? {
        let file = ScratchFile.shared.dir + "/skel.swift"
        writeFile(file, Array(text.utf8))
        guard let r = spawn([tool("SWIFTC", "swiftc"), "-dump-parse", file]), r.status == 0 else { return nil }
        var out: [String] = []
        for line in r.output.split(separator: "\n") {
            // "    (var_decl ..." → "4 var_decl"
            let indent = line.prefix { $0 == " " }.count
            let rest = line.dropFirst(indent)
            guard rest.first == "(" else { continue }
            let kind = rest.dropFirst().prefix { $0.isLetter || $0 == "_" }
            if !kind.isEmpty { out.append("\(indent) \(kind)") }
        }
        return out
    }

    /// `cc -fsyntax-only` must pass; then the main file's raw token kinds
    /// (comments and whitespace left out), nil when it does not compile.
    static func cStructure(_ text: String) -> [String]? {
        let file = ScratchFile.shared.dir + "/skel.h"
        writeFile(file, Array(text.utf8))
        guard let cc = spawn([tool("CC", "cc"), "-fsyntax-only", "-x", "c", file]), cc.status == 0 else {
            return nil
        }
        guard let r = spawn([tool("CLANG", "clang"), "-fsyntax-only", "-Xclang", "-dump-raw-tokens", "-x", "c", file]),
              r.status == 0 else { return nil }
        var out: [String] = []
        for line in r.output.split(separator: "\n") {
            let kind = line.prefix { $0.isLetter || $0 == "_" }
            guard !kind.isEmpty, line.dropFirst(kind.count).hasPrefix(" '") else { continue }
            if kind == "unknown" || kind == "comment" { continue }
            out.append(String(kind))
        }
        return out
    }

    static func tool(_ env: String, _ name: String) -> String {
        getenv(env).map { String(cString: $0) } ?? name
    }

    /// Runs `args` (searched in PATH) with stdout into a scratch file.
    static func spawn(_ args: [String]) -> (status: Int32, output: String)? {
        let outPath = ScratchFile.shared.dir + "/spawn.out"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // stderr apart: sharing stdout's file, a stray newline from the compiler lands inside the dump.
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cargs = args.map { strdup($0) }
        cargs.append(nil)
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, args[0], &actions, nil, cargs, environ) == 0 else { return nil }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? readFileBytes(outPath)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }
}
