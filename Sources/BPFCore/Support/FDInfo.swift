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
                var found: String?
                forEachLine(buf) { line in
                    guard line.count > key.count, buf[line.lowerBound + key.count] == UInt8(ascii: ":"),
                          memcmp(buf.baseAddress! + line.lowerBound, key.baseAddress!, key.count) == 0 else { return true }
                    var v = line.lowerBound + key.count + 1
                    while v < line.upperBound && (buf[v] == 9 || buf[v] == 32) { v += 1 }
                    found = String(decoding: UnsafeBufferPointer(rebasing: buf[v..<line.upperBound]), as: UTF8.self)
                    return false
                }
                return found
            }
        }
    }
}

/// Calls `body` with the index range of each line of `buf` (without its
/// "\n"), in order, until `body` returns false. For the small /proc files
/// read on every run, scanned as bytes rather than Characters.
func forEachLine(_ buf: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Bool) {
    var start = 0
    while start < buf.count {
        var end = start
        while end < buf.count && buf[end] != 0x0a { end += 1 }
        if !body(start..<end) { return }
        start = end + 1
    }
}
