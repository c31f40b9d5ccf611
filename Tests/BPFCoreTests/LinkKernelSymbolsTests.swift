import Foundation
import Testing
@testable import BPFCore
import TestSupport

/// The kallsyms table kprobe_multi links are named from (no kprobe_multi link
/// can be made on the test kernel: CONFIG_KPROBES is off).
@Suite struct LinkKernelSymbolsTests {
    @Test(.enabled(if: TestEnv.kernelTestsEnabled)) func readsAndSortsKallsyms() throws {
        let table = try #require(KernelSymbols.load(), "kallsyms unreadable or hidden")
        #expect(table.entries.count > 1000)
        #expect(zip(table.entries, table.entries.dropFirst()).allSatisfy { $0.address <= $1.address })
        // A vmlinux symbol: same address as kallsyms says, no module.
        let text = try String(contentsOfFile: "/proc/kallsyms", encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasSuffix(" _stext") })
        let address = try #require(UInt64(line.prefix { $0 != " " }, radix: 16))
        let stext = try #require(table.entries.first { $0.name == "_stext" })
        #expect(stext.address == address && stext.module == nil)
        // Module symbols carry the name inside the brackets.
        if let moduleLine = text.split(separator: "\n").first(where: { $0.hasSuffix("]") }) {
            let name = String(moduleLine.split(whereSeparator: { $0 == " " || $0 == "\t" })[2])
            let module = String(moduleLine[moduleLine.index(after: moduleLine.lastIndex(of: "[")!)...].dropLast())
            #expect(table.entries.contains { $0.name == name && $0.module == module })
        }
    }
}
