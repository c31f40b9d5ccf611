/// DWARF out of a BPF object, BTF kept: what a skeleton embeds. libbpf
/// needs .BTF and .BTF.ext (and their relocations), never .debug_*; with
/// `clang -g` the DWARF is most of the file.
public enum ELFDebugStrip {
    /// `bytes` without its `.debug_*` sections and the relocation sections
    /// that apply to them, rewritten: the kept sections in their order, the
    /// section header table after them, section indices (e_shstrndx,
    /// sh_link, sh_info of relocation sections, st_shndx of symbols) mapped
    /// to the new numbering. Symbols of removed sections (the section symbols
    /// that only DWARF relocations use) become null symbols, so symbol
    /// indices, which relocations hold, do not change. Anything this does not
    /// handle (not a little-endian ELF64 relocatable file, program headers,
    /// extended section numbering, nothing to strip) comes back unchanged.
    public static func strippingDebugSections(_ bytes: [UInt8]) -> [UInt8] {
        guard let elf = try? ELFFile(bytes: bytes, path: "object"),
              ELFFile.u16(bytes, 0x10) == 1,       // ET_REL
              ELFFile.u16(bytes, 0x38) == 0,       // no program headers
              elf.sections.count < 0xff00 else { return bytes }
        let sections = elf.sections
        let shstrndx = Int(ELFFile.u16(bytes, 0x3e))
        let isRel: (ELFFile.Section) -> Bool = { $0.type == 9 || $0.type == 4 }
        var drop = sections.map { $0.index != 0 && $0.name.hasPrefix(".debug_") }
        for s in sections where isRel(s) && Int(s.info) < sections.count && drop[Int(s.info)] { drop[s.index] = true }
        guard drop.contains(true), !drop[shstrndx] else { return bytes }
        // A section that links to a removed one (other than a relocation section of it) keeps the file as it is.
        for s in sections where !drop[s.index] && s.link != 0 && (Int(s.link) >= sections.count || drop[Int(s.link)]) {
            return bytes
        }

        var newIndex = [Int](repeating: 0, count: sections.count)
        var next = 0
        for s in sections where !drop[s.index] { newIndex[s.index] = next; next += 1 }

        var out = Array(bytes[0..<64])
        var headers: [[UInt8]] = []
        let shoff = Int(ELFFile.u64(bytes, 0x28)), shentsize = Int(ELFFile.u16(bytes, 0x3a))
        for s in sections where !drop[s.index] {
            var h = Array(bytes[(shoff + s.index * shentsize)..<(shoff + s.index * shentsize + 64)])
            if s.index != 0 {
                var data = Array(elf.contents(s))
                if s.type == 2 || s.type == 11 {  // SYMTAB, DYNSYM: st_shndx of each symbol
                    let n = data.count / 24
                    for i in 0..<n {
                        let o = i * 24
                        let shndx = Int(ELFFile.u16(data, o + 6))
                        guard shndx != 0 && shndx < 0xff00 else { continue }
                        if shndx >= sections.count || drop[shndx] {
                            for k in o..<o + 24 { data[k] = 0 }
                        } else {
                            put16(&data, o + 6, UInt16(newIndex[shndx]))
                        }
                    }
                }
                let align = max(1, min(Int(ELFFile.u64(h, 48)), 4096))
                if s.type != 8 {  // NOBITS has no bytes in the file
                    while out.count % align != 0 { out.append(0) }
                    put64(&h, 24, UInt64(out.count))
                    out += data
                } else {
                    put64(&h, 24, UInt64(out.count))
                }
                if s.link != 0 { put32(&h, 40, UInt32(newIndex[Int(s.link)])) }
                // sh_info is a section index for relocation sections and with SHF_INFO_LINK.
                if (isRel(s) || s.flags & 0x40 != 0) && Int(s.info) < sections.count {
                    put32(&h, 44, UInt32(newIndex[Int(s.info)]))
                }
            }
            headers.append(h)
        }
        while out.count % 8 != 0 { out.append(0) }
        put64(&out, 0x28, UInt64(out.count))
        put16(&out, 0x3a, 64)
        put16(&out, 0x3c, UInt16(headers.count))
        put16(&out, 0x3e, UInt16(newIndex[shstrndx]))
        for h in headers { out += h }
        return out
    }

    private static func put16(_ b: inout [UInt8], _ o: Int, _ v: UInt16) {
        for i in 0..<2 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt16(i))) }
    }

    private static func put32(_ b: inout [UInt8], _ o: Int, _ v: UInt32) {
        for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }

    private static func put64(_ b: inout [UInt8], _ o: Int, _ v: UInt64) {
        for i in 0..<8 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }
}
