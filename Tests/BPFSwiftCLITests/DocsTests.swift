import Testing
import Foundation
@testable import BPFSwiftCLI
import TestSupport

/// Usage texts, man pages and completions come from the command tables; these
/// tests fail when a committed artifact has drifted from the tables.
@Suite struct DocsTests {
    @Test func manPagesAreCurrent() throws {
        let dir = TestEnv.packageRoot + "/Docs/man"
        let main = try String(contentsOfFile: dir + "/bpfswift.8", encoding: .utf8)
        #expect(main == ManPage.renderMain(CLI.groups), "Docs/man/bpfswift.8 is stale: run scripts/gen-docs")
        for g in CLI.groups {
            let page = try String(contentsOfFile: "\(dir)/bpfswift-\(g.name).8", encoding: .utf8)
            #expect(page == ManPage.render(g), "Docs/man/bpfswift-\(g.name).8 is stale: run scripts/gen-docs")
        }
    }

    @Test func manPagesRender() throws {
        for name in ["bpfswift"] + CLI.groups.map({ "bpfswift-\($0.name)" }) {
            let r = try runProcess("/usr/bin/man", ["-l", TestEnv.packageRoot + "/Docs/man/\(name).8"],
                                   environment: ["MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"])
            #expect(r.status == 0, "man -l \(name).8: \(r.stderr)")
            #expect(r.stdout.contains("NAME"))
            #expect(!r.stderr.contains("warning"), "\(name).8: \(r.stderr)")
        }
    }

    @Test func everyObjectHasUsage() {
        for g in CLI.groups {
            let r = runCLI(g.name, "help")
            #expect(r.status == 0)
            for c in g.commands {
                for u in c.usage { #expect(r.out.contains(u), "\(g.name) help lacks '\(u)'") }
            }
        }
    }
}
