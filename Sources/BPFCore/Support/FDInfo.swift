#if canImport(Glibc)
import Glibc
#endif

/// The `key:\tvalue` lines of /proc/self/fdinfo/FD (memlock, frozen,
/// owner_prog_type, ...), read once with one read and scanned as bytes:
/// `map show` and `prog show` read one per object, thousands per run.
struct FDInfo {
    private var bytes: [UInt8] = []

    init(fd: Int32) {
        let f = Glibc.open("/proc/self/fdinfo/\(fd)", O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return }
        defer { _ = Glibc.close(f) }
        // An fdinfo is a few hundred bytes.
        bytes = [UInt8](unsafeUninitializedCapacity: 4096) { buf, count in
            var used = 0
            while used < buf.count {
                let n = Glibc.read(f, buf.baseAddress! + used, buf.count - used)
                if n < 0 && Glibc.errno == EINTR { continue }
                if n <= 0 { break }
                used += n
            }
            count = used
        }
    }

    /// The value of the line `key:<tabs/spaces>value`, or nil.
    subscript(_ key: String) -> String? {
        var k = key
        return k.withUTF8 { key -> String? in
            bytes.withUnsafeBufferPointer { buf -> String? in
                let n = buf.count
                var lineStart = 0
                while lineStart < n {
                    var lineEnd = lineStart
                    while lineEnd < n && buf[lineEnd] != 10 { lineEnd += 1 }
                    if lineEnd - lineStart > key.count, buf[lineStart + key.count] == UInt8(ascii: ":"),
                       memcmp(buf.baseAddress! + lineStart, key.baseAddress!, key.count) == 0 {
                        var v = lineStart + key.count + 1
                        while v < lineEnd && (buf[v] == 9 || buf[v] == 32) { v += 1 }
                        return String(decoding: UnsafeBufferPointer(rebasing: buf[v..<lineEnd]), as: UTF8.self)
                    }
                    lineStart = lineEnd + 1
                }
                return nil
            }
        }
    }
}
