#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A source line of a program's BTF line info.
public struct BPFSourceLine: Sendable {
    /// The line's text with leading white space removed (as bpftool prints it); nil when unknown.
    public let text: String?
    public let file: String?
    public let line: UInt32
    public let column: UInt32
}

/// One instruction of `prog dump xlated`: what bpftool prints for it.
public struct XlatedEntry: Sendable {
    /// The instruction's index (in 8-byte slots).
    public let index: Int
    /// The function that starts here ("int f(struct ctx * ctx)"), from func_info.
    public let signature: String?
    /// The source line that starts here, from line_info.
    public let source: BPFSourceLine?
    /// The disassembled instruction, e.g. "(b7) r1 = 0".
    public let text: String
    /// The instruction's bytes (16 for ld_imm64).
    public let bytes: [UInt8]
    public let isWide: Bool
}

/// A function of the program (a `func_info` record): where it starts and
/// its signature as bpftool writes it ("" when it cannot be written).
public struct XlatedFunction: Sendable {
    public let offset: UInt32
    public let signature: String
}

/// A `line_info` record: the instruction it starts at and its source line,
/// the text as BTF holds it (leading white space kept).
public struct XlatedLine: Sendable {
    public let offset: UInt32
    public let rawText: String?
    public let file: String?
    public let line: UInt32
    public let column: UInt32
}

/// Everything bpftool's xlated dumpers read of a program: the instructions,
/// their disassembly, func_info and line_info.
public struct XlatedImage: Sendable {
    /// One entry per 8-byte slot (an `ld_imm64` takes two).
    public let instructions: [BPFInstruction]
    public let bytes: [UInt8]
    /// The disassembly of each slot ("" for the second half of an `ld_imm64`).
    public let texts: [String]
    /// func_info records in order; empty when the program has no BTF.
    public let functions: [XlatedFunction]
    /// line_info records in order (by instruction); empty without BTF.
    public let lines: [XlatedLine]
    /// For each slot, the line_info record the plain listing prints before it
    /// (libbpf's `bpf_prog_linfo__lfind` with bpftool's running skip count).
    public let listingLine: [Int?]

    /// The plain/JSON listing entries (`prog dump xlated`).
    public var listing: [XlatedEntry] {
        var entries: [XlatedEntry] = []
        var funcIndex = 0
        var i = 0
        let count = instructions.count
        while i < count {
            var signature: String?
            if funcIndex < functions.count, functions[funcIndex].offset == UInt32(i) {
                let s = functions[funcIndex].signature
                signature = s.isEmpty ? nil : s
                funcIndex += 1
            }
            var source: BPFSourceLine?
            if let l = listingLine[i] {
                let rec = lines[l]
                source = BPFSourceLine(text: rec.rawText.map(XlatedImage.ltrim), file: rec.file,
                                       line: rec.line, column: rec.column)
            }
            let wide = instructions[i].isWide
            let end = wide && i + 1 < count ? (i + 2) * 8 : (i + 1) * 8
            entries.append(XlatedEntry(index: i, signature: signature, source: source, text: texts[i],
                                       bytes: Array(bytes[(i * 8)..<end]), isWide: wide))
            i += wide ? 2 : 1
        }
        return entries
    }

    /// C's isspace-based ltrim, as bpftool trims source lines.
    public static func ltrim(_ s: String) -> String {
        String(s.drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" })
    }
}

extension Program {
    /// The translated instructions as bpftool's `prog dump xlated` lists them:
    /// the kernel's disassembly, helper and subprogram calls named from
    /// /proc/kallsyms, map references as `map[id:N]`, the function
    /// signatures of func_info and the source lines of line_info.
    /// Calls `bpf_prog_get_info_by_fd`, `btf__load_from_kernel_by_id`,
    /// `bpf_prog_linfo__new` and `bpf_prog_linfo__lfind`.
    public func xlatedListing() throws(BPFError) -> [XlatedEntry] {
        try xlatedImage().listing
    }

    /// The translated instructions with what the listing and the control
    /// flow graph (`visual`) print of them. Calls `bpf_prog_get_info_by_fd`,
    /// `btf__load_from_kernel_by_id`, `bpf_prog_linfo__new` and `bpf_prog_linfo__lfind`.
    public func xlatedImage() throws(BPFError) -> XlatedImage {
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        _ = try check(bpf_prog_get_info_by_fd(fd.rawValue, &info, &len), "get program info of id \(id)")
        let insnLen = Int(info.xlated_prog_len)
        guard insnLen > 0 else { throw BPFError("error retrieving insn dump: kernel.kptr_restrict set?") }
        let nKsyms = Int(info.nr_jited_ksyms), nFunc = Int(info.nr_func_info), nLine = Int(info.nr_line_info)
        let funcRec = Int(info.func_info_rec_size), lineRec = Int(info.line_info_rec_size)
        var insns = [UInt8](repeating: 0, count: insnLen)
        var ksyms = [UInt64](repeating: 0, count: nKsyms)
        var funcs = [UInt8](repeating: 0, count: max(nFunc * funcRec, 1))
        var lines = [UInt8](repeating: 0, count: max(nLine * lineRec, 1))
        var second = bpf_prog_info()
        let r: Int32 = insns.withUnsafeMutableBytes { ib in
            ksyms.withUnsafeMutableBytes { kb in
                funcs.withUnsafeMutableBytes { fb in
                    lines.withUnsafeMutableBytes { lb in
                        second.xlated_prog_len = UInt32(insnLen)
                        second.xlated_prog_insns = UInt64(UInt(bitPattern: ib.baseAddress!))
                        if nKsyms > 0 {
                            second.nr_jited_ksyms = UInt32(nKsyms)
                            second.jited_ksyms = UInt64(UInt(bitPattern: kb.baseAddress!))
                        }
                        if nFunc > 0 {
                            second.nr_func_info = UInt32(nFunc); second.func_info_rec_size = UInt32(funcRec)
                            second.func_info = UInt64(UInt(bitPattern: fb.baseAddress!))
                        }
                        if nLine > 0 {
                            second.nr_line_info = UInt32(nLine); second.line_info_rec_size = UInt32(lineRec)
                            second.line_info = UInt64(UInt(bitPattern: lb.baseAddress!))
                        }
                        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
                        return bpf_prog_get_info_by_fd(fd.rawValue, &second, &len)
                    }
                }
            }
        }
        _ = try check(r, "get the instructions of program id \(id)")

        let btf: BTF? = info.btf_id != 0 ? try BTF.load(id: BTFID(info.btf_id)) : nil

        // func_info: insn_off -> FUNC type id, as bpftool reads it (only with BTF).
        var functions: [XlatedFunction] = []
        if let btf, nFunc > 0 && funcRec >= 8 {
            for i in 0..<nFunc {
                let o = i * funcRec
                let off = funcs.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
                let type = funcs.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self) }
                functions.append(XlatedFunction(offset: off, signature: btf.bpftoolSignature(type)))
            }
        }

        let count = insnLen / 8
        var instructions: [BPFInstruction] = []
        instructions.reserveCapacity(count)
        for i in 0..<count { instructions.append(BPFInstruction(bytes: insns, at: i * 8)) }

        // line_info records, and which one the plain listing prints before
        // each slot: libbpf's lookup (its skip rule decides which lines print).
        var lineRecords: [XlatedLine] = []
        var listingLine = [Int?](repeating: nil, count: count)
        if nLine > 0, lineRec >= MemoryLayout<bpf_line_info>.size, let btf {
            lines.withUnsafeBytes { lb in
                for k in 0..<nLine {
                    let base = k * lineRec
                    let off = lb.loadUnaligned(fromByteOffset: base, as: UInt32.self)
                    let fileOff = lb.loadUnaligned(fromByteOffset: base + 4, as: UInt32.self)
                    let lineOff = lb.loadUnaligned(fromByteOffset: base + 8, as: UInt32.self)
                    let lineCol = lb.loadUnaligned(fromByteOffset: base + 12, as: UInt32.self)
                    lineRecords.append(XlatedLine(offset: off, rawText: btf.string(at: lineOff),
                                                  file: btf.string(at: fileOff),
                                                  line: lineCol >> 10, column: lineCol & 0x3ff))
                }
            }
            let linfo: OpaquePointer? = lines.withUnsafeBytes { lb -> OpaquePointer? in
                var li = bpf_prog_info()
                li.nr_line_info = UInt32(nLine); li.line_info_rec_size = UInt32(lineRec)
                li.line_info = UInt64(UInt(bitPattern: lb.baseAddress!))
                return bpf_prog_linfo__new(&li)
            }
            if let linfo {
                defer { bpf_prog_linfo__free(linfo) }
                // line_info offsets increase strictly: a record is known by its offset.
                var byOffset: [UInt32: Int] = [:]
                for (k, l) in lineRecords.enumerated() { byOffset[l.offset] = k }
                var nrSkip: UInt32 = 0
                var i = 0
                while i < count {
                    if let l = bpf_prog_linfo__lfind(linfo, UInt32(i), nrSkip) {
                        nrSkip += 1
                        listingLine[i] = byOffset[l.pointee.insn_off]
                    }
                    i += instructions[i].isWide ? 2 : 1
                }
            }
        }

        let symbols = XlatedSymbols.load()
        let callBase = symbols?.callBase ?? 0
        let disassembler = BPFDisassembler(
            callName: { insn in
                var address = callBase &+ UInt64(bitPattern: Int64(insn.imm))
                if insn.src == 1 && UInt32(bitPattern: insn.imm) < UInt32(nKsyms) {
                    address = ksyms[Int(insn.imm)]
                }
                let sym = symbols?.name(at: address)
                if insn.src == 1 {
                    let off = insn.off >= 0 ? "+\(insn.off)" : "\(insn.off)"
                    if nKsyms == 0 { return off }
                    if let sym { return "\(off)#\(sym)" }
                    return "\(off)#0x\(String(address, radix: 16))"
                }
                return sym ?? "0x\(String(address, radix: 16))"
            },
            immediate: { insn, next, full in
                switch insn.src {
                case 1: return "map[id:\(UInt32(bitPattern: insn.imm))]"
                case 2: return "map[id:\(UInt32(bitPattern: insn.imm))][0]+\(UInt32(bitPattern: next.imm))"
                case 6: return "map[idx:\(UInt32(bitPattern: insn.imm))]+\(UInt32(bitPattern: next.imm))"
                case 4: return "subprog[\(insn.imm >= 0 ? "+" : "")\(insn.imm)]"
                default: return "0x\(String(full, radix: 16))"
                }
            })

        var texts = [String](repeating: "", count: count)
        var i = 0
        while i < count {
            let wide = instructions[i].isWide
            texts[i] = disassembler.text(instructions[i], next: wide && i + 1 < count ? instructions[i + 1] : nil)
            i += wide ? 2 : 1
        }
        return XlatedImage(instructions: instructions, bytes: insns, texts: texts, functions: functions,
                           lines: lineRecords, listingLine: listingLine)
    }
}

/// /proc/kallsyms as bpftool's xlated dumper reads it: exact addresses, and
/// `__bpf_call_base`, the base of helper call offsets.
struct XlatedSymbols {
    let table: KernelSymbols
    let callBase: UInt64

    static func load() -> XlatedSymbols? {
        guard let t = KernelSymbols.load() else { return nil }
        let base = t.entries.first { $0.name == "__bpf_call_base" }?.address ?? 0
        return XlatedSymbols(table: t, callBase: base)
    }

    func name(at address: UInt64) -> String? {
        var lo = 0, hi = table.entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if table.entries[mid].address < address { lo = mid + 1 } else { hi = mid }
        }
        guard lo < table.entries.count, table.entries[lo].address == address else { return nil }
        return table.entries[lo].name
    }
}

extension BTF {
    /// The string at `offset` of the string section, or nil when out of range.
    func string(at offset: UInt32) -> String? {
        guard let p = btf__name_by_offset(handle, offset) else { return nil }
        return String(cString: p)
    }

    /// A type written as bpftool's btf_dumper_type_only writes it for
    /// `prog dump xlated` ("int f(struct ctx * ctx)"); "" when it cannot.
    func bpftoolSignature(_ id: UInt32) -> String {
        var s = ""
        return appendTypeOnly(id, &s, depth: 0) ? s : ""
    }

    private func appendTypeOnly(_ id: UInt32, _ s: inout String, depth: Int) -> Bool {
        guard depth < 64 else { return false }
        if id == 0 { s += "void "; return true }
        guard let t = btf__type_by_id(handle, id) else { return false }
        let name = { (off: UInt32) -> String in self.string(at: off) ?? "(null)" }
        switch BTFKind(rawValue: btf_kind(t)) {
        case .int, .typedef, .float: s += name(t.pointee.name_off) + " "
        case .structure: s += "struct \(name(t.pointee.name_off)) "
        case .union: s += "union \(name(t.pointee.name_off)) "
        case .enumeration, .enum64: s += "enum \(name(t.pointee.name_off)) "
        case .array:
            let a = btf_array(t)!
            guard appendTypeOnly(a.pointee.type, &s, depth: depth + 1) else { return false }
            s += "[\(Int32(bitPattern: a.pointee.nelems))]"
        case .ptr:
            guard appendTypeOnly(t.pointee.type, &s, depth: depth + 1) else { return false }
            s += "* "
        case .fwd: s += "\(btf_kflag(t) ? "union" : "struct") \(name(t.pointee.name_off)) "
        case .volatile: s += "volatile "; return appendTypeOnly(t.pointee.type, &s, depth: depth + 1)
        case .const: s += "const "; return appendTypeOnly(t.pointee.type, &s, depth: depth + 1)
        case .restrict: s += "restrict "; return appendTypeOnly(t.pointee.type, &s, depth: depth + 1)
        case .functionProto: return appendFunction(t, nil, &s, depth: depth)
        case .function:
            guard let proto = btf__type_by_id(handle, t.pointee.type) else { return false }
            return appendFunction(proto, t, &s, depth: depth)
        case .variable:
            if btf_var(t)!.pointee.linkage == 0 { s += "static " }
            guard appendTypeOnly(t.pointee.type, &s, depth: depth + 1) else { return false }
            s += " \(name(t.pointee.name_off))"
        case .dataSection: s += "section (\"\(name(t.pointee.name_off))\") "
        default: return false
        }
        return s.utf8.count < 1024
    }

    private func appendFunction(_ proto: UnsafePointer<btf_type>, _ fn: UnsafePointer<btf_type>?,
                                _ s: inout String, depth: Int) -> Bool {
        guard appendTypeOnly(proto.pointee.type, &s, depth: depth + 1) else { return false }
        s += (fn.flatMap { string(at: $0.pointee.name_off) } ?? "") + "("
        let params = btf_params(proto)!
        for i in 0..<Int(btf_vlen(proto)) {
            if i > 0 { s += ", " }
            if params[i].type != 0 {
                guard appendTypeOnly(params[i].type, &s, depth: depth + 1) else { return false }
                if params[i].name_off != 0 { s += string(at: params[i].name_off) ?? "(null)" }
                else if s.hasSuffix(" ") { s.removeLast() }
            } else {
                s += "..."
            }
        }
        s += ")"
        return s.utf8.count < 1024
    }
}
