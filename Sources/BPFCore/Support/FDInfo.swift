#if canImport(Glibc)
import Glibc
#endif

/// The `key:\tvalue` lines of /proc/self/fdinfo/FD (memlock, frozen,
/// owner_prog_type, ...), read once with one read and scanned as bytes:
/// `map show` and `prog show` read one per object, thousands per run.
struct FDInfo {
    private var bytes: [UInt8] = []

    init(fd: Int32) {
        bytes = [UInt8](unsafeUninitializedCapacity: 4096) { buf, count in
            count = FDInfo.read(fd: fd, into: buf)
        }
    }

    /// The value of one line (`memlock`), from the fdinfo read into a
    /// buffer on the stack: no array on the heap for a one-key lookup
    /// (`prog show` makes one per program).
    static func value(fd: Int32, key: String) -> String? {
        // 1 KiB: what Swift puts on the stack (a larger temporary allocation
        // went to posix_memalign, and its pages faulted in again and again).
        // A program's or a map's fdinfo is a few hundred bytes; one that
        // fills the buffer without the key is read again whole.
        let (found, full) = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buf -> (String?, Bool) in
            let n = read(fd: fd, into: buf)
            return (find(key, in: UnsafeBufferPointer(rebasing: buf[0..<n])), n == buf.count)
        }
        if found == nil && full { return FDInfo(fd: fd)[key] }
        return found
    }

    /// Reads /proc/self/fdinfo/FD into `buf`; how many bytes (0 when it
    /// cannot be read).
    private static func read(fd: Int32, into buf: UnsafeMutableBufferPointer<UInt8>) -> Int {
        // "/proc/self/fdinfo/" and the number, built without String
        // interpolation (thousands of times per `prog show`).
        let f: Int32 = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { path in
            let prefix: StaticString = "/proc/self/fdinfo/"
            var n = prefix.utf8CodeUnitCount
            UnsafeMutableRawBufferPointer(path).copyMemory(from: UnsafeRawBufferPointer(start: prefix.utf8Start, count: n))
            var digits = 1
            var v = max(fd, 0)
            while v >= 10 { v /= 10; digits += 1 }
            v = max(fd, 0)
            for i in stride(from: n + digits - 1, through: n, by: -1) {
                path[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
            n += digits
            path[n] = 0
            return path.baseAddress!.withMemoryRebound(to: CChar.self, capacity: n + 1) {
                Glibc.open($0, O_RDONLY | O_CLOEXEC)
            }
        }
        guard f >= 0 else { return 0 }
        defer { _ = Glibc.close(f) }
        // An fdinfo is a few hundred bytes. It is a seq_file that a read fills
        // whole when it fits: a short read is the end, and no second read is
        // needed to see end-of-file (one syscall per program saved).
        var used = 0
        while used < buf.count {
            let want = buf.count - used
            let n = Glibc.read(f, buf.baseAddress! + used, want)
            if n < 0 && Glibc.errno == EINTR { continue }
            if n <= 0 { break }
            used += n
            if n < want { break }
        }
        return used
    }

    /// The value of the line `key:<tabs/spaces>value`, or nil.
    subscript(_ key: String) -> String? {
        bytes.withUnsafeBufferPointer { FDInfo.find(key, in: $0) }
    }

    /// The value of the line `key:<tabs/spaces>value` in `buf`, or nil.
    /// Lines are found with memchr, and only a line's first bytes are
    /// compared (a closure per line cost ~700 instructions a lookup).
    private static func find(_ key: String, in buf: UnsafeBufferPointer<UInt8>) -> String? {
        guard let base = buf.baseAddress, buf.count > 0 else { return nil }
        var k = key
        return k.withUTF8 { key -> String? in
            guard let kp = key.baseAddress else { return nil }
            let end = base + buf.count
            var line = base
            while line < end {
                let nl = memchr(line, 0x0a, end - line).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) } ?? end
                if nl - line > key.count && line[key.count] == UInt8(ascii: ":") && memcmp(line, kp, key.count) == 0 {
                    var v = line + key.count + 1
                    while v < nl && (v.pointee == 9 || v.pointee == 32) { v += 1 }
                    return String(decoding: UnsafeBufferPointer(start: v, count: nl - v), as: UTF8.self)
                }
                line = nl + 1
            }
            return nil
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
