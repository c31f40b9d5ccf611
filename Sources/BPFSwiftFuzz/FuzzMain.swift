#if canImport(Glibc)
import Glibc
#endif
import BPFCore
import BPFSwiftCLI

// The fuzz harness over everything in bpfswift that parses untrusted bytes.
//
// Built normally, this is an ordinary executable whose @main replays corpus
// files (tests run every corpus file and every kept crasher through it) and
// runs command batches for the robustness tests. Built with
// `-sanitize=fuzzer` (scripts/fuzz), libFuzzer's main drives
// LLVMFuzzerTestOneInput instead, with the target chosen by
// BPFSWIFT_FUZZ_TARGET.

/// libFuzzer's entry point: one input for the target BPFSWIFT_FUZZ_TARGET names.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTargets.run(FuzzTargets.fromEnvironment, bytes)
    return 0
}

@main
struct BPFSwiftFuzzMain {
    static let usage = """
        usage: BPFSwiftFuzz replay TARGET PATH...      run every file (or every file in each directory) through TARGET
               BPFSwiftFuzz seed-btf OUTDIR OBJ...     write the .BTF section of each object file into OUTDIR
               BPFSwiftFuzz batch FILE                 run the command lines in FILE in this process (see Batch.swift)
               TARGET := { \(FuzzTarget.allCases.map(\.rawValue).joined(separator: " | ")) }
        Built with -sanitize=fuzzer (scripts/fuzz), libFuzzer's options apply instead and
        BPFSWIFT_FUZZ_TARGET names the target.

        """

    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let verb = args.first else { fail(usage) }
        switch verb {
        case "replay":
            guard args.count >= 3, let target = FuzzTarget(rawValue: args[1]) else { fail(usage) }
            var files: [String] = []
            for p in args.dropFirst(2) { files += listFiles(p) }
            for f in files {
                guard let bytes = try? readFileBytes(f) else { fail("replay: cannot read \(f)\n") }
                // Say which input runs, so that a crash names it.
                writeErr("replay \(target.rawValue) \(f)\n")
                FuzzTargets.run(target, bytes)
            }
            print("replayed \(files.count) inputs through \(target.rawValue)")
        case "seed-btf":
            guard args.count >= 3 else { fail(usage) }
            var n = 0
            for obj in args.dropFirst(2) {
                guard let bytes = try? readFileBytes(obj), let btf = ELFSections.section(".BTF", in: bytes) else { continue }
                let name = obj.split(separator: "/").last.map(String.init) ?? obj
                writeFile(args[1] + "/" + name + ".btf", btf)
                n += 1
            }
            print("wrote \(n) BTF seeds")
        case "batch":
            guard args.count == 2 else { fail(usage) }
            Batch.run(file: args[1])
        default:
            fail(usage)
        }
    }

    static func fail(_ text: String) -> Never {
        writeErr(text)
        exit(2)
    }
}

func writeErr(_ s: String) {
    _ = s.withCString { Glibc.write(2, $0, strlen($0)) }
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    defer { close(fd) }
    bytes.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
            if n <= 0 { return }
            off += n
        }
    }
}

/// `path` itself, or the regular files directly in it (sorted), skipping dot files.
func listFiles(_ path: String) -> [String] {
    var st = stat()
    guard stat(path, &st) == 0 else { return [] }
    guard (st.st_mode & S_IFMT) == S_IFDIR else { return [path] }
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = entryName(e)
        if name.hasPrefix(".") { continue }
        var fst = stat()
        let full = path + "/" + name
        if stat(full, &fst) == 0, (fst.st_mode & S_IFMT) == S_IFREG { out.append(full) }
    }
    return out.sorted()
}

/// The name of a readdir(3) entry, through a pointer to the field (the entry
/// may be shorter than `struct dirent`: copying `e.pointee` reads past it).
func entryName(_ e: UnsafeMutablePointer<dirent>) -> String {
    let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
    return String(cString: (UnsafeRawPointer(e) + offset).assumingMemoryBound(to: CChar.self))
}

/// Just enough ELF64 to pull a section out of a fixture for seeding
/// (the harness's own, so that seeding does not depend on the code under test).
enum ELFSections {
    static func section(_ wanted: String, in b: [UInt8]) -> [UInt8]? {
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { (0..<4).reduce(0) { $0 | Int(b[o + $1]) << (8 * $1) } }
        func u64(_ o: Int) -> Int { (0..<8).reduce(0) { $0 | Int(b[o + $1]) << (8 * $1) } }
        guard b.count >= 64, b[0] == 0x7f, b[1] == 0x45, b[4] == 2, b[5] == 1 else { return nil }
        let shoff = u64(0x28), shentsize = u16(0x3a), shnum = u16(0x3c), shstrndx = u16(0x3e)
        guard shoff > 0, shentsize >= 64, shstrndx < shnum, shoff + shnum * shentsize <= b.count else { return nil }
        func header(_ i: Int) -> (name: Int, offset: Int, size: Int) {
            let h = shoff + i * shentsize
            return (u32(h), u64(h + 24), u64(h + 32))
        }
        let names = header(shstrndx)
        for i in 0..<shnum {
            let h = header(i)
            var end = names.offset + h.name
            guard end < b.count else { continue }
            while end < b.count && b[end] != 0 { end += 1 }
            let name = String(decoding: b[(names.offset + h.name)..<end], as: UTF8.self)
            if name == wanted, h.offset + h.size <= b.count { return Array(b[h.offset..<(h.offset + h.size)]) }
        }
        return nil
    }
}
