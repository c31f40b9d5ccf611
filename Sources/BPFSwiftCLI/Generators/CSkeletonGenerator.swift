import BPFCore

extension CodePrinter {
    /// A C function body: the signature line, then the body in braces on their own lines.
    mutating func function(_ signature: String, _ body: (inout CodePrinter) throws -> Void) rethrows {
        line(signature)
        line("{")
        indent()
        try body(&self)
        outdent()
        line("}")
    }
}

/// Writes a C skeleton header with bpftool's skeleton API (`NAME__open`,
/// `__open_opts`, `__load`, `__open_and_load`, `__attach`, `__detach`,
/// `__destroy`, `__elf_bytes`; `skel->maps.x`, `skel->progs.x`,
/// `skel->links.x`, `skel->struct_ops.x`, `skel->bss->y`, `skel->rodata->z`),
/// so a program written against `bpftool gen skeleton` compiles against it
/// unchanged. It drives libbpf's bpf_object_skeleton API, as bpftool's does;
/// with libbpf older than 1.5 it also registers struct_ops maps itself.
struct CSkeletonGenerator {
    let model: SkeletonModel
    /// The C identifier ("counter_bpf"): struct name, function prefix and object name.
    let name: String

    /// Marker lines around the embedded object, so tests can normalise it.
    /// The object as bpftool writes it: string literal lines of 32 bytes,
    /// `\0` for zero and `\xHH` for others, the last ending in `;`, each
    /// line newline-terminated, appended to `out` as bytes (formatting each
    /// byte as a String was half of `gen skeleton --lang c`'s instructions,
    /// and a String per line a third of its heap).
    static func appendBlobLiteral(_ bytes: [UInt8], to out: inout [UInt8]) {
        let size = blobLiteralSize(bytes)
        let start = out.count
        // Grown to its final length at once, then filled through a pointer:
        // appending byte by byte checked capacity and uniqueness each time
        // (~65 instructions a byte of the object).
        out.append(contentsOf: repeatElement(0, count: size))
        func hex(_ d: UInt8) -> UInt32 { UInt32(d < 10 ? 48 + d : 87 + d) }
        out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { src in
                var w = o.baseAddress! + start
                var i = 0
                repeat {
                    let end = min(i + 32, src.count)
                    w[0] = 9; w[1] = 9; w[2] = 34   // \t\t"
                    w += 3
                    for j in i..<end {
                        let b = src[j]
                        if b == 0 {
                            UnsafeMutableRawPointer(w).storeBytes(of: UInt16(littleEndian: 0x305c), as: UInt16.self)  // \0
                            w += 2
                        } else {
                            let x: UInt32 = 0x785c | hex(b >> 4) << 16 | hex(b & 15) << 24  // \xHH
                            UnsafeMutableRawPointer(w).storeBytes(of: UInt32(littleEndian: x), as: UInt32.self)
                            w += 4
                        }
                    }
                    w[0] = 34
                    w += 1
                    if end == src.count { w[0] = 59; w += 1 }
                    w[0] = 10
                    w += 1
                    i = end
                } while i < src.count
                precondition(w == o.baseAddress! + start + size, "blob literal size")
            }
        }
    }

    /// The length of `appendBlobLiteral`'s text for `bytes`.
    static func blobLiteralSize(_ bytes: [UInt8]) -> Int {
        // Zero bytes counted eight at a time: after the add, a byte's top
        // bit is clear exactly when the byte (and so its low seven bits) was 0.
        let zeros = bytes.withUnsafeBytes { raw in
            let low: UInt64 = 0x7f7f_7f7f_7f7f_7f7f
            var z = 0
            var i = 0
            while i + 8 <= raw.count {
                let x = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                z += (~(((x & low) &+ low) | x | low)).nonzeroBitCount
                i += 8
            }
            while i < raw.count {
                if raw[i] == 0 { z += 1 }
                i += 1
            }
            return z
        }
        let lines = max(1, (bytes.count + 31) / 32)
        return 2 * zeros + 4 * (bytes.count - zeros) + 5 * lines + 1
    }

    static let blobStart = "\tstatic const char data[] __attribute__((__aligned__(8))) ="
    static let blobEnd = "\t*sz = sizeof(data) - 1;"

    func generate() throws -> String {
        String(decoding: try generateBytes(), as: UTF8.self)
    }

    /// The header as UTF-8 bytes.
    func generateBytes() throws -> [UInt8] {
        do {
            return try render()
        } catch let e as CannotExpress {
            throw BPFError("generate skeleton for \(model.fileName): \(e.message)")
        }
    }

    private func checkDistinct(_ names: [String], _ scope: String) throws {
        var seen: Set<String> = []
        for n in names where !seen.insert(n).inserted {
            throw CannotExpress("two \(scope) are both named \(n) in the skeleton")
        }
    }

    /// C identifiers for the object's names, one per map (by name) and program
    /// (by index): sanitized, distinct, no keywords (a name from the object may
    /// hold any bytes); the strings libbpf matches stay the exact names.
    private struct Idents {
        var maps: [String: String] = [:]
        var progs: [String] = []
    }

    private func render() throws -> [UInt8] {
        let maps = model.maps
        let progs = model.programs
        let structOps = model.structOpsMaps
        let sections = model.sections
        var ids = Idents()
        let mapIDs = try GeneratedText.uniqueIdentifiers(maps.map(\.ident), base: GeneratedText.cIdentifier,
                                                         scope: "maps", language: "the skeleton")
        for (m, id) in zip(maps, mapIDs) { ids.maps[m.name] = id }
        ids.progs = try GeneratedText.uniqueIdentifiers(progs.map(\.name), base: GeneratedText.cIdentifier,
                                                        scope: "programs", language: "the skeleton")
        try checkDistinct(ids.progs + structOps.map { ids.maps[$0.name]! }, "links (programs and struct_ops maps)")
        return try render(maps: maps, progs: progs, structOps: structOps, sections: sections, ids: ids)
    }

    private func render(maps: [SkeletonModel.Map], progs: [SkeletonModel.Program], structOps: [SkeletonModel.Map],
                        sections: [SkeletonModel.Section], ids: Idents) throws -> [UInt8] {
        func mid(_ m: SkeletonModel.Map) -> String { ids.maps[m.name]! }
        func sid(_ s: SkeletonModel.Section) -> String { ids.maps[s.mapName] ?? GeneratedText.cIdentifier(s.ident) }
        let guardName = "__\(name.uppercased())_SKEL_H__"
        let mapLinks = "\(name.uppercased())__LIBBPF_MAP_LINKS"

        // The embedded object is most of the header; the rest is about 4 KB
        // and a few hundred bytes a map or program.
        let rest = 8192 + 512 * (maps.count + progs.count) + 2048 * structOps.count
        // The sections' variable names, found once for their structs and the size checks.
        var sectionVarIDs: [[String]] = []
        var p = CodePrinter(indentUnit: "\t", capacity: CSkeletonGenerator.blobLiteralSize(model.elf) + rest)
        p.line("/* generated by bpfswift; do not edit */")
        p.line("/* C skeleton of \(GeneratedText.cComment(model.fileName)) (bpfswift gen skeleton --lang c), with bpftool's skeleton API */")
        p.line("#ifndef \(guardName)")
        p.line("#define \(guardName)")
        p.line()
        p.line("#include <errno.h>")
        p.line("#include <stdlib.h>")
        p.line("#include <bpf/libbpf.h>")
        p.line()
        p.line("#define BPF_SKEL_SUPPORTS_MAP_AUTO_ATTACH 1")
        if !structOps.isEmpty {
            p.line()
            p.line("/* libbpf 1.5 and later register struct_ops maps in bpf_object__attach_skeleton();")
            p.line(" * with older ones the attach/detach functions below do it. */")
            p.line("#if LIBBPF_MAJOR_VERSION > 1 || (LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION >= 5)")
            p.line("#define \(mapLinks) 1")
            p.line("#else")
            p.line("#define \(mapLinks) 0")
            p.line("#endif")
        }
        p.line()

        // The skeleton struct.
        try p.block("struct \(name) {", close: "};") { p in
            p.line("struct bpf_object_skeleton *skeleton;")
            p.line("struct bpf_object *obj;")
            if !maps.isEmpty {
                p.block("struct {", close: "} maps;") { p in
                    for m in maps { p.line("struct bpf_map *\(mid(m));") }
                }
            }
            if !structOps.isEmpty {
                try p.block("struct {", close: "} struct_ops;") { p in
                    for m in structOps { try structOpsShadow(m, ident: mid(m), &p) }
                }
            }
            if !progs.isEmpty {
                p.block("struct {", close: "} progs;") { p in
                    for id in ids.progs { p.line("struct bpf_program *\(id);") }
                }
            }
            if !progs.isEmpty || !structOps.isEmpty {
                p.block("struct {", close: "} links;") { p in
                    for id in ids.progs { p.line("struct bpf_link *\(id);") }
                    for m in structOps { p.line("struct bpf_link *\(mid(m));") }
                }
            }
            if model.btf != nil {
                for s in sections { sectionVarIDs.append(try sectionStruct(s, ident: sid(s), &p)) }
            }
            p.line()
            p.raw("#ifdef __cplusplus")
            p.line("static inline struct \(name) *open(const struct bpf_object_open_opts *opts = nullptr);")
            p.line("static inline struct \(name) *open_and_load();")
            p.line("static inline int load(struct \(name) *skel);")
            p.line("static inline int attach(struct \(name) *skel);")
            p.line("static inline void detach(struct \(name) *skel);")
            p.line("static inline void destroy(struct \(name) *skel);")
            p.line("static inline const void *elf_bytes(size_t *sz);")
            p.raw("#endif /* __cplusplus */")
        }
        p.line()

        // destroy: struct_ops links before the object, whose map fds they use.
        p.line("static void")
        p.function("\(name)__destroy(struct \(name) *obj)") { p in
            p.line("if (!obj)")
            p.line("\treturn;")
            destroyStructOpsLinks(structOps.map(mid), unless: mapLinks, &p)
            p.line("if (obj->skeleton)")
            p.line("\tbpf_object__destroy_skeleton(obj->skeleton);")
            p.line("free(obj);")
        }
        p.line()
        p.line("static inline int")
        p.line("\(name)__create_skeleton(struct \(name) *obj);")
        p.line()

        // open
        p.line("static inline struct \(name) *")
        p.function("\(name)__open_opts(const struct bpf_object_open_opts *opts)") { p in
            p.line("struct \(name) *obj;")
            p.line("int err;")
            p.line()
            p.line("obj = (struct \(name) *)calloc(1, sizeof(*obj));")
            p.block("if (!obj) {") { p in
                p.line("errno = ENOMEM;")
                p.line("return NULL;")
            }
            p.line("err = \(name)__create_skeleton(obj);")
            p.line("if (!err)")
            p.line("\terr = bpf_object__open_skeleton(obj->skeleton, opts);")
            p.block("if (err) {") { p in
                p.line("\(name)__destroy(obj);")
                p.line("errno = -err;")
                p.line("return NULL;")
            }
            for m in structOps {
                p.line("obj->struct_ops.\(mid(m)) = (__typeof__(obj->struct_ops.\(mid(m))))")
                p.line("\tbpf_map__initial_value(obj->maps.\(mid(m)), NULL);")
            }
            p.line("return obj;")
        }
        p.line()
        p.line("static inline struct \(name) *")
        p.function("\(name)__open(void)") { p in
            p.line("return \(name)__open_opts(NULL);")
        }
        p.line()
        p.line("static inline int")
        p.function("\(name)__load(struct \(name) *obj)") { p in
            p.line("return bpf_object__load_skeleton(obj->skeleton);")
        }
        p.line()
        p.line("static inline struct \(name) *")
        p.function("\(name)__open_and_load(void)") { p in
            p.line("struct \(name) *obj;")
            p.line("int err;")
            p.line()
            p.line("obj = \(name)__open();")
            p.line("if (!obj)")
            p.line("\treturn NULL;")
            p.line("err = \(name)__load(obj);")
            p.block("if (err) {") { p in
                p.line("\(name)__destroy(obj);")
                p.line("errno = -err;")
                p.line("return NULL;")
            }
            p.line("return obj;")
        }
        p.line()
        p.line("static inline int")
        p.function("\(name)__attach(struct \(name) *obj)") { p in
            if structOps.isEmpty {
                p.line("return bpf_object__attach_skeleton(obj->skeleton);")
            } else {
                p.line("int err;")
                p.line()
                p.line("err = bpf_object__attach_skeleton(obj->skeleton);")
                p.line("if (err)")
                p.line("\treturn err;")
                p.raw("#if !\(mapLinks)")
                for m in structOps {
                    p.block("if (!obj->links.\(mid(m)) && bpf_map__autocreate(obj->maps.\(mid(m)))) {") { p in
                        p.line("obj->links.\(mid(m)) = bpf_map__attach_struct_ops(obj->maps.\(mid(m)));")
                        p.line("if (!obj->links.\(mid(m)))")
                        p.line("\treturn -errno;")
                    }
                }
                p.raw("#endif")
                p.line("return 0;")
            }
        }
        p.line()
        p.line("static inline void")
        p.function("\(name)__detach(struct \(name) *obj)") { p in
            p.line("bpf_object__detach_skeleton(obj->skeleton);")
            destroyStructOpsLinks(structOps.map(mid), unless: mapLinks, &p)
        }
        p.line()
        p.line("static inline const void *\(name)__elf_bytes(size_t *sz);")
        p.line()

        // create_skeleton: tells libbpf where the maps, programs, links and mmaped sections go.
        p.line("static inline int")
        p.function("\(name)__create_skeleton(struct \(name) *obj)") { p in
            p.line("struct bpf_object_skeleton *s;")
            p.line()
            p.line("s = (struct bpf_object_skeleton *)calloc(1, sizeof(*s));")
            p.line("if (!s)")
            p.line("\treturn -ENOMEM;")
            p.line("s->sz = sizeof(*s);")
            p.line("s->name = \"\(name)\";")
            p.line("s->obj = &obj->obj;")
            if !maps.isEmpty {
                p.line()
                p.line("s->map_cnt = \(maps.count);")
                p.line("s->map_skel_sz = sizeof(*s->maps);")
                p.line("s->maps = (struct bpf_map_skeleton *)calloc(s->map_cnt, s->map_skel_sz);")
                p.line("if (!s->maps)")
                p.line("\tgoto err_nomem;")
                for (i, m) in maps.enumerated() {
                    p.line("s->maps[\(i)].name = \(GeneratedText.cString(m.name));")
                    p.line("s->maps[\(i)].map = &obj->maps.\(mid(m));")
                    if m.section != nil {
                        p.line("s->maps[\(i)].mmaped = (void **)&obj->\(mid(m));")
                    }
                    if m.isStructOps {
                        p.raw("#if \(mapLinks)")
                        p.line("s->maps[\(i)].link = &obj->links.\(mid(m));")
                        p.raw("#endif")
                    }
                }
            }
            if !progs.isEmpty {
                p.line()
                p.line("s->prog_cnt = \(progs.count);")
                p.line("s->prog_skel_sz = sizeof(*s->progs);")
                p.line("s->progs = (struct bpf_prog_skeleton *)calloc(s->prog_cnt, s->prog_skel_sz);")
                p.line("if (!s->progs)")
                p.line("\tgoto err_nomem;")
                for (i, prog) in progs.enumerated() {
                    p.line("s->progs[\(i)].name = \(GeneratedText.cString(prog.name));")
                    p.line("s->progs[\(i)].prog = &obj->progs.\(ids.progs[i]);")
                    p.line("s->progs[\(i)].link = &obj->links.\(ids.progs[i]);")
                }
            }
            p.line()
            p.line("s->data = \(name)__elf_bytes(&s->data_sz);")
            p.line("obj->skeleton = s;")
            p.line("return 0;")
            if !maps.isEmpty || !progs.isEmpty {
                p.outdent()
                p.line("err_nomem:")
                p.indent()
                p.line("bpf_object__destroy_skeleton(s);")
                p.line("return -ENOMEM;")
            }
        }
        p.line()

        // The embedded object.
        p.line("static inline const void *\(name)__elf_bytes(size_t *sz)")
        p.line("{")
        p.raw(CSkeletonGenerator.blobStart)
        p.rawASCIILines { CSkeletonGenerator.appendBlobLiteral(model.elf, to: &$0) }
        p.raw(CSkeletonGenerator.blobEnd)
        p.line("\treturn (const void *)data;")
        p.line("}")
        p.line()

        p.raw("#ifdef __cplusplus")
        p.line("struct \(name) *\(name)::open(const struct bpf_object_open_opts *opts) { return \(name)__open_opts(opts); }")
        p.line("struct \(name) *\(name)::open_and_load() { return \(name)__open_and_load(); }")
        p.line("int \(name)::load(struct \(name) *skel) { return \(name)__load(skel); }")
        p.line("int \(name)::attach(struct \(name) *skel) { return \(name)__attach(skel); }")
        p.line("void \(name)::detach(struct \(name) *skel) { \(name)__detach(skel); }")
        p.line("void \(name)::destroy(struct \(name) *skel) { \(name)__destroy(skel); }")
        p.line("const void *\(name)::elf_bytes(size_t *sz) { return \(name)__elf_bytes(sz); }")
        p.raw("#endif /* __cplusplus */")
        p.line()

        // Size checks of the section members against BTF.
        if let btf = model.btf {
            p.line("__attribute__((unused)) static void")
            p.function("\(name)__assert(struct \(name) *s __attribute__((unused)))") { p in
                p.raw("#ifdef __cplusplus")
                p.raw("#define _Static_assert static_assert")
                p.raw("#endif")
                for (s, varIDs) in zip(sections, sectionVarIDs) {
                    for (v, id) in zip(s.variables, varIDs) {
                        guard let size = btf.sizeOf(v.typeID) else { continue }
                        p.line("_Static_assert(sizeof(s->\(sid(s))->\(id)) == \(size), \"unexpected size of '\(id)'\");")
                    }
                }
                p.raw("#ifdef __cplusplus")
                p.raw("#undef _Static_assert")
                p.raw("#endif")
            }
            p.line()
        }
        p.line("#endif /* \(guardName) */")
        return p.bytes
    }

    /// `struct NAME__IDENT { ... } *IDENT;`: the section's variables at their
    /// BTF offsets. Alignment is taken as at most 4 (as bpftool does, for
    /// 32-bit hosts), so explicit padding keeps the offsets right anywhere.
    /// Without libbpf's map links (`mapLinks` 0), the skeleton registered its
    /// struct_ops maps itself: destroy and forget those links (in destroy and detach).
    private func destroyStructOpsLinks(_ structOps: [String], unless mapLinks: String, _ p: inout CodePrinter) {
        guard !structOps.isEmpty else { return }
        p.raw("#if !\(mapLinks)")
        for id in structOps {
            p.line("bpf_link__destroy(obj->links.\(id));")
            p.line("obj->links.\(id) = NULL;")
        }
        p.raw("#endif")
    }

    /// The C names of a section's variables: sanitized and distinct.
    private func variableIdents(_ s: SkeletonModel.Section) throws -> [String] {
        try GeneratedText.uniqueIdentifiers(s.variables.map(\.name), base: GeneratedText.cIdentifier,
                                            scope: "variables of \(s.mapName)", language: "the skeleton")
    }

    /// Refuses a type whose C declaration would need a name that is no C
    /// identifier: libbpf's btf_dump writes type, member and enumerator names
    /// as they are, and a name from a hostile object could end the header's
    /// declarations (`}; ...`) or open a comment.
    private func checkCNames(_ id: UInt32, _ btf: BTF, _ seen: inout Set<UInt32>) throws {
        guard seen.insert(id).inserted, seen.count < 4096, let t = btf.type(id) else { return }
        // Identifiers only; a keyword as a type name is left to the compiler
        // (vmlinux.h's `typedef _Bool bool;`).
        func check(_ n: String, _ what: String) throws {
            if !n.isEmpty && !SkeletonNaming.isIdentifier(n) {
                throw CannotExpress("\(what) '\(n)' is not a C identifier; no C declaration can name it")
            }
        }
        switch t.kind {
        case .structure, .union, .enumeration, .enum64, .typedef, .fwd:
            try check(t.name, "type name")
        default: break
        }
        for m in t.members { try check(m.name, "member name"); try checkCNames(m.typeID, btf, &seen) }
        for e in t.enumerators { try check(e.name, "enumerator name") }
        switch t.kind {
        case .array: try checkCNames(t.arrayElementType, btf, &seen)
        case .ptr, .typedef, .volatile, .const, .restrict, .typeTag: try checkCNames(t.referencedType, btf, &seen)
        default: break
        }
    }

    private func checkedCDeclaration(_ btf: BTF, of typeID: UInt32, name: String, indentLevel: Int,
                                     stripModifiers: Bool = true) throws -> String {
        var seen: Set<UInt32> = []
        try checkCNames(typeID, btf, &seen)
        return try btf.cDeclaration(of: typeID, name: name, indentLevel: indentLevel, stripModifiers: stripModifiers)
    }

    /// Returns the C names of the section's variables (`variableIdents`).
    private func sectionStruct(_ s: SkeletonModel.Section, ident: String, _ p: inout CodePrinter) throws -> [String] {
        guard let btf = model.btf else { return [] }
        let varIDs = try variableIdents(s)
        p.line("struct \(name)__\(ident) {")
        p.indent()
        var off = 0
        var pads = 0
        for (v, vid) in zip(s.variables, varIDs) {
            if off > v.offset {
                throw CannotExpress("variable \(v.name) of \(s.mapName) at offset \(v.offset) overlaps the one before")
            }
            guard let a = btf.alignOf(v.typeID) else {
                throw CannotExpress("cannot find the alignment of variable \(v.name)")
            }
            let align = min(a, 4)
            let aligned = (off + align - 1) / align * align
            if aligned != v.offset {
                p.line("char __pad\(pads)[\(v.offset - off)];")
                pads += 1
            }
            let decl = try checkedCDeclaration(btf, of: v.typeID, name: vid, indentLevel: 2,
                                               stripModifiers: s.ident != "kconfig")
            p.line(decl + ";")
            off = v.offset + v.size
        }
        p.outdent()
        p.line("} *\(ident);")
        return varIDs
    }

    /// The shadow type of a struct_ops map, as bpftool lays it out: scalar
    /// members typed, function pointers as the programs in their slots,
    /// anything else opaque bytes.
    private func structOpsShadow(_ m: SkeletonModel.Map, ident: String, _ p: inout CodePrinter) throws {
        guard let btf = model.btf, let t = btf.type(m.valueTypeID), t.kind == .structure else {
            throw CannotExpress("struct_ops map \(m.name) has no BTF struct type")
        }
        let memberIDs = try GeneratedText.uniqueIdentifiers(
            t.members.enumerated().map { i, mem in mem.name.isEmpty ? "__anon_\(i)" : mem.name },
            base: GeneratedText.cIdentifier, scope: "members of struct \(t.name)", language: "the skeleton")
        p.line("struct \(name)__\(ident)__\(GeneratedText.cIdentifier(t.name)) {")
        p.indent()
        var next = 0
        for (i, mem) in t.members.enumerated() {
            let memID = memberIDs[i]
            let off = Int(mem.bitOffset / 8)
            if next < off {
                p.line("char __padding_\(i)[\(off - next)];")
            }
            let target = btf.skipModifiers(mem.typeID)
            let mt = btf.type(target)
            switch mt?.kind {
            case .int?, .float?, .enumeration?, .enum64?:
                let decl = try checkedCDeclaration(btf, of: target, name: memID, indentLevel: 3)
                p.line(decl + ";")
                guard let size = btf.sizeOf(target) else { throw CannotExpress("size of \(t.name).\(mem.name)") }
                next = off + size
            case .ptr? where btf.type(btf.skipModifiers(mt!.referencedType))?.kind == .functionProto:
                p.line("struct bpf_program *\(memID);")
                next = off + 8
            default:
                guard let size = btf.sizeOf(mem.typeID) else { throw CannotExpress("size of \(t.name).\(mem.name)") }
                p.line("char __unsupported_\(i)[\(size)];")
                next = off + size
            }
        }
        if next < Int(t.size) {
            p.line("char __padding_end[\(Int(t.size) - next)];")
        }
        p.outdent()
        p.line("} *\(ident);")
    }
}
