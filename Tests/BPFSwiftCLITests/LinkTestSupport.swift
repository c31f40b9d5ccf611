import Foundation
import Testing
import BPFCore
import TestSupport

/// Helpers of the link tests: loading fixtures with bpftool, reading their
/// counters, comparing `link show` with bpftool's, and the private cgroups
/// and network namespaces the tests attach to.
enum LinkTesting {
    /// `bpftool prog loadall FIXTURE DIR/p pinmaps DIR/m [autoattach]`: programs (or,
    /// with autoattach, their links) pinned at DIR/p/<program>, maps at DIR/m/<map>.
    static func loadall(_ fixture: String, _ dir: BPFFSDir, autoattach: Bool) throws {
        var args = ["prog", "loadall", try Fixtures.object(fixture), dir.sub("p"), "pinmaps", dir.sub("m")]
        if autoattach { args.append("autoattach") }
        let r = try Bpftool.run(args)
        guard r.status == 0 else { throw TestFailure("bpftool \(args.joined(separator: " ")): \(r.stderr)") }
    }

    /// The id of the link pinned at `path`.
    static func linkID(pinned path: String) throws -> UInt32 {
        try KernelLink.open(pinned: path).id().rawValue
    }

    /// The program of the link pinned at `path`, opened.
    static func program(ofLink path: String) throws -> FileDescriptor {
        let info = try KernelLink.open(pinned: path).info()
        return try Kernel.open(.program, id: info.programID.rawValue)
    }

    /// A u64 counter in a pinned map at a u32 key (0 when the key is absent), read by bpftool.
    static func counter(_ mapPath: String, key: UInt32 = 0) throws -> UInt64 {
        let keyBytes = withUnsafeBytes(of: key.littleEndian) { Array($0) }.map { String($0) }
        let r = try Bpftool.run(["-j", "map", "lookup", "pinned", mapPath, "key"] + keyBytes)
        let trimmed = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // An absent key: bpftool prints null (and exits non-zero).
        if trimmed == "null" { return 0 }
        guard r.status == 0 else { throw TestFailure("bpftool map lookup \(mapPath): \(r.stdout)\(r.stderr)") }
        guard let obj = try parseJSON(trimmed) as? [String: Any],
              let formatted = obj["formatted"] as? [String: Any],
              let value = formatted["value"] as? NSNumber else {
            throw TestFailure("bpftool map lookup \(mapPath): unexpected output \(r.stdout)")
        }
        return value.uint64Value
    }

    /// Runs a command, optionally inside a network namespace (`ip netns exec`).
    static func run(_ argv: [String], netns: String? = nil) throws -> ProcessResult {
        if let netns { return try runProcess("/usr/sbin/ip", ["netns", "exec", netns] + argv) }
        return try runProcess(argv[0], Array(argv.dropFirst()))
    }

    /// Checks that `bpfswift link show id ID` agrees with bpftool: JSON key by key
    /// in both directions (the same keys, the same values), and text line by line;
    /// with and without `-f`. Returns bpftool's JSON object.
    @discardableResult
    static func expectSameShow(_ id: UInt32, netns: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        var expectedObject: [String: Any] = [:]
        for flags in [["-j"], ["-j", "-f"], [], ["-f"]] {
            let args = flags + ["link", "show", "id", String(id)]
            // bpftool's -f walk (nftw) gives up when a directory vanishes under it, as the
            // pin directories of tests running alongside do; so with -f a disagreement is
            // asked again a few times before it counts. Without -f nothing races.
            let attempts = flags.contains("-f") ? 5 : 1
            var difference: String? = nil
            for attempt in 0..<attempts {
                if attempt > 0 { usleep(50_000) }
                let theirs = try run([Bpftool.path] + args, netns: netns)
                let ours = try run([TestEnv.binary] + args, netns: netns)
                difference = try compareShow(args, theirs: theirs, ours: ours)
                if difference == nil {
                    if flags == ["-j"] { expectedObject = try parseJSON(theirs.stdout) as? [String: Any] ?? [:] }
                    break
                }
            }
            #expect(difference == nil, "\(difference ?? "")", sourceLocation: sourceLocation)
        }
        return expectedObject
    }

    /// What differs between bpftool's and our output of `args`, or nil.
    private static func compareShow(_ args: [String], theirs: ProcessResult, ours: ProcessResult) throws -> String? {
        // bpftool 7.5 exits 255 after showing one link (it returns "errno == ENOENT ? 0 : -1"
        // with a stale errno), so its output, not its status, says whether it succeeded.
        if theirs.stdout.isEmpty || theirs.stdout.contains("\"error\"") {
            return "bpftool \(args) failed: \(theirs.stdout)\(theirs.stderr)"
        }
        if ours.status != 0 { return "bpfswift \(args) exited \(ours.status): \(ours.stderr)" }
        guard args.contains("-j") else {
            return ours.stdout == theirs.stdout ? nil : "text of \(args):\n\(theirs.stdout)vs ours\n\(ours.stdout)"
        }
        let expected = try parseJSON(theirs.stdout), actual = try parseJSON(ours.stdout)
        if let d = jsonDifference(expected: expected, actual: actual) {
            return "\(args): \(d); bpftool \(theirs.stdout) vs ours \(ours.stdout)"
        }
        if let d = jsonDifference(expected: actual, actual: expected) {
            return "\(args): a key bpftool lacks: \(d); ours \(ours.stdout) vs bpftool \(theirs.stdout)"
        }
        return nil
    }
}

/// A cgroup v2 directory of its own under the unified hierarchy, removed at the end.
final class TestCgroup {
    let path: String
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()

    static let root: String? = {
        guard let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return nil }
        for line in mounts.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count >= 3 && f[2] == "cgroup2" { return String(f[1]) }
        }
        return nil
    }()

    init(_ label: String) throws {
        guard let root = TestCgroup.root else { throw TestFailure("no cgroup2 mount") }
        TestCgroup.lock.lock(); TestCgroup.counter += 1; let n = TestCgroup.counter; TestCgroup.lock.unlock()
        path = "\(root)/bpfswift_test_\(getpid())_\(n)_\(label)"
        if mkdir(path, 0o755) != 0 { throw TestFailure("mkdir \(path): \(String(cString: strerror(errno)))") }
    }

    /// The cgroup's id (its kernfs inode number).
    var id: UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    /// Runs `sh -c SCRIPT` in a child process that first moves itself into this cgroup.
    @discardableResult
    func runInside(_ script: String) throws -> ProcessResult {
        try runProcess("/bin/sh", ["-c", "echo $$ > '\(path)/cgroup.procs' && \(script)"])
    }

    /// Removes the (empty) cgroup; the kernel may need a moment after the last process exits.
    func remove() {
        for _ in 0..<50 {
            if rmdir(path) == 0 || errno == ENOENT { return }
            usleep(20_000)
        }
    }

    deinit { remove() }
}

/// A network namespace of its own (`ip netns add`), with lo up; deleted at the end.
final class TestNetns {
    let name: String
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()

    init(_ label: String) throws {
        TestNetns.lock.lock(); TestNetns.counter += 1; let n = TestNetns.counter; TestNetns.lock.unlock()
        name = "bpfswift_\(getpid())_\(n)_\(label)"
        let add = try runProcess("/usr/sbin/ip", ["netns", "add", name])
        guard add.status == 0 else { throw TestFailure("ip netns add \(name): \(add.stderr)") }
        let up = try runProcess("/usr/sbin/ip", ["-n", name, "link", "set", "lo", "up"])
        guard up.status == 0 else { remove(); throw TestFailure("ip -n \(name) link set lo up: \(up.stderr)") }
    }

    var path: String { "/run/netns/\(name)" }

    /// Sends one UDP datagram to 127.0.0.1:9 inside the namespace (through lo).
    func sendDatagram() throws {
        let r = try LinkTesting.run(["/bin/bash", "-c", "echo x > /dev/udp/127.0.0.1/9"], netns: name)
        if r.status != 0 { throw TestFailure("send datagram in \(name): \(r.stderr)") }
    }

    /// Runs `body` on a thread of its own that has entered the namespace
    /// (network namespaces are per thread; the thread ends afterwards).
    func run<T>(_ body: @escaping () throws -> T) throws -> T {
        let outcome = ThreadOutcome<T>()
        let done = DispatchSemaphore(value: 0)
        let nsPath = path
        let thread = Thread {
            defer { done.signal() }
            let fd = open(nsPath, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                outcome.result = .failure(TestFailure("open \(nsPath): \(String(cString: strerror(errno)))")); return
            }
            defer { close(fd) }
            guard setNetworkNamespace(fd) == 0 else {
                outcome.result = .failure(TestFailure("setns \(nsPath): \(String(cString: strerror(errno)))")); return
            }
            outcome.result = Result { try body() }
        }
        thread.start()
        done.wait()
        return try outcome.result!.get()
    }

    /// The index of device `name` inside the namespace.
    func interfaceIndex(_ device: String) throws -> UInt32 {
        try run { if_nametoindex(device) }
    }

    func remove() { _ = try? runProcess("/usr/sbin/ip", ["netns", "del", name]) }

    deinit { remove() }
}

/// A result handed from a thread to its waiter: written before the thread
/// signals, read after the wait.
private final class ThreadOutcome<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

/// setns(fd, CLONE_NEWNET) for the calling thread. Glibc's Swift module does not
/// export setns (it sits behind _GNU_SOURCE), so it is looked up at run time.
private func setNetworkNamespace(_ fd: Int32) -> Int32 {
    typealias SetNS = @convention(c) (Int32, Int32) -> Int32
    guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { errno = ENOSYS; return -1 }
    let cloneNewNet: Int32 = 0x4000_0000
    return unsafeBitCast(sym, to: SetNS.self)(fd, cloneNewNet)
}

/// perf_event_open(2) for a software page-faults event of the calling thread,
/// sampling every fault. (cpu-clock would do too, but 6.x kernels move it to a
/// PMU of its own and report that PMU's dynamic type, not "software".) Glibc's `syscall` is variadic, which
/// Swift cannot call; its x86-64/arm64 entry takes the arguments in
/// registers like any function, so it is called through a fixed signature.
func openPageFaultEvent() throws -> FileDescriptor {
    #if arch(x86_64)
    let perfEventOpen = 298
    #elseif arch(arm64)
    let perfEventOpen = 241
    #else
    throw TestFailure("perf_event_open number unknown for this architecture")
    #endif
    typealias Syscall = @convention(c) (Int, UnsafeRawPointer, Int32, Int32, Int32, UInt) -> Int
    guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syscall") else { throw TestFailure("no syscall symbol") }
    // struct perf_event_attr, PERF_ATTR_SIZE_VER0 (64 bytes): type, size, config, sample_period.
    var attr = [UInt8](repeating: 0, count: 64)
    func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { attr[offset + i] = b } }
    }
    put(UInt32(1), at: 0)                   // PERF_TYPE_SOFTWARE
    put(UInt32(64), at: 4)                  // size
    put(UInt64(2), at: 8)                   // PERF_COUNT_SW_PAGE_FAULTS
    put(UInt64(1), at: 16)                  // sample_period
    let fd = attr.withUnsafeBytes { raw in
        unsafeBitCast(sym, to: Syscall.self)(perfEventOpen, raw.baseAddress!, 0, -1, -1, 8 /* PERF_FLAG_FD_CLOEXEC */)
    }
    if fd < 0 { throw TestFailure("perf_event_open: \(String(cString: strerror(errno)))") }
    return FileDescriptor(owning: Int32(fd))
}
