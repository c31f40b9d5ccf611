import Testing
import Foundation
import BPFCore
import TestSupport

/// The vmlinux.h the BPFSkeleton plugin generates (libbpf's btf_dump) against
/// the one bpftool writes from the same BTF: the same named types, every
/// record under CO-RE's preserve_access_index, and a header clang accepts.
@Suite struct BTFCHeaderTests {
    /// "struct task_struct", "union bpf_attr", "enum bpf_map_type", "typedef ... u32;" names.
    static func definitions(_ text: String) -> Set<String> {
        var out = Set<String>()
        for line in text.split(separator: "\n") where !line.hasPrefix("\t") {
            for kind in ["struct ", "union ", "enum "] where line.hasPrefix(kind) && line.hasSuffix(" {") {
                out.insert(String(line.dropLast(2)))
            }
            if line.hasPrefix("typedef "), line.hasSuffix(";"), let last = line.split(separator: " ").last {
                // libbpf before 1.5 writes a prototype without parameters as
                // "()", bpftool 7.5's libbpf as "(void)": the same type.
                out.insert("typedef " + last.replacingOccurrences(of: "(void)", with: "()")
                    .trimmingCharacters(in: CharacterSet(charactersIn: ";*")))
            }
        }
        return out
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") || TestEnv.inCI))
    func sameTypesAsBpftool() throws {
        let ours = String(decoding: try BTF.vmlinux().cHeader(), as: UTF8.self)
        let theirs = try Bpftool.run(["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"])
        try #require(theirs.status == 0, "bpftool: \(theirs.stderr)")
        let mine = Self.definitions(ours), reference = Self.definitions(theirs.stdout)
        #expect(reference.count > 1000)
        let onlyBpftool = reference.subtracting(mine).sorted().prefix(5)
        let onlyOurs = mine.subtracting(reference).sorted().prefix(5)
        #expect(onlyBpftool.isEmpty && onlyOurs.isEmpty, "only bpftool: \(Array(onlyBpftool)); only ours: \(Array(onlyOurs))")
        #expect(ours.hasPrefix("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n"))
        #expect(ours.contains("#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)"))
        #expect(ours.hasSuffix("#endif /* __VMLINUX_H__ */\n"))
    }
}
