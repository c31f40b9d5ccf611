/// One BPF instruction (`struct bpf_insn`).
public struct BPFInstruction: Sendable, Equatable {
    public var code: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var off: Int16
    public var imm: Int32

    /// Decodes the 8 bytes at `offset` of `bytes` (little-endian registers nibbles as the host lays them out).
    public init(bytes: [UInt8], at offset: Int) {
        code = bytes[offset]
        dst = bytes[offset + 1] & 0x0f
        src = bytes[offset + 1] >> 4
        off = Int16(bitPattern: UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8)
        imm = Int32(bitPattern: UInt32(bytes[offset + 4]) | UInt32(bytes[offset + 5]) << 8
                    | UInt32(bytes[offset + 6]) << 16 | UInt32(bytes[offset + 7]) << 24)
    }

    var instructionClass: UInt8 { code & 0x07 }
    var op: UInt8 { code & 0xf0 }
    var mode: UInt8 { code & 0xe0 }
    var size: UInt8 { code & 0x18 }
    var sourceIsRegister: Bool { code & 0x08 != 0 }
    /// `ld_imm64`: the instruction takes two slots.
    public var isWide: Bool { code == 0x18 }
}

/// The kernel's BPF disassembler (kernel/bpf/disasm.c `print_bpf_insn`),
/// whose text bpftool prints for `prog dump xlated`: "(b7) r1 = 0".
/// Names of calls and 64-bit immediates come from the caller, as the
/// kernel's `cb_call`/`cb_imm` callbacks give them.
public struct BPFDisassembler {
    /// The name of a call target, or nil for the default.
    public var callName: (BPFInstruction) -> String?
    /// The text of an `ld_imm64` operand: the instruction, the next one, the full value.
    public var immediate: (BPFInstruction, BPFInstruction, UInt64) -> String

    public init(callName: @escaping (BPFInstruction) -> String?,
                immediate: @escaping (BPFInstruction, BPFInstruction, UInt64) -> String) {
        self.callName = callName
        self.immediate = immediate
    }

    static let classNames = ["ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64"]
    static let aluOps: [String?] = ["+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian", nil, nil]
    static let aluSignOps: [String?] = [nil, nil, nil, "s/=", nil, nil, nil, nil, nil, "s%=", nil, nil, nil, nil, nil, nil]
    static let movsx: [String?] = ["(s8)", "(s16)", nil, "(s32)"]
    static let atomicOps: [String?] = ["add", nil, nil, nil, "or", "and", nil, nil, nil, nil, "xor", nil, nil, nil, nil, nil]
    static let ldst = ["u32", "u16", "u8", "u64"]
    static let ldsx: [String?] = ["s32", "s16", "s8", nil]
    static let jmpOps: [String?] = ["jmp", "==", ">", ">=", "&", "!=", "s>", "s>=", "call", "exit", "<", "<=", "s<", "s<=", nil, nil]

    private static func hex2(_ v: UInt8) -> String {
        let s = String(v, radix: 16)
        return s.count < 2 ? "0" + s : s
    }
    private static func signed(_ v: Int) -> String { v >= 0 ? "+\(v)" : "\(v)" }
    /// C's "%s" of a NULL entry in the kernel's tables prints "(null)".
    private static func str(_ s: String?) -> String { s ?? "(null)" }

    /// The text of `insn` (without the newline); `next` is the following
    /// instruction, read for `ld_imm64`.
    public func text(_ insn: BPFInstruction, next: BPFInstruction?) -> String {
        let c = "(\(Self.hex2(insn.code)))"
        let cls = insn.instructionClass
        let opIndex = Int(insn.op >> 4)
        switch cls {
        case 4, 7: // ALU, ALU64
            let r: Character = cls == 4 ? "w" : "r"
            if insn.op == 0xd0 { // END
                if cls == 7 { return "\(c) r\(insn.dst) = bswap\(insn.imm) r\(insn.dst)" }
                return "\(c) r\(insn.dst) = \(insn.sourceIsRegister ? "be" : "le")\(insn.imm) r\(insn.dst)"
            }
            if insn.op == 0x80 { return "\(c) \(r)\(insn.dst) = -\(r)\(insn.dst)" }
            if insn.code == 0xbf && insn.off == 1 { // addr_space_cast
                return "\(c) r\(insn.dst) = addr_space_cast(r\(insn.src), \(UInt32(bitPattern: insn.imm) >> 16), \(UInt16(truncatingIfNeeded: insn.imm)))"
            }
            if insn.code == 0xbf && insn.off == -1 {
                return "\(c) r\(insn.dst) = &(void __percpu *)(r\(insn.src))"
            }
            let sdiv = (insn.op == 0x30 || insn.op == 0x90) && insn.off == 1
            let opText = Self.str(sdiv ? Self.aluSignOps[opIndex] : Self.aluOps[opIndex])
            if insn.sourceIsRegister {
                let isMovsx = insn.op == 0xb0 && (insn.off == 8 || insn.off == 16 || insn.off == 32)
                let sx = isMovsx ? Self.str(Self.movsx[Int(insn.off >> 3) - 1]) : ""
                return "\(c) \(r)\(insn.dst) \(opText) \(sx)\(r)\(insn.src)"
            }
            return "\(c) \(r)\(insn.dst) \(opText) \(insn.imm)"
        case 3: // STX
            let sz = Self.ldst[Int(insn.size >> 3)]
            if insn.mode == 0x60 { return "\(c) *(\(sz) *)(r\(insn.dst) \(Self.signed(Int(insn.off)))) = r\(insn.src)" }
            if insn.mode == 0xc0 {
                let imm = insn.imm
                let w = insn.size == 0x18 ? "64" : ""
                if imm == 0x00 || imm == 0x50 || imm == 0x40 || imm == 0xa0 {
                    return "\(c) lock *(\(sz) *)(r\(insn.dst) \(Self.signed(Int(insn.off)))) \(Self.str(Self.aluOps[Int((UInt32(bitPattern: imm) & 0xf0) >> 4)])) r\(insn.src)"
                }
                if imm == 0x01 || imm == 0x51 || imm == 0x41 || imm == 0xa1 {
                    return "\(c) r\(insn.src) = atomic\(w)_fetch_\(Self.str(Self.atomicOps[Int((UInt32(bitPattern: imm) & 0xf0) >> 4)]))((\(sz) *)(r\(insn.dst) \(Self.signed(Int(insn.off)))), r\(insn.src))"
                }
                if imm == 0xf1 {
                    return "\(c) r0 = atomic\(w)_cmpxchg((\(sz) *)(r\(insn.dst) \(Self.signed(Int(insn.off)))), r0, r\(insn.src))"
                }
                if imm == 0xe1 {
                    return "\(c) r\(insn.src) = atomic\(w)_xchg((\(sz) *)(r\(insn.dst) \(Self.signed(Int(insn.off)))), r\(insn.src))"
                }
            }
            return "BUG_\(Self.hex2(insn.code))"
        case 2: // ST
            if insn.mode == 0x60 {
                return "\(c) *(\(Self.ldst[Int(insn.size >> 3)]) *)(r\(insn.dst) \(Self.signed(Int(insn.off)))) = \(insn.imm)"
            }
            if insn.mode == 0xc0 { return "\(c) nospec" }
            return "BUG_st_\(Self.hex2(insn.code))"
        case 1: // LDX
            guard insn.mode == 0x60 || insn.mode == 0x80 else { return "BUG_ldx_\(Self.hex2(insn.code))" }
            let sz = insn.mode == 0x60 ? Self.ldst[Int(insn.size >> 3)] : Self.str(Self.ldsx[Int(insn.size >> 3)])
            return "\(c) r\(insn.dst) = *(\(sz) *)(r\(insn.src) \(Self.signed(Int(insn.off))))"
        case 0: // LD
            let sz = Self.ldst[Int(insn.size >> 3)]
            if insn.mode == 0x20 { return "\(c) r0 = *(\(sz) *)skb[\(insn.imm)]" }
            if insn.mode == 0x40 { return "\(c) r0 = *(\(sz) *)skb[r\(insn.src) + \(insn.imm)]" }
            if insn.mode == 0x00 && insn.size == 0x18 {
                let second = next ?? BPFInstruction(bytes: [UInt8](repeating: 0, count: 8), at: 0)
                let full = UInt64(UInt32(bitPattern: second.imm)) << 32 | UInt64(UInt32(bitPattern: insn.imm))
                return "\(c) r\(insn.dst) = \(immediate(insn, second, full))"
            }
            return "BUG_ld_\(Self.hex2(insn.code))"
        case 5, 6: // JMP, JMP32
            let r: Character = cls == 6 ? "w" : "r"
            if insn.op == 0x80 { // CALL
                if insn.src == 1 { return "\(c) call pc\(functionName(insn))" }
                return "\(c) call \(functionName(insn, fallback: "unknown"))#\(insn.imm)"
            }
            if insn.code == 0x05 { return "\(c) goto pc\(Self.signed(Int(insn.off)))" }
            if insn.code == 0xe5 && insn.src == 0 { return "\(c) may_goto pc\(Self.signed(Int(insn.off)))" }
            if insn.code == 0x06 { return "\(c) gotol pc\(Self.signed(Int(insn.imm)))" }
            if insn.code == 0x95 { return "\(c) exit" }
            if insn.sourceIsRegister {
                return "\(c) if \(r)\(insn.dst) \(Self.str(Self.jmpOps[opIndex])) \(r)\(insn.src) goto pc\(Self.signed(Int(insn.off)))"
            }
            return "\(c) if \(r)\(insn.dst) \(Self.str(Self.jmpOps[opIndex])) 0x\(String(UInt32(bitPattern: insn.imm), radix: 16)) goto pc\(Self.signed(Int(insn.off)))"
        default:
            return "\(c) \(Self.classNames[Int(cls)])"
        }
    }

    /// The kernel's __func_get_name.
    private func functionName(_ insn: BPFInstruction, fallback: String = "") -> String {
        if insn.src == 0 && insn.imm >= 0 && Int(insn.imm) < bpfHelperNames.count {
            return bpfHelperNames[Int(insn.imm)]
        }
        if let n = callName(insn) { return n }
        if insn.src == 1 { return Self.signed(Int(insn.imm)) }
        if insn.src == 2 { return "kernel-function" }
        return fallback
    }
}
