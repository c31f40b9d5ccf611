#if canImport(Glibc)
import Glibc
#endif

/// The little of ELF64 that `object inspect` reads beyond libbpf's API:
/// section headers, the symbol table and REL relocations (libbpf has no
/// public call that lists sections or says which program fills which
/// struct_ops member). Read-only, bounds-checked, no allocation of the
/// sections' contents beyond what is asked for.
struct ELFFile {
    struct Section {
        let index: Int
        let name: String
        let type: UInt32
        let flags: UInt64
        let offset: UInt64
        let size: UInt64
        let link: UInt32
        let info: UInt32
        let entrySize: UInt64
    }

    struct Symbol {
        let name: String
        let info: UInt8
        let sectionIndex: UInt16
        let value: UInt64
        let size: UInt64
        var type: UInt8 { info & 0xf }
    }

    struct Relocation {
        let offset: UInt64
        let symbolIndex: UInt32
        let type: UInt32
    }

    let bytes: [UInt8]
    let sections: [Section]

    /// Parses the section headers of a little-endian ELF64 file (BPF objects from clang -target bpf).
    init(bytes: [UInt8], path: String) throws(BPFError) {
        self.bytes = bytes
        func bad(_ why: String) -> BPFError { BPFError("read ELF file \(path)", errno: EINVAL, detail: why) }
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw bad("not an ELF file")
        }
        guard bytes[4] == 2 else { throw bad("not a 64-bit ELF file") }
        guard bytes[5] == 1 else { throw bad("not a little-endian ELF file") }
        let shoff = Self.u64(bytes, 0x28), shentsize = Int(Self.u16(bytes, 0x3a))
        let shnum = Int(Self.u16(bytes, 0x3c)), shstrndx = Int(Self.u16(bytes, 0x3e))
        guard shentsize >= 64, shoff <= UInt64(bytes.count),
              UInt64(bytes.count) - shoff >= UInt64(shnum) * UInt64(shentsize), shstrndx < shnum else {
            throw bad("section headers out of bounds")
        }
        var raw: [(nameOff: UInt32, s: Section)] = []
        for i in 0..<shnum {
            let h = Int(shoff) + i * shentsize
            let s = Section(index: i, name: "", type: Self.u32(bytes, h + 4), flags: Self.u64(bytes, h + 8),
                            offset: Self.u64(bytes, h + 24), size: Self.u64(bytes, h + 32),
                            link: Self.u32(bytes, h + 40), info: Self.u32(bytes, h + 44), entrySize: Self.u64(bytes, h + 56))
            if s.type != 8 /* NOBITS */ && (s.offset > UInt64(bytes.count) || UInt64(bytes.count) - s.offset < s.size) {
                throw bad("section \(i) out of bounds")
            }
            raw.append((Self.u32(bytes, h), s))
        }
        let names = raw[shstrndx].s
        sections = raw.map { r in
            Section(index: r.s.index, name: Self.cString(bytes, table: names, Int(r.nameOff)),
                    type: r.s.type, flags: r.s.flags, offset: r.s.offset, size: r.s.size,
                    link: r.s.link, info: r.s.info, entrySize: r.s.entrySize)
        }
    }

    /// The symbols of the first SHT_SYMTAB section.
    func symbols() -> [Symbol] {
        guard let tab = sections.first(where: { $0.type == 2 }), Int(tab.link) < sections.count else { return [] }
        let str = sections[Int(tab.link)]
        var out: [Symbol] = []
        let n = Int(tab.size / 24)
        for i in 0..<n {
            let o = Int(tab.offset) + i * 24
            out.append(Symbol(name: Self.cString(bytes, table: str, Int(Self.u32(bytes, o))),
                              info: bytes[o + 4], sectionIndex: Self.u16(bytes, o + 6),
                              value: Self.u64(bytes, o + 8), size: Self.u64(bytes, o + 16)))
        }
        return out
    }

    /// The entries of a SHT_REL section.
    func relocations(_ s: Section) -> [Relocation] {
        guard s.type == 9 else { return [] }
        return (0..<Int(s.size / 16)).map { i in
            let o = Int(s.offset) + i * 16
            let info = Self.u64(bytes, o + 8)
            return Relocation(offset: Self.u64(bytes, o), symbolIndex: UInt32(info >> 32), type: UInt32(truncatingIfNeeded: info))
        }
    }

    /// The bytes of a section (empty for NOBITS).
    func contents(_ s: Section) -> ArraySlice<UInt8> {
        s.type == 8 ? [] : bytes[Int(s.offset)..<Int(s.offset + s.size)]
    }

    /// readelf's name of a section type.
    static func typeName(_ t: UInt32) -> String {
        switch t {
        case 0: return "NULL"
        case 1: return "PROGBITS"
        case 2: return "SYMTAB"
        case 3: return "STRTAB"
        case 4: return "RELA"
        case 5: return "HASH"
        case 6: return "DYNAMIC"
        case 7: return "NOTE"
        case 8: return "NOBITS"
        case 9: return "REL"
        case 0x6fff4c03: return "LLVM_ADDRSIG"
        default: return "0x" + String(t, radix: 16)
        }
    }

    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }

    /// The NUL-terminated string at `off` within the string table `table`
    /// ("" when out of range; a NOBITS table has no bytes, whatever its
    /// header says: its offset and size are not checked against the file).
    static func cString(_ b: [UInt8], table: Section, _ off: Int) -> String {
        guard table.type != 8, table.offset <= UInt64(b.count), table.size <= UInt64(b.count) - table.offset else { return "" }
        return cString(b, Int(table.offset), Int(table.size), off)
    }

    /// The NUL-terminated string at `off` within the table at `base` of `size` bytes ("" when out of range).
    static func cString(_ b: [UInt8], _ base: Int, _ size: Int, _ off: Int) -> String {
        guard off >= 0, off < size, base >= 0, size <= b.count, base <= b.count - size else { return "" }
        var end = base + off
        while end < base + size && b[end] != 0 { end += 1 }
        return String(decoding: b[(base + off)..<end], as: UTF8.self)
    }
}
