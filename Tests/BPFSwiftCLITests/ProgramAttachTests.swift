import Testing
import Foundation
@testable import BPFCore
import TestSupport

/// lib_attach.bpf.c loaded through the skeleton runtime, counting hits of
/// this process into `struct hits` in .bss.
final class AttachFixture {
    let skeleton: BPFSkeleton
    let bss: SkeletonGlobals

    enum Counter: Int {
        case uprobe, uretprobe, tp, raw, b, xdp, tcx, cgroup, perf, iter, nf, uretprobeReturn
    }

    init() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Fixtures.object("lib_attach"))))
        skeleton = try BPFSkeleton(elf: bytes, objectName: "lib_attach", source: "lib_attach.bpf.o")
        let ro = try skeleton.globals("lib_atta.rodata", access: .writableUntilLoad)
        ro.store(UInt32(getpid()), at: 0, UInt32.btfCodec, name: "target_tgid")
        bss = try skeleton.globals("lib_atta.bss", access: .writable)
        try skeleton.load()
    }

    func program(_ name: String) throws -> ObjectProgram { try skeleton.program(name) }
    func count(_ c: Counter) -> UInt64 { bss.load(at: c.rawValue * 8, UInt64.btfCodec) }
}

/// The path of the C library this process runs with.
func libcPath() throws -> String {
    let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
    for line in maps.split(separator: "\n") {
        if let path = line.split(separator: " ", omittingEmptySubsequences: true).last, path.hasSuffix("/libc.so.6") {
            return String(path)
        }
    }
    for candidate in ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6"]
    where FileManager.default.fileExists(atPath: candidate) {
        return candidate
    }
    throw TestFailure("libc.so.6 is not mapped")
}

@Suite(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (run scripts/setup)"))
struct ProgramAttachTests {
    @Test func uprobeAndUretprobeOnALibcFunctionThisTestCalls() throws {
        let f = try AttachFixture()
        let libc = try libcPath()
        let entry = try f.program("on_uprobe").attachUprobe(binary: libc, function: "getpgid", pid: getpid())
        let exit = try f.program("on_uretprobe").attachUprobe(binary: libc, function: "getpgid", pid: nil, retprobe: true)
        var pgid: pid_t = 0
        for _ in 0..<5 { pgid = getpgid(0) }
        #expect(f.count(.uprobe) >= 5)
        #expect(f.count(.uretprobe) >= 5)
        #expect(Int64(bitPattern: f.count(.uretprobeReturn)) == Int64(pgid))
        let info = try entry.info()
        #expect(info.type == .perfEvent, "\(info.type)")
        #expect(try exit.info().type == .perfEvent)
        // Destroying the link detaches: no more hits.
        _ = consume entry
        let before = f.count(.uprobe)
        _ = getpgid(0)
        #expect(f.count(.uprobe) == before)

        // By offset: the symbol's file offset, as `nm -D` and the ELF give it.
        #expect { _ = try f.program("on_uprobe").attachUprobe(binary: libc, offset: -1) } throws: { e in
            "\(e)".contains("negative offset")
        }
    }

    @Test func tracepointAndRawTracepointByName() throws {
        let f = try AttachFixture()
        let tp = try f.program("on_tp").attachTracepoint(category: "syscalls", name: "sys_enter_getppid")
        let raw = try f.program("on_raw").attachRawTracepoint(name: "sys_enter")
        for _ in 0..<3 { _ = getppid() }
        #expect(f.count(.tp) >= 3)
        #expect(f.count(.raw) >= 3)
        #expect(try raw.info().type == .rawTracepoint)
        // Links of perf events cannot change program: one clear error.
        #expect { try tp.update(program: try f.program("on_tp_b")) } throws: { e in
            "\(e)".hasPrefix("update link ") && "\(e)".contains("to program on_tp_b")
        }
        try tp.detach()
        // Other threads of this process may call getppid meanwhile: 50 calls
        // of this one must not all count.
        let before = f.count(.tp)
        for _ in 0..<50 { _ = getppid() }
        #expect(f.count(.tp) < before + 50, "detached")
    }

    @Test func xdpWithModeUpdateAndTCXOnADeviceOfAFreshNamespace() throws {
        let f = try AttachFixture()
        let ns = try TestNetns("libxdp")
        let xdp = try ns.run { try f.program("on_xdp").attachXDP(interface: "lo", mode: .generic) }
        let tcx = try ns.run { try f.program("on_tcx").attachTCX(interface: "lo", direction: .ingress) }
        try ns.sendDatagram()
        #expect(f.count(.xdp) > 0)
        #expect(f.count(.tcx) > 0)
        let info = try xdp.info()
        #expect(info.type == .xdp)
        #expect(try tcx.info().type == .tcx)
        // Swap the XDP program in place.
        try xdp.update(program: try f.program("on_xdp_b"))
        #expect(try xdp.info().programID != info.programID)
        try ns.sendDatagram()
        #expect(f.count(.b) > 0)
        // Pinned links outlive their wrapper.
        let dir = try BPFFSDir("libxdp")
        defer { dir.remove() }
        try tcx.pin(at: dir.sub("tcx"))
        #expect(try KernelLink.open(pinned: dir.sub("tcx")).info().type == .tcx)
        // lo has no driver hook: native mode is refused, naming the device.
        #expect {
            _ = try ns.run { try f.program("on_xdp_b").attachXDP(interface: "lo", mode: .native) }
        } throws: { e in "\(e)".hasPrefix("attach program on_xdp_b as XDP to lo") }
        #expect { _ = try f.program("on_xdp").attachXDP(interface: "nope_lib0") } throws: { e in
            "\(e)".contains("no interface nope_lib0")
        }
    }

    @Test func cgroupByPath() throws {
        let f = try AttachFixture()
        let cg = try TestCgroup("libattach")
        let link = try f.program("on_cgroup").attachCgroup(path: cg.path)
        #expect(try link.info().type == .cgroup)
        let show = try runProcess("/usr/sbin/bpftool", ["-j", "cgroup", "show", cg.path])
        #expect(show.stdout.contains("\"on_cgroup\""), "\(show.stdout)\(show.stderr)")
        try link.detach()
        #expect { _ = try f.program("on_cgroup").attachCgroup(path: cg.path + "/missing") } throws: { e in
            "\(e)".contains(cg.path + "/missing") && "\(e)".contains("No such file")
        }
    }

    @Test func netfilterIteratorAndPerfEvent() throws {
        let f = try AttachFixture()
        let ns = try TestNetns("libnf")
        // NFPROTO_IPV4, NF_INET_LOCAL_IN.
        let nf = try ns.run { try f.program("on_nf").attachNetfilter(NetfilterLink(protocolFamily: 2, hook: 1, priority: 10, flags: 0)) }
        try ns.sendDatagram()
        #expect(f.count(.nf) > 0)
        #expect(try nf.info().type == .netfilter)

        let iter = try f.program("on_iter").attachIterator()
        _ = try iter.iteratorOutput()
        #expect(f.count(.iter) > 0, "the iterator visited the maps")

        let event = try openPageFaultEvent()
        let perf = try f.program("on_perf").attachPerfEvent(fd: event.rawValue)
        // Fresh anonymous pages, touched on this thread: each fault is a sample.
        let size = 64 * Int(getpagesize())
        let pages = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(pages, size) }
        for i in stride(from: 0, to: size, by: Int(getpagesize())) { pages.storeBytes(of: 1, toByteOffset: i, as: UInt8.self) }
        #expect(f.count(.perf) > 0)
        #expect(try perf.info().type == .perfEvent)
    }

    @Test func kprobeAndUSDTFailWithOneClearError() throws {
        let f = try AttachFixture()
        #expect {
            _ = try f.program("on_kprobe").attachKprobe(function: "do_sys_openat2")
        } throws: { e in
            let d = "\(e)"
            return d.hasPrefix("attach program on_kprobe as kprobe to do_sys_openat2: ")
                && (Kernel.hasKprobes || d.contains("this kernel has no kprobes")) && !d.contains("\n")
        }
        #expect {
            _ = try f.program("on_usdt").attachUSDT(binary: "/bin/true", provider: "nope", name: "probe")
        } throws: { e in
            "\(e)".hasPrefix("attach program on_usdt to USDT nope:probe of /bin/true") && !"\(e)".contains("\n")
        }
    }

    @Test func badInputThrowsNamingWhatWasWrong() throws {
        let f = try AttachFixture()
        let p = try f.program("on_uprobe")
        #expect { _ = try p.attachUprobe(binary: "/nonexistent/lib", function: "f") } throws: { e in
            "\(e)".contains("/nonexistent/lib") && "\(e)".contains("No such file")
        }
        let libc = try libcPath()
        #expect { _ = try p.attachUprobe(binary: libc, function: "no_such_function_lib") } throws: { e in
            "\(e)".contains("no_such_function_lib")
        }
        #expect { _ = try f.program("on_tp").attachTracepoint(category: "../x", name: "y") } throws: { e in
            "\(e)".contains("invalid category")
        }
        #expect { _ = try f.program("on_tp").attachTracepoint(category: "syscalls", name: "no_such_tp_lib") } throws: { e in
            "\(e)".hasPrefix("attach program on_tp to tracepoint syscalls:no_such_tp_lib: ")
        }
        #expect { _ = try f.program("on_xdp").attachXDP(interface: String(repeating: "x", count: 40)) } throws: { e in
            "\(e)".contains("invalid interface name")
        }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Fixtures.object("lib_attach"))))
        let unloaded = try BPFSkeleton(elf: bytes, objectName: "lib_attach", source: "lib_attach.bpf.o")
        #expect { _ = try unloaded.program("on_raw").attachRawTracepoint(name: "sys_enter") } throws: { e in
            "\(e)".contains("program on_raw is not loaded")
        }
    }
}
