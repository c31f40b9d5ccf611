#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// `object inspect`: what an object file holds, read offline (libbpf opens
/// it without loading; nothing touches the kernel, no privilege needed):
/// its ELF sections, maps, programs, license, metadata and struct_ops maps.
public struct ObjectInspection {
    /// An ELF section of the object file: index, name, type and size.
    public struct Section: Sendable {
        public var index: Int
        public var name: String
        /// readelf's type name: PROGBITS, NOBITS, SYMTAB, REL, ...
        public var type: String
        public var size: UInt64
    }

    /// A map as libbpf sees it in the file, before load: its definition, pinning and autocreate.
    public struct Map: Sendable {
        public var name: String
        /// Its pin name in an object tree (maps/<pinName>).
        public var pinName: String
        public var type: String
        public var keySize: UInt32
        public var valueSize: UInt32
        public var maxEntries: UInt32
        public var flags: UInt32
        /// "by_name" (LIBBPF_PIN_BY_NAME) or "none".
        public var pinning: String
        /// Where a by-name map is pinned with the default pin root.
        public var pinPath: String?
        /// A map libbpf makes itself (.data, .rodata, .bss, .kconfig, .struct_ops...).
        public var isInternal: Bool
        /// Whether it is created at load (off for `SEC("?...")` struct_ops variants).
        public var autocreate: Bool
    }

    /// A program as libbpf sees it in the file, before load: section, type, size and autoload.
    public struct Program: Sendable {
        public var name: String
        public var section: String
        public var type: String
        /// libbpf's name of the expected attach type, nil when the section sets none
        /// (0, which only cgroup_skb programs mean as cgroup_inet_ingress).
        public var expectedAttachType: String?
        public var instructions: Int
        public var autoload: Bool
    }

    /// A struct_ops map of the file: its (local) type, section, whether it registers
    /// through a link, and the program in each function-pointer member.
    public struct StructOps: Sendable {
        /// The map's name (the C variable).
        public var map: String
        /// The struct type it implements ("tcp_congestion_ops").
        public var type: String
        /// The ELF section (".struct_ops", ".struct_ops.link", "?.struct_ops"...).
        public var section: String
        /// Registered through a BPF link (`.struct_ops.link`).
        public var usesLink: Bool
        public var autocreate: Bool
        /// Member name → program name, in member order.
        public var members: [(member: String, program: String)]
    }

    public var file: String
    public var size: Int
    public var sha256: String
    public var objectName: String
    public var license: String?
    /// The `version` section's kernel version, if the object has one.
    public var kernelVersion: UInt32?
    public var sections: [Section] = []
    public var maps: [Map] = []
    public var programs: [Program] = []
    public var structOps: [StructOps] = []
    /// The object's BTF.
    public var btf: BTF?
    /// The `bpf_metadata_*` variables of `.rodata` with their initial values
    /// (what `prog show` prints once the programs are loaded), nil when none.
    public var metadata: ProgramMetadata?
    // Keeps the libbpf object (and so `btf`) alive.
    private var object: BPFObject?

    /// Reads `file`. Calls `bpf_object__open_mem` on its bytes (no load).
    public static func inspect(file: String) throws(BPFError) -> ObjectInspection {
        let bytes = try readELFFileBytes(file)
        let elf = try ELFFile(bytes: bytes, path: file)
        let obj = try BPFObject.open(bytes: bytes, options: ObjectOpenOptions(objectName: objectStem(file)))
        var r = ObjectInspection(file: file, size: bytes.count, sha256: SHA256.hexDigest(bytes), objectName: obj.name)
        r.object = obj
        r.btf = obj.btf

        for s in elf.sections where s.index > 0 {
            r.sections.append(Section(index: s.index, name: s.name, type: ELFFile.typeName(s.type), size: s.size))
            if s.name == "license" {
                let c = elf.contents(s)
                r.license = String(decoding: c.prefix { $0 != 0 }, as: UTF8.self)
            } else if s.name == "version" {
                // contents(): no bytes for NOBITS, whose offset may lie anywhere.
                let c = elf.contents(s)
                if c.count >= 4 { r.kernelVersion = ELFFile.u32(Array(c.prefix(4)), 0) }
            }
        }

        for m in obj.maps {
            let pin = m.pinPath
            r.maps.append(Map(name: m.name, pinName: ObjectTreeLayout.pinName(forMap: m.name), type: m.typeName,
                              keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags,
                              pinning: pin == nil ? "none" : "by_name", pinPath: pin,
                              isInternal: m.isInternal, autocreate: m.autocreate))
        }
        for p in obj.programs {
            let raw = bpf_program__expected_attach_type(p.handle)
            let attach = raw.rawValue == 0 && p.typeName != "cgroup_skb"
                ? nil : LibbpfNames.attachType(raw.rawValue) ?? "\(raw.rawValue)"
            r.programs.append(Program(name: p.name, section: p.sectionName, type: p.typeName, expectedAttachType: attach,
                                      instructions: p.instructionCount, autoload: p.autoload))
        }

        if let btf = obj.btf {
            if let rodata = obj.maps.first(where: { $0.isInternal && $0.name.hasSuffix(".rodata") }),
               let sec = btf.find(".rodata", kind: .dataSection), let value = rodata.initialValue {
                r.metadata = ProgramMetadata.fromSection(btf: btf, sectionTypeID: sec, value: value)
            }
            r.structOps = structOpsMaps(obj, btf, elf)
        }
        return r
    }

    /// Struct_ops maps and which program fills which member, from the
    /// object's BTF (DATASEC variables and struct members) and the REL
    /// sections that point the function-pointer members at programs.
    private static func structOpsMaps(_ obj: BPFObject, _ btf: BTF, _ elf: ELFFile) -> [StructOps] {
        let symbols = elf.symbols()
        var out: [StructOps] = []
        for m in obj.maps where m.isStructOps {
            let typeName = btf.type(btf.skipModifiers(m.btfValueTypeID))?.name ?? ""
            var entry = StructOps(map: m.name, type: typeName, section: "", usesLink: m.registersWithLink,
                                  autocreate: m.autocreate, members: [])
            // Find the DATASEC (named after its ELF section) holding the variable called like the map.
            search: for id in 1..<btf.typeCount {
                guard let t = btf.type(id), t.kind == .dataSection, t.name.contains("struct_ops") else { continue }
                for v in t.sectionVariables {
                    guard let vt = btf.type(v.typeID), vt.name == m.name else { continue }
                    entry.section = t.name
                    guard let st = btf.type(btf.skipModifiers(vt.referencedType)),
                          let elfSec = elf.sections.first(where: { $0.name == t.name }) else { break search }
                    var slots: [(Int, String, String)] = []
                    for rs in elf.sections where rs.type == 9 && Int(rs.info) == elfSec.index {
                        // 64-bit arithmetic: offsets and sizes from the file may be anything.
                        for rel in elf.relocations(rs) where rel.offset >= UInt64(v.offset) && rel.offset < UInt64(v.offset) + UInt64(v.size) {
                            let moff = (rel.offset - UInt64(v.offset)) * 8
                            guard let idx = st.members.firstIndex(where: { UInt64($0.bitOffset) == moff }),
                                  Int(rel.symbolIndex) < symbols.count else { continue }
                            slots.append((idx, st.members[idx].name, symbols[Int(rel.symbolIndex)].name))
                        }
                    }
                    entry.members = slots.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
                    break search
                }
            }
            out.append(entry)
        }
        return out
    }
}
