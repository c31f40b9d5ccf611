import BPFCore

/// bpftool's `prog dump xlated PROG visual`: the control flow graph as DOT
/// (bpftool's cfg.c and dump_xlated_for_graph), byte for byte, quirks
/// included: instruction numbers and func_info matching are relative to
/// each function's start, and every basic block starts its func_info
/// search again at the first record.
enum XlatedGraphOutput {
    private struct Block {
        var head: Int
        var tail = 0
        var index = 0
        var successors: [Int] = []   // block indices in the function's list
    }

    private struct Function {
        let start: Int
        var end = 0
        let index: Int
        var blocks: [Block] = []     // ENTRY, the real blocks by head, EXIT
    }

    static func isJump(_ code: UInt8) -> Bool { code & 0x07 == 0x05 || code & 0x07 == 0x06 }

    /// The CFG as bpftool builds it: functions split at BPF-to-BPF call
    /// targets (numbered in order of discovery, listed by start), blocks at
    /// jump targets and after conditional jumps.
    private static func build(_ insns: [BPFInstruction]) -> [Function] {
        let count = insns.count
        guard count > 0 else { return [] }
        var funcs = [Function(start: 0, index: 0)]
        for (i, insn) in insns.enumerated() where insn.code == 0x85 && insn.src == 1 {
            let target = i + Int(insn.off) + 1
            guard target >= 0 && target < count, !funcs.contains(where: { $0.start == target }) else { continue }
            let at = funcs.firstIndex { $0.start > target } ?? funcs.count
            funcs.insert(Function(start: target, index: funcs.count), at: at)
        }
        for k in funcs.indices { funcs[k].end = k + 1 < funcs.count ? funcs[k + 1].start - 1 : count - 1 }

        for k in funcs.indices {
            var heads = [funcs[k].start]
            func add(_ h: Int) {
                if heads.contains(h) { return }
                heads.insert(h, at: heads.firstIndex { $0 > h } ?? heads.count)
            }
            var cur = funcs[k].start
            while cur <= funcs[k].end {
                let code = insns[cur].code
                if isJump(code) {
                    let op = code & 0xf0
                    if op != 0x90 && op != 0x80 {
                        add(cur + Int(insns[cur].off) + 1)
                        if op != 0x00 { add(cur + 1) }
                    }
                }
                cur += 1
            }
            var blocks = [Block(head: -1, index: 0)]
            for (n, h) in heads.enumerated() {
                let tail = n + 1 < heads.count ? heads[n + 1] - 1 : funcs[k].end
                blocks.append(Block(head: h, tail: tail, index: n + 2))
            }
            blocks.append(Block(head: -1, index: 1))
            let exit = blocks.count - 1
            blocks[0].successors = [1]
            func block(withHead h: Int) -> Int? { (1..<exit).first { blocks[$0].head == h } }
            for b in 1..<exit {
                let tail = blocks[b].tail
                let insn = tail >= 0 && tail < count ? insns[tail] : BPFInstruction(bytes: [UInt8](repeating: 0, count: 8), at: 0)
                let op = insn.code & 0xf0
                if !isJump(insn.code) || op == 0x90 {
                    blocks[b].successors = [b + 1]
                } else if op == 0x00 {
                    // bpftool follows a jump out of the function to a NULL block
                    // and crashes; such an edge is left out.
                    blocks[b].successors = block(withHead: tail + Int(insn.off) + 1).map { [$0] } ?? []
                } else {
                    blocks[b].successors = [b + 1]
                    if let d = block(withHead: tail + Int(insn.off) + 1) { blocks[b].successors.append(d) }
                }
            }
            funcs[k].blocks = blocks
        }
        return funcs
    }

    static func text(_ image: XlatedImage, opcodes: Bool, linum: Bool) -> String {
        var s = "digraph \"DOT graph for eBPF program\" {\n"
        for f in build(image.instructions) {
            s += "subgraph \"cluster_\(f.index)\" {\n\tstyle=\"dashed\";\n\tcolor=\"black\";\n\tlabel=\"func_\(f.index) ()\";\n"
            for b in f.blocks {
                s += "\tfn_\(f.index)_bb_\(b.index) [shape=\(b.index < 2 ? "Mdiamond" : "record"),style=filled,label=\""
                if b.index == 0 {
                    s += "ENTRY"
                } else if b.index == 1 {
                    s += "EXIT"
                } else {
                    s += "{\\\n"
                    block(image, from: b.head, to: b.tail, startIndex: b.head - f.start, opcodes: opcodes, linum: linum, &s)
                    s += "}"
                }
                s += "\"];\n\n"
            }
            for b in f.blocks {
                for d in b.successors {
                    s += "\tfn_\(f.index)_bb_\(b.index):s -> fn_\(f.index)_bb_\(f.blocks[d].index):n "
                        + "[style=\"solid,bold\", color=black, weight=10, constraint=true];\n"
                }
            }
            s += "\tfn_\(f.index)_bb_0:s -> fn_\(f.index)_bb_1:n [style=\"invis\", constraint=true];\n"
            s += "}\n"
        }
        s += "}\n"
        return s
    }

    /// dump_xlated_for_graph: one block's record label.
    private static func block(_ image: XlatedImage, from head: Int, to tail: Int, startIndex: Int,
                              opcodes: Bool, linum: Bool, _ s: inout String) {
        let count = image.instructions.count
        var record = 0
        var lastLine: Int?
        var wide = false
        var cur = head
        while cur <= tail {
            defer { cur += 1 }
            if wide { wide = false; continue }
            guard cur >= 0 && cur < count else { continue }
            wide = image.instructions[cur].isWide
            let off = cur - head + startIndex
            if record < image.functions.count, image.functions[record].offset == UInt32(truncatingIfNeeded: off) {
                let sig = image.functions[record].signature
                if !sig.isEmpty { s += "; \(sig):\\l\\\n" }
                record += 1
            }
            if let l = lineRecord(image.lines, at: off), l != lastLine {
                dotLabel(image.lines[l], linum: linum, &s)
                lastLine = l
            }
            s += "\(off): " + insnForGraph(image.texts[cur])
            if opcodes {
                s += "\\ \\ \\ \\ " + hex(image.bytes, cur * 8)
                if wide && cur < tail && cur + 1 < count { s += " " + hex(image.bytes, (cur + 1) * 8) }
                s += "\\l\\\n"
            }
            if cur != tail { s += "| " }
        }
    }

    private static func hex(_ bytes: [UInt8], _ at: Int) -> String {
        bytes[at..<(at + 8)].map(XlatedOutput.hexByte).joined(separator: " ")
    }

    /// `bpf_prog_linfo__lfind(linfo, off, 0)`: the last record starting at or before `off`.
    private static func lineRecord(_ lines: [XlatedLine], at off: Int) -> Int? {
        guard off >= 0 else { return nil }
        var lo = 0, hi = lines.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(lines[mid].offset) <= off { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : lo - 1
    }

    /// print_insn_for_graph: the disassembler's line in bpftool's 64-byte
    /// buffer (63 characters and the newline at most), left-aligned with
    /// `\l\`, DOT's record specials escaped.
    static func insnForGraph(_ text: String) -> String {
        var raw = Array((text + "\n").utf8)
        if raw.count > 63 { raw = Array(raw.prefix(63)) }
        var out: [UInt8] = []
        for c in raw {
            switch c {
            case UInt8(ascii: "\n"): out += Array("\\l\\\n".utf8)
            case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "|"), UInt8(ascii: "&"):
                out.append(UInt8(ascii: "\\")); out.append(c)
            default: out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// btf_dump_linfo_dotlabel.
    private static func dotLabel(_ l: XlatedLine, linum: Bool, _ s: inout String) {
        guard let raw = l.rawText, !raw.isEmpty else { return }
        if linum {
            // A missing file name prints as bpftool's "" compared above NULL: "...".
            let file = l.file
            let short = file.map(shortenPath)
            s += "; [" + (file == nil || short!.utf8.count < file!.utf8.count ? "..." : "")
            s += dotEscape(short ?? "") + " line:\(l.line) col:\(l.column)]\\l\\\n"
        }
        s += "; " + dotEscape(XlatedImage.ltrim(raw)) + "\\l\\\n"
    }

    private static func dotEscape(_ t: String) -> String {
        var out = ""
        for c in t.unicodeScalars {
            switch c {
            case "\\", "\"", "{", "}", "<", ">", "|", " ": out += "\\" + String(c)
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// bpftool's shorten_path: paths over 32 bytes keep their tail from a '/'.
    static func shortenPath(_ path: String) -> String {
        let b = Array(path.utf8)
        let maxLen = 32
        guard b.count > maxLen else { return path }
        if let slash = b[(b.count - maxLen)...].firstIndex(of: UInt8(ascii: "/")) {
            if slash < 3 { return path }
            return String(decoding: b[slash...], as: UTF8.self)
        }
        if let slash = b.lastIndex(of: UInt8(ascii: "/")) { return String(decoding: b[slash...], as: UTF8.self) }
        return path
    }
}
