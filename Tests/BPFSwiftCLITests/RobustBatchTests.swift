import Foundation
import Testing
import TestSupport

// Helpers shared by the robustness tests (Robust*, FDHygiene*, HostilePath*,
// FuzzCorpus*): processes with a time limit, and command batches run by the
// fuzz harness's `batch` mode in a process of their own.

/// What a process did, with a time limit.
struct TimedResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var signaled: Bool
    var timedOut: Bool

    var summary: String {
        "status \(status)\(signaled ? " (signal)" : "")\(timedOut ? " (timed out)" : "")\nstdout: \(stdout.prefix(2000))\nstderr: \(stderr.prefix(2000))"
    }
}

enum Robust {
    /// The fuzz harness: BPFSWIFT_FUZZ_BIN, or built next to bpfswift
    /// (scripts/test points BPFSWIFT_BIN at the release binary, which is
    /// built without the harness).
    static var harness: String {
        if let h = ProcessInfo.processInfo.environment["BPFSWIFT_FUZZ_BIN"] { return h }
        return URL(fileURLWithPath: TestEnv.binary).deletingLastPathComponent().appendingPathComponent("BPFSwiftFuzz").path
    }

    /// Runs `executable` with a time limit; on timeout it is killed (and `timedOut` set).
    static func run(_ executable: String, _ args: [String], cwd: String? = nil, timeout: TimeInterval = 60,
                    environment: [String: String]? = nil) throws -> TimedResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        if let environment {
            var env = ProcessInfo.processInfo.environment
            for (k, v) in environment { env[k] = v }
            p.environment = env
        }
        let outPipe = Pipe(), errPipe = Pipe()
        p.standardOutput = outPipe
        p.standardError = errPipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Both pipes are drained at once so that neither fills up.
        final class Box: @unchecked Sendable { var data = Data() }
        let outBox = Box(), errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outBox.data = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errBox.data = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while p.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(p.processIdentifier, SIGKILL)
                break
            }
            usleep(5_000)
        }
        p.waitUntilExit()
        group.wait()
        return TimedResult(status: p.terminationStatus,
                           stdout: String(decoding: outBox.data, as: UTF8.self),
                           stderr: String(decoding: errBox.data, as: UTF8.self),
                           signaled: p.terminationReason == .uncaughtSignal,
                           timedOut: timedOut)
    }

    /// Runs the bpfswift binary with a time limit.
    static func bpfswift(_ args: [String], timeout: TimeInterval = 60, cwd: String? = nil,
                         environment: [String: String]? = nil) throws -> TimedResult {
        try run(TestEnv.binary, args, cwd: cwd, timeout: timeout, environment: environment)
    }

    /// A scratch directory outside bpffs, removed by the caller.
    static func tempDirectory(_ label: String) throws -> String {
        let p = NSTemporaryDirectory() + "bpfswift-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// Whether a failure's stderr ends with exactly one non-empty "Error: " line
    /// (warnings may come first).
    static func isOneLineError(_ stderr: String) -> Bool {
        guard stderr.hasSuffix("\n") else { return false }
        let lines = stderr.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard let last = lines.last, last.hasPrefix("Error: "), last.count > "Error: ".count else { return false }
        return lines.filter { $0.hasPrefix("Error: ") }.count == 1
    }

    /// Everything under `dir` (relative paths, sorted), without following symlinks.
    static func listTree(_ dir: String) -> [String] {
        var out: [String] = []
        func walk(_ rel: String) {
            let full = rel.isEmpty ? dir : dir + "/" + rel
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: full) else { return }
            for n in names.sorted() {
                let r = rel.isEmpty ? n : rel + "/" + n
                out.append(r)
                var st = stat()
                if lstat(dir + "/" + r, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { walk(r) }
            }
        }
        walk("")
        return out
    }
}

/// One command's result from the harness's batch mode.
struct BatchResult {
    var index: Int
    var args: [String]
    var status: Int32
    var out: String
    var err: String
    /// Descriptors open after the command that were not before ("5 -> anon_inode:bpf-map").
    var leaked: [String]
    /// How long CLI.run took.
    var micros: Int
}

/// A batch of command lines run in one harness process (see Sources/BPFSwiftFuzz/Batch.swift).
struct CommandBatch {
    private var records: [String] = []
    private(set) var count = 0

    mutating func add(_ args: [String]) {
        precondition(!args.isEmpty && !args.contains { $0.contains("\u{1e}") || $0.contains("\u{1f}") })
        records.append(args.joined(separator: "\u{1f}"))
        count += 1
    }

    mutating func setenv(_ name: String, _ value: String) { records.append("!setenv \(name) \(value)") }
    /// Report at most `bytes` of each later command's stdout (its status and stderr are whole).
    mutating func limitOutput(to bytes: Int) { records.append("!outlimit \(bytes)") }
    mutating func unsetenv(_ name: String) { records.append("!unsetenv \(name)") }

    /// Runs the batch; `process` tells whether the harness itself ended well
    /// (no signal: a crash in command N leaves N results).
    func run(timeout: TimeInterval = 600) throws -> (results: [BatchResult], process: TimedResult) {
        let dir = try Robust.tempDirectory("batch")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/commands"
        try Data(records.joined(separator: "\u{1e}").utf8).write(to: URL(fileURLWithPath: file))
        let r = try Robust.run(Robust.harness, ["batch", file], timeout: timeout)
        var results: [BatchResult] = []
        for line in r.stdout.split(separator: "\n") {
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            results.append(BatchResult(index: o["index"] as? Int ?? -1, args: o["args"] as? [String] ?? [],
                                       status: Int32(o["status"] as? Int ?? -1), out: o["out"] as? String ?? "",
                                       err: o["err"] as? String ?? "", leaked: o["leaked"] as? [String] ?? [],
                                       micros: o["micros"] as? Int ?? 0))
        }
        return (results, r)
    }
}

@Suite struct RobustBatchTests {
    /// The batch runner reports statuses and output of each command in order.
    @Test func batchRunsCommandsInOrder() throws {
        var b = CommandBatch()
        b.add(["version"])
        b.add(["frobnicate"])
        b.add(["-j", "object", "show"])
        let (results, process) = try b.run(timeout: 60)
        #expect(process.status == 0 && !process.signaled, "\(process.summary)")
        try #require(results.count == 3)
        #expect(results[0].status == 0 && results[0].out.hasPrefix("bpfswift v"))
        #expect(results[1].status == 2 && results[1].err.hasPrefix("Error: unknown object 'frobnicate'"))
        #expect(results[2].status == 2 && results[2].out.hasPrefix("{\"error\":"))
        #expect(results.allSatisfy { $0.leaked.isEmpty }, "\(results.map(\.leaked))")
    }
}
