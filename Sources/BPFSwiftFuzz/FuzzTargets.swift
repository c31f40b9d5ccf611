#if canImport(Glibc)
import Glibc
#endif
#if DEBUG || BPFSWIFT_FUZZ_TESTABLE
// The key/value parser is internal to the CLI module; debug builds (tests)
// and scripts/fuzz (release with -enable-testing) compile it testable.
@testable import BPFSwiftCLI
#else
import BPFSwiftCLI
#endif
import BPFCore

/// What a fuzz input is fed to.
enum FuzzTarget: String, CaseIterable {
    /// Object bytes → `object inspect` (text and JSON): our ELF section reader,
    /// libbpf's open, metadata through BTFDumper, struct_ops members; `gen
    /// skeleton` (Swift and C); then every type of the object's BTF through
    /// BTFDumper.
    case object
    /// BTF bytes → BTF.parse(bytes:) → every type through BTFDumper (JSON,
    /// text, compact text) over patterned data, and every DATASEC as metadata.
    case btf
    /// Words → the map key/value parser (`key [hex] BYTES value ... any`),
    /// the MAP/PROG selectors and the number parsers.
    case elem
    /// Words → the dispatcher, behind a read-only verb the first byte picks.
    case args
    /// Names (NUL-separated) patched into gen_hostile.bpf.o → `gen skeleton`
    /// (Swift and C), whose output must parse to the same structure as the
    /// unpatched object's (GenTarget.swift).
    case gen
}

enum FuzzTargets {
    /// BPFSWIFT_FUZZ_TARGET, read once (libFuzzer runs one target per process).
    static let fromEnvironment: FuzzTarget = {
        guard let raw = getenv("BPFSWIFT_FUZZ_TARGET") else {
            writeErr("BPFSWIFT_FUZZ_TARGET is not set: one of \(FuzzTarget.allCases.map(\.rawValue))\n")
            exit(2)
        }
        guard let t = FuzzTarget(rawValue: String(cString: raw)) else {
            writeErr("BPFSWIFT_FUZZ_TARGET=\(String(cString: raw)) is not a target\n")
            exit(2)
        }
        return t
    }()

    /// libbpf's log is kept quiet (it is captured for error messages), as the CLI does.
    static let quietLibbpf: Void = setLibbpfDebug(false)

    static func run(_ target: FuzzTarget, _ bytes: [UInt8]) {
        _ = quietLibbpf
        switch target {
        case .object: objectTarget(bytes)
        case .btf: btfTarget(bytes)
        case .elem: elemTarget(bytes)
        case .args: argsTarget(bytes)
        case .gen: GenTarget.run(bytes)
        }
    }

    /// An invariant of the CLI broke: stop like a crash so that libFuzzer keeps the input.
    static func violated(_ what: String, _ args: [String], _ r: CLIResult) -> Never {
        writeErr("INVARIANT VIOLATED: \(what)\n  args: \(args)\n  status: \(r.status)\n  stderr: \(r.err)\n")
        abort()
    }

    // MARK: object

    /// The object bytes are put in a memory file and inspected by path, as
    /// `bpfswift object inspect FILE` does; the same bytes are then opened
    /// with BPFObject.open(bytes:) and every type of its BTF is dumped.
    static func objectTarget(_ bytes: [UInt8]) {
        let file = ScratchFile.shared.write(bytes)
        for args in [["object", "inspect", file], ["-j", "object", "inspect", file],
                     ["gen", "skeleton", file], ["gen", "skeleton", file, "--lang", "c"]] {
            let r = runCLI(args)
            checkResult(args, r, allowed: [0, 1])
        }
        guard let obj = try? BPFObject.open(bytes: bytes, options: ObjectOpenOptions(objectName: "fuzz")) else { return }
        // The initial value's size, not a copy: a .bss may claim gigabytes (libbpf maps them lazily).
        _ = obj.maps.map { ($0.name, $0.typeName, $0.pinPath, $0.initialValuePointer?.count) }
        _ = obj.programs.map { ($0.name, $0.sectionName, $0.typeName, $0.instructionCount) }
        if let btf = obj.btf { dumpEveryType(btf, limit: 2048) }
    }

    // MARK: btf

    static func btfTarget(_ bytes: [UInt8]) {
        guard let btf = try? BTF.parse(bytes: bytes) else { return }
        dumpEveryType(btf, limit: 4096)
        // Values from the input itself too, so that the fuzzer steers the data as well as the types.
        dumpEveryType(btf, limit: 4096, data: bytes)
    }

    /// Data for values: runs of printable letters, NULs and mixed bytes, so
    /// that char arrays are sometimes strings and sometimes not.
    static let pattern: [UInt8] = (0..<(1 << 16)).map { i in
        switch (i / 16) % 3 {
        case 0: return UInt8(97 + i % 26)
        case 1: return 0
        default: return UInt8(truncatingIfNeeded: i &* 37 &+ 11)
        }
    }

    static func dumpEveryType(_ btf: BTF, limit: UInt32, data: [UInt8]? = nil) {
        var pattern = Self.pattern
        if let data, !data.isEmpty {
            pattern = (0..<Self.pattern.count).map { data[$0 % data.count] }
        }
        let dumper = BTFDumper(btf: btf)
        let count = min(btf.typeCount, limit)
        guard count > 1 else { return }
        for id in 1..<count {
            guard let t = btf.type(id) else { continue }
            _ = btf.skipModifiers(id)
            _ = btf.alignOf(id)
            if !t.name.isEmpty { _ = btf.find(t.name, kind: t.kind) }
            guard let size = btf.sizeOf(id), size <= pattern.count else { continue }
            pattern.withUnsafeBytes { all in
                // The whole value, then one byte short (must fail cleanly, not read past the end).
                for n in [size, size - 1] where n >= 0 {
                    let data = UnsafeRawBufferPointer(rebasing: all[0..<n])
                    var w = JSONWriter(pretty: id % 2 == 0)
                    try? dumper.writeJSON(typeID: id, data: data, to: &w)
                    var s = ""
                    try? dumper.writeText(typeID: id, data: data, indent: Int(id % 4), to: &s)
                    var c = ""
                    try? dumper.writeCompactText(typeID: id, data: data, to: &c)
                }
            }
            if t.kind == .dataSection, let size = btf.sizeOf(id), size <= pattern.count,
               let m = ProgramMetadata.fromSection(btf: btf, sectionTypeID: id, value: Array(pattern[0..<size])) {
                var w = JSONWriter()
                try? m.writeJSONObject(to: &w)
                for i in m.entries.indices { _ = try? m.text(i) }
                if let e = m.entries.first {
                    _ = m.matches(key: e.name, value: nil)
                    _ = m.matches(key: "bpf_metadata_" + e.name, value: "\"x\"")
                    _ = MetadataFilter(parsing: e.name + "=1").matches(m)
                }
            }
        }
    }

    // MARK: elem

    /// Input: a map type byte, key size, value size, a byte of which parts are
    /// wanted, then words separated by NUL or space.
    static func elemTarget(_ bytes: [UInt8]) {
        guard bytes.count >= 4 else { return }
        let words = splitWords(Array(bytes.dropFirst(4)), separators: [0, 32])
        // Selectors and number parsers see every word.
        for (i, w) in words.enumerated() {
            _ = MetadataFilter(parsing: w)
            var a = Arguments(Array(words[i...]), commandPath: "fuzz")
            _ = try? a.selector("PROG", allowed: ["id", "pinned", "tag", "name"])
            #if DEBUG || BPFSWIFT_FUZZ_TESTABLE
            _ = parseCUnsigned(w, base: 0)
            _ = parseCUnsigned(w, base: 16)
            _ = parseHexBytes(w)
            #endif
        }
        #if DEBUG || BPFSWIFT_FUZZ_TESTABLE
        // Map types whose values are plain bytes: maps of maps and prog
        // arrays would open kernel objects named by the words.
        let types: [MapType] = [.hash, .array, .percpuHash, .percpuArray, .lruHash, .lpmTrie, .queue, .stack,
                                .bloomFilter, .ringbuf, MapType(rawValue: UInt32(bytes[0]))]
        var type = types[Int(bytes[0]) % types.count]
        if type.isMapOfMaps || type.isProgArray { type = .hash }
        let info = MapInfo(type: type, keySize: UInt32(bytes[1] % 40), valueSize: UInt32(bytes[2]))
        let want = bytes[3]
        _ = try? MapElementParser.parse(words, info: info, wantKey: want & 1 != 0, wantValue: want & 2 != 0,
                                        allowFlags: want & 4 != 0, commandPath: "map update", warn: { _ in })
        #endif
    }

    // MARK: args

    /// Read-only verbs only: the fuzzer never reaches a command that pins,
    /// updates, creates, deletes, detaches, registers or unpins.
    static let readOnlyVerbs: [[String]] = [
        ["prog", "show"], ["prog", "list"], ["prog", "help"],
        ["map", "show"], ["map", "list"], ["map", "dump"], ["map", "lookup"], ["map", "getnext"], ["map", "peek"],
        ["map", "help"],
        ["link", "show"], ["link", "list"], ["link", "help"],
        ["object", "show"], ["object", "list"], ["object", "inspect"], ["object", "help"],
        ["version"], ["help"],
        // Appended (the seeds' first byte indexes this table).
        ["struct_ops", "show"], ["struct_ops", "list"], ["struct_ops", "dump"], ["struct_ops", "help"],
        ["gen", "skeleton"], ["gen", "help"],
    ]

    /// Words that may stand before the verb: only global options (and
    /// nothing that could become an object word).
    static let optionWords = ["-j", "-p", "-d", "-f", "-h", "-V", "--json", "--pretty", "--bpffs", "--help",
                              "--version", "-jp", "-jf", "--"]

    /// Input: byte 0 picks the verb, byte 1 some global options before it,
    /// the rest are the words after the verb (separated by NUL or newline).
    static func argsTarget(_ bytes: [UInt8]) {
        guard bytes.count >= 2 else { return }
        let verb = readOnlyVerbs[Int(bytes[0]) % readOnlyVerbs.count]
        var before: [String] = []
        var bits = bytes[1]
        var i = 0
        while bits != 0 {
            if bits & 1 != 0, optionWords[i] != "--" { before.append(optionWords[i]) }
            bits >>= 1; i += 1
        }
        // "-d" floods stderr with libbpf's log for every input: its code path is one line.
        before.removeAll { $0 == "-d" }
        let words = splitWords(Array(bytes.dropFirst(2)), separators: [0, 10])
        let args = before + verb + words
        let r = runCLI(args)
        checkResult(args, r, allowed: [0, 1, 2])
    }

    // MARK: helpers

    struct CLIResult {
        var status: Int32
        var out: String
        var err: String
    }

    static func runCLI(_ args: [String]) -> CLIResult {
        let out = OutputSink(), err = OutputSink()
        let status = CLI.run(args, out: out, err: err, skipProgramName: false)
        out.flush(); err.flush()
        return CLIResult(status: status, out: out.text, err: err.text)
    }

    /// The CLI's promises: an allowed status; a failure ends with exactly
    /// one non-empty "Error: " line (warnings may come before it).
    static func checkResult(_ args: [String], _ r: CLIResult, allowed: Set<Int32>) {
        guard allowed.contains(r.status) else { violated("exit status \(r.status)", args, r) }
        guard r.status != 0 else { return }
        guard r.err.hasSuffix("\n") else { violated("a failure must end its stderr with a newline", args, r) }
        let lines = r.err.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard let last = lines.last, last.hasPrefix("Error: "), last.count > "Error: ".count else {
            violated("a failure must end with one non-empty Error: line", args, r)
        }
        guard lines.filter({ $0.hasPrefix("Error: ") }).count == 1 else {
            violated("a failure must print exactly one Error: line", args, r)
        }
    }

    static func splitWords(_ bytes: [UInt8], separators: Set<UInt8>) -> [String] {
        var out: [String] = []
        var cur: [UInt8] = []
        for b in bytes {
            if separators.contains(b) {
                out.append(String(decoding: cur, as: UTF8.self)); cur = []
            } else {
                cur.append(b)
            }
        }
        if !cur.isEmpty || !out.isEmpty { out.append(String(decoding: cur, as: UTF8.self)) }
        return out.count > 64 ? Array(out.prefix(64)) : out
    }
}

/// A private scratch directory where object inputs are written to one file.
/// (The args target runs in the caller's working directory: scripts/fuzz and
/// the replay test start it in a scratch directory holding input.bpf.o.)
final class ScratchFile {
    nonisolated(unsafe) static let shared = ScratchFile()
    let dir: String
    let path: String

    private init() {
        var template = Array("/tmp/bpfswift-fuzz-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        dir = made.map { String(cString: $0) } ?? "/tmp"
        path = dir + "/input.bpf.o"
        // Removed at exit (atexit takes no context: the path goes through a global).
        scratchDirectoryToRemove = dir
        atexit {
            if let d = scratchDirectoryToRemove {
                unlink(d + "/input.bpf.o")
                rmdir(d)
            }
        }
    }

    func write(_ bytes: [UInt8]) -> String {
        writeFile(path, bytes)
        return path
    }
}

nonisolated(unsafe) var scratchDirectoryToRemove: String?
