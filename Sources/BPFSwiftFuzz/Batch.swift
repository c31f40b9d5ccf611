#if canImport(Glibc)
import Glibc
#endif
import BPFCore
import BPFSwiftCLI

/// `BPFSwiftFuzz batch FILE`: runs command lines through CLI.run in this
/// process, one after the other, and reports each as one JSON line on
/// stdout: its exit status, what it printed, and the descriptors it left
/// open (/proc/self/fd before and after, by number and target).
///
/// FILE holds commands separated by the ASCII record separator (0x1e), the
/// words of each separated by the unit separator (0x1f), so that words may
/// hold newlines. A record `!setenv NAME VALUE` or `!unsetenv NAME` changes
/// the environment for the commands after it (fault injection);
/// `!outlimit BYTES` reports at most BYTES of each later command's stdout.
///
/// The robustness tests use it to run hundreds of commands (mutated objects,
/// malformed command lines, every command path for descriptor counting)
/// without a process each, in a process of their own: tests run in parallel
/// in one process, so counting descriptors there would see other tests'.
/// A command that crashes kills the batch; the lines printed so far say
/// which command it was (the next one).
enum Batch {
    static func run(file: String) {
        guard let bytes = try? readFileBytes(file) else {
            writeErr("batch: cannot read \(file)\n")
            exit(2)
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\u{1e}", omittingEmptySubsequences: true)
        var index = 0
        var outLimit = Int.max
        for line in lines {
            if line.hasPrefix("!outlimit ") {
                outLimit = Int(line.dropFirst("!outlimit ".count)) ?? Int.max
                continue
            }
            if line.hasPrefix("!setenv ") {
                let parts = line.dropFirst("!setenv ".count).split(separator: " ", maxSplits: 1)
                setenv(String(parts[0]), parts.count > 1 ? String(parts[1]) : "", 1)
                continue
            }
            if line.hasPrefix("!unsetenv ") {
                unsetenv(String(line.dropFirst("!unsetenv ".count)))
                continue
            }
            let args = line.split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            let before = openDescriptors()
            let out = OutputSink(), err = OutputSink()
            var t0 = timespec(), t1 = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t0)
            let status = CLI.run(args, out: out, err: err, skipProgramName: false)
            out.flush(); err.flush()
            clock_gettime(CLOCK_MONOTONIC, &t1)
            let micros = (t1.tv_sec - t0.tv_sec) * 1_000_000 + (t1.tv_nsec - t0.tv_nsec) / 1000
            let after = openDescriptors()
            let leaked = after.filter { before[$0.key] != $0.value }.sorted { $0.key < $1.key }

            var w = JSONWriter()
            w.beginObject()
            w.field("index", index)
            w.key("args"); w.beginArray(); for a in args { w.string(a) }; w.endArray()
            w.field("status", Int(status))
            w.field("micros", micros)
            w.field("out", out.captured.count > outLimit
                    ? String(decoding: out.captured.prefix(outLimit), as: UTF8.self) : out.text)
            w.field("err", err.text)
            w.key("leaked"); w.beginArray(); for (fd, target) in leaked { w.string("\(fd) -> \(target)") }; w.endArray()
            w.endObject()
            var bytes = w.bytes
            bytes.append(10)
            bytes.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = Glibc.write(1, raw.baseAddress! + off, raw.count - off)
                    if n <= 0 { break }
                    off += n
                }
            }
            index += 1
        }
    }

    /// fd number → what it points to, from /proc/self/fd (the listing's own
    /// descriptor left out).
    static func openDescriptors() -> [Int32: String] {
        guard let d = opendir("/proc/self/fd") else { return [:] }
        defer { closedir(d) }
        let own = dirfd(d)
        var out: [Int32: String] = [:]
        while let e = readdir(d) {
            let name = entryName(e)
            guard let fd = Int32(name), fd != own else { continue }
            var buf = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/self/fd/\(fd)", &buf, buf.count - 1)
            out[fd] = n > 0 ? String(cString: buf) : "?"
        }
        return out
    }
}
