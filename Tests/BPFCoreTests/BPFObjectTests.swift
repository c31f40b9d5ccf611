import Testing
import Foundation
import BPFCore
import TestSupport

@Suite struct BPFObjectTests {
    @Test func openListsMapsAndPrograms() throws {
        let obj = try BPFObject.open(path: try Fixtures.object("counter"))
        #expect(obj.name == "counter")
        #expect(obj.programs.map(\.name).sorted() == ["count_enter", "count_raw"])
        let maps = Set(obj.maps.map(\.name))
        #expect(maps.isSuperset(of: ["hit_map", "counter.bss", "counter.rodata"]))
        #expect(obj.map(named: "hit_map")?.typeName == "hash")
        #expect(obj.program(named: "count_enter")?.sectionName == "tracepoint/syscalls/sys_enter_getpid")
    }

    @Test func btfKeepsItsObjectAliveAndReleasesIt() throws {
        weak var weakObject: BPFObject?
        var btf: BTF? = try {
            let o = try BPFObject.open(path: try Fixtures.object("counter"))
            weakObject = o
            return try #require(o.btf)
        }()
        // The caller dropped the object; the BTF, which lives inside it, holds it.
        #expect(weakObject != nil)
        let b = try #require(btf)
        #expect(b.typeCount > 1)
        // Reading types and names reads the object's memory.
        #expect(b.find("count_enter", kind: .function) != nil)
        #expect(b.find("hit_map", kind: .variable) != nil)
        btf = nil
        _ = b.typeCount
        _ = consume b
        // The last BTF reference gone: the object closes.
        #expect(weakObject == nil)
    }

    @Test func openMissingFileNamesTheFile() {
        do {
            _ = try BPFObject.open(path: "/nonexistent/x.bpf.o")
            Issue.record("expected failure")
        } catch {
            #expect(error.description.hasPrefix("open BPF object /nonexistent/x.bpf.o: No such file"))
        }
    }

    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func loadAttachAndCount() throws {
        let obj = try BPFObject.open(path: try Fixtures.object("counter"))
        // Count only this process: set the .rodata variable before load.
        let rodata = try #require(obj.map(named: "counter.rodata"))
        var ro = try #require(rodata.initialValue)
        let btf = try #require(obj.btf)
        let sec = try #require(btf.find(".rodata", kind: .dataSection))
        let vars = try #require(btf.type(sec)).sectionVariables
        let tgidVar = try #require(vars.first { btf.type($0.typeID)?.name == "target_tgid" })
        withUnsafeBytes(of: Int32(getpid()).littleEndian) { ro.replaceSubrange(Int(tgidVar.offset)..<Int(tgidVar.offset) + 4, with: $0) }
        try rodata.setInitialValue(ro)
        try obj.load()
        var link: BPFLink? = try #require(obj.program(named: "count_enter")).attach()
        for _ in 0..<5 { _ = getpid() }
        let live = try #require(obj.map(named: "counter.bss")).mapLiveValue(writable: false)
        let bss = live.bytes
        let hits = bss.load(fromByteOffset: 0, as: UInt64.self)
        #expect(hits >= 5)
        #expect(link != nil)
        link = nil  // destroying the link detaches (perf_event links have no BPF_LINK_DETACH)
        for _ in 0..<5 { _ = getpid() }
        #expect(bss.load(fromByteOffset: 0, as: UInt64.self) == hits)
    }
}

@Suite struct ErrnoTextTests {
    @Test func kernelInternalCodesHaveText() {
        #expect(errnoText(524) == "Operation not supported (ENOTSUPP)")
        #expect(errnoText(ENOENT) == "No such file or directory")
        #expect(BPFError("dump map id 1 (rb)", errno: 524).description == "dump map id 1 (rb): Operation not supported (ENOTSUPP)")
    }
}
