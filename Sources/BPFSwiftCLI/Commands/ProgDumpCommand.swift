#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift prog dump { xlated | jited } PROG [{ file FILE | opcodes | linum | visual }]`.
extension ProgCommand {
    static let dumpCommand = Command(
        "dump",
        usage: ["dump xlated PROG [{ file FILE | opcodes | linum | visual }]",
                "dump jited PROG [{ file FILE | opcodes | linum }]"],
        summary: "Print the translated (xlated) BPF instructions as bpftool does: the kernel's "
            + "disassembly with helper, subprogram and map names, the function signatures and source "
            + "lines of the program's BTF; opcodes adds each instruction's bytes, linum the file, line "
            + "and column of each source line; -j prints bpftool's JSON. file FILE writes the bytes the "
            + "kernel returns instead: the xlated instructions, or the JIT's machine code (jited), "
            + "which bpftool built without a disassembler (as distributions ship it) refuses. A jited "
            + "listing needs a disassembler, which bpfswift does not have: it says so in one line, as "
            + "bpftool does. visual prints bpftool's control flow graph in DOT (text only, one program). "
            + "A name or tag that selects several programs dumps each after its header line (JSON: an "
            + "array of objects with the header keys and \"insns\").",
        run: dump)

    /// bpftool's do_dump, `file FILE` and the refusals.
    static func dump(_ args: inout Arguments, _ ctx: Context) throws {
        let path = args.commandPath
        let modeWord = try args.require("xlated or jited")
        let kind: ProgramImageKind
        if isPrefix(modeWord, of: "jited") { kind = .jited }
        else if isPrefix(modeWord, of: "xlated") { kind = .translated }
        else { throw UsageError("\(path): expected 'xlated' or 'jited', got: \(modeWord)") }
        let selector = try args.selector("PROG", allowed: selectorWords)
        var file: String?
        var listingOptions: [String] = []
        while let w = args.next() {
            if isPrefix(w, of: "file") {
                guard let f = args.next() else { throw UsageError("\(path): expected file path") }
                file = f
            } else if isPrefix(w, of: "opcodes") {
                listingOptions.append("opcodes")
            } else if kind == .translated, isPrefix(w, of: "visual") {
                listingOptions.append("visual")
            } else if isPrefix(w, of: "linum") {
                listingOptions.append("linum")
            } else {
                throw UsageError("\(path): unexpected argument '\(w)'")
            }
        }
        if file != nil && !listingOptions.isEmpty {
            throw UsageError("\(path): 'file' is not compatible with 'opcodes', 'visual', or 'linum'")
        }
        if ctx.json && listingOptions.contains("visual") {
            // bpftool's words: scripts match the {"error": ...} that -j prints.
            throw BPFError("'visual' is not compatible with JSON output")
        }
        if file == nil && kind == .jited { throw BPFError("No JIT disassembly support") }
        let programs = try Program.select(selector)
        defer { for p in programs { p.fd.close() } }
        // bpftool dumps every program a name or tag selects, each after its
        // `prog show` header line (JSON: an array of objects with "insns"),
        // but a file or a graph takes one program.
        if programs.count > 1 && (file != nil || listingOptions.contains("visual")) {
            throw BPFError("several programs matched")
        }
        guard let file else {
            let linum = listingOptions.contains("linum"), opcodes = listingOptions.contains("opcodes")
            if listingOptions.contains("visual") {
                ctx.out.write(XlatedGraphOutput.text(try programs[0].xlatedImage(), opcodes: opcodes, linum: linum))
                return
            }
            let several = programs.count > 1
            if ctx.json {
                var w = ctx.makeJSONWriter()
                if several { w.beginArray() }
                for p in programs {
                    let entries = try p.xlatedListing()
                    if several {
                        w.beginObject()
                        ProgView(info: p.info, pinned: nil, metadata: nil).writeHeaderJSON(to: &w)
                        w.key("insns")
                    }
                    XlatedOutput.json(entries, opcodes: opcodes, linum: linum, &w)
                    if several { w.endObject() }
                }
                if several { w.endArray() }
                ctx.out.write(bytes: w.take())
                ctx.out.line()
            } else {
                for (n, p) in programs.enumerated() {
                    let entries = try p.xlatedListing()
                    var s = several ? ProgView(info: p.info, pinned: nil, metadata: nil).headerText() : ""
                    s += XlatedOutput.text(entries, opcodes: opcodes, linum: linum)
                    if several && n != programs.count - 1 { s += "\n" }
                    ctx.out.write(s)
                }
            }
            return
        }
        let bytes = try programs[0].image(kind)
        guard !bytes.isEmpty else {
            throw BPFError(kind == .jited ? "no instructions returned"
                           : "error retrieving insn dump: kernel.kptr_restrict set?")
        }
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BPFError("can't open file \(file)", errno: errno) }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BPFError("error writing output file \(file)", errno: errno)
            }
            written += n
        }
        if ctx.json { ctx.emitJSON { $0.null() } }
    }
}
