#if canImport(Glibc)
import Glibc
#endif

/// The kernel's symbol table (/proc/kallsyms), sorted by address: what
/// kprobe_multi link addresses are named from. Read once per run.
struct KernelSymbols {
    struct Entry {
        var address: UInt64
        var name: String
        var module: String?
    }

    var entries: [Entry]

    private nonisolated(unsafe) static var cached: KernelSymbols??

    /// The table, or nil when it cannot be read or its addresses are hidden
    /// (kptr_restrict shows zeros).
    static func load() -> KernelSymbols? {
        if let c = cached { return c }
        let table = read()
        cached = .some(table)
        return table
    }

    private static func read() -> KernelSymbols? {
        guard let bytes = try? readFileBytes("/proc/kallsyms") else { return nil }
        var entries: [Entry] = []
        entries.reserveCapacity(bytes.count / 40)
        var lineStart = 0
        while lineStart < bytes.count {
            var end = lineStart
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            defer { lineStart = end + 1 }
            // "ffffffff81000000 T _stext" or "ffffffffc0000000 t fn\t[module]"
            let fields = bytes[lineStart..<end].split(whereSeparator: { $0 == 32 || $0 == 9 })
            guard fields.count >= 3,
                  let address = UInt64(String(decoding: fields[0], as: UTF8.self), radix: 16) else { continue }
            let name = String(decoding: fields[2], as: UTF8.self)
            if name == "__bpf_call_base" && address == 0 { return nil }
            guard address != 0 else { continue }
            var module: String? = nil
            if fields.count >= 4, fields[3].first == UInt8(ascii: "[") {
                module = String(decoding: fields[3].dropFirst().prefix { $0 != UInt8(ascii: "]") }, as: UTF8.self)
            }
            entries.append(Entry(address: address, name: name, module: module))
        }
        if entries.isEmpty { return nil }
        entries.sort { $0.address < $1.address }
        return KernelSymbols(entries: entries)
    }
}
