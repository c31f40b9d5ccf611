import Foundation
import BPFCore

/// Where the tests find things and how they reach the kernel.
public enum TestEnv {
    /// The package root (from this file's location).
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// True in CI: a test that cannot reach BPF must fail there, not skip.
    public static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Why kernel tests cannot run here, or nil when they can.
    public static let bpfUnavailableReason: String? = {
        if geteuid() != 0 { return "not root" }
        if Kernel.bpffsMounts().isEmpty { return "no bpffs mounted (run scripts/setup)" }
        return nil
    }()

    /// Whether kernel tests run: where BPF is reachable, and always in CI (where they then fail).
    public static let kernelTestsEnabled = bpfUnavailableReason == nil || inCI

    /// The built bpfswift binary: BPFSWIFT_BIN, or next to the test bundle.
    public static let binary: String = {
        if let b = ProcessInfo.processInfo.environment["BPFSWIFT_BIN"] { return b }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // .../debug/bpfswiftPackageTests.xctest (a file on Linux)
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("bpfswift").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return packageRoot + "/.build/debug/bpfswift"
    }()

    /// The primary bpffs mount.
    public static let bpffsRoot = "/sys/fs/bpf"
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Compiled BPF fixtures (Tests/Fixtures/NAME.bpf.c → Tests/Fixtures/build/NAME.bpf.o, made by scripts/build-fixtures).
public enum Fixtures {
    public static let sourceDir = TestEnv.packageRoot + "/Tests/Fixtures"
    public static let buildDir = sourceDir + "/build"

    /// Path of the compiled object for `name` ("counter" → .../build/counter.bpf.o).
    public static func object(_ name: String) throws -> String {
        let p = "\(buildDir)/\(name).bpf.o"
        guard FileManager.default.fileExists(atPath: p) else {
            throw TestFailure("fixture \(p) is missing: run scripts/build-fixtures (scripts/test does)")
        }
        return p
    }

    private static let namesLock = NSLock()
    nonisolated(unsafe) private static var nameLocks: [String: NSLock] = [:]

    /// Runs `body` while no other test of this process that asks for
    /// `fixture` has its programs loaded. For a test that selects programs
    /// by name across the whole kernel (`prog show name ci_xdp`): suites run
    /// in parallel, and another one loading the same object would add
    /// programs of that name in the middle of it.
    public static func withSoleUse<T>(of fixture: String, _ body: () throws -> T) rethrows -> T {
        namesLock.lock()
        let lock = nameLocks[fixture] ?? NSLock()
        nameLocks[fixture] = lock
        namesLock.unlock()
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// A unique directory on bpffs for one test; removes everything under it on cleanup.
/// By-name map pins that a bpftool-style command (`prog load`, `iter pin`)
/// makes at /sys/fs/bpf/NAME, as bpftool does: the test removes those that
/// were not there before it, so that later tests and runs do not meet them.
public struct DefaultRootPins {
    private let created: [String]
    public init(_ names: [String]) {
        created = names.filter { !FileManager.default.fileExists(atPath: "/sys/fs/bpf/" + $0) }
    }
    public func remove() {
        for n in created { unlink("/sys/fs/bpf/" + n) }
    }
}

public final class BPFFSDir {
    public let path: String
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()

    public init(_ label: String = "t") throws {
        BPFFSDir.lock.lock(); BPFFSDir.counter += 1; let n = BPFFSDir.counter; BPFFSDir.lock.unlock()
        let safe = label.map { $0.isLetter || $0.isNumber ? $0 : "_" }
        path = "\(TestEnv.bpffsRoot)/bpfswift_test_\(getpid())_\(n)_\(String(safe.prefix(40)))"
        if mkdir(path, 0o700) != 0 {
            throw TestFailure("mkdir \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A path inside this directory.
    public func sub(_ name: String) -> String { path + "/" + name }

    /// Removes the tree (files are pins: unlink drops the reference).
    public func remove() { removeTree(path) }

    deinit { remove() }
}

/// Recursively unlinks `path` (bpffs pins and directories).
public func removeTree(_ path: String) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for n in names { removeTree(path + "/" + n) }
        }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// The result of running a process.
public struct ProcessResult {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    /// Whether the process died of a signal.
    public let signaled: Bool
}

/// Runs `executable` with `args`, capturing output.
@discardableResult
public func runProcess(_ executable: String, _ args: [String], environment: [String: String]? = nil, stdin: String? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    if let environment {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
    }
    let outPipe = Pipe(), errPipe = Pipe()
    p.standardOutput = outPipe
    p.standardError = errPipe
    if stdin == nil { p.standardInput = FileHandle.nullDevice }
    try p.run()
    // Read both pipes concurrently so that neither fills up.
    var outData = Data(), errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outData = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    errData = errPipe.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return ProcessResult(status: p.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self),
                         signaled: p.terminationReason == .uncaughtSignal)
}

/// Runs the built bpfswift binary.
@discardableResult
public func bpfswift(_ args: String..., environment: [String: String]? = nil) throws -> ProcessResult {
    try runProcess(TestEnv.binary, args, environment: environment)
}

@discardableResult
public func bpfswift(args: [String], environment: [String: String]? = nil) throws -> ProcessResult {
    try runProcess(TestEnv.binary, args, environment: environment)
}

/// The oracle: bpftool 7.5.
public enum Bpftool {
    public static let path: String = {
        for p in ["/usr/sbin/bpftool", "/usr/bin/bpftool", "/usr/local/sbin/bpftool"] where FileManager.default.isExecutableFile(atPath: p) {
            return p
        }
        return "bpftool"
    }()

    @discardableResult
    public static func run(_ args: [String]) throws -> ProcessResult {
        try runProcess(path, args)
    }

    /// `bpftool -j ARGS` parsed; throws when bpftool fails.
    public static func json(_ args: [String]) throws -> Any {
        let r = try run(["-j"] + args)
        guard r.status == 0 else { throw TestFailure("bpftool \(args.joined(separator: " ")) failed: \(r.stderr)\(r.stdout)") }
        return try parseJSON(r.stdout)
    }
}

/// Parses JSON text (fragments allowed).
public func parseJSON(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}

/// Compares two parsed JSON values; returns the first difference as a path, or nil.
/// Keys of `expected` must all be in `actual` with equal values; `ignoring` names
/// top-level keys (counters that move between two calls) to skip.
public func jsonDifference(expected: Any, actual: Any, path: String = "", ignoring: Set<String> = []) -> String? {
    switch (expected, actual) {
    case let (e as [String: Any], a as [String: Any]):
        for (k, ev) in e where !ignoring.contains(k) {
            guard let av = a[k] else { return "\(path).\(k): missing (expected \(ev))" }
            if let d = jsonDifference(expected: ev, actual: av, path: "\(path).\(k)") { return d }
        }
        return nil
    case let (e as [Any], a as [Any]):
        if e.count != a.count { return "\(path): array length \(a.count), expected \(e.count)" }
        for (i, (ev, av)) in zip(e, a).enumerated() {
            if let d = jsonDifference(expected: ev, actual: av, path: "\(path)[\(i)]", ignoring: ignoring) { return d }
        }
        return nil
    case let (e as NSNumber, a as NSNumber):
        return e == a ? nil : "\(path): \(a), expected \(e)"
    case let (e as String, a as String):
        return e == a ? nil : "\(path): \"\(a)\", expected \"\(e)\""
    case (is NSNull, is NSNull):
        return nil
    default:
        return "\(path): \(actual) (\(type(of: actual))), expected \(expected) (\(type(of: expected)))"
    }
}
