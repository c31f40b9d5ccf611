#if canImport(Glibc)
import Glibc
#endif

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

/// Lower-case hex of `bytes` with no separators ("aed9730c9d9e6534").
public func hexString<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(hexDigits[Int(b >> 4)]); out.append(hexDigits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// `v` in lower-case hex, left-padded with zeros to `width` digits.
public func hex<T: BinaryInteger>(_ v: T, width: Int = 0) -> String {
    var s = String(v, radix: 16)
    if s.count < width { s = String(repeating: "0", count: width - s.count) + s }
    return s
}

/// A C string held in a fixed-size C char array (a tuple), up to its NUL.
public func stringFromCArray<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }
}

/// Whether the NUL-terminated string in a fixed-size C array (a tuple)
/// contains `needle`, compared as bytes.
public func cArrayContains<T>(_ tuple: T, _ needle: StaticString) -> Bool {
    withUnsafeBytes(of: tuple) { raw in
        let end = raw.firstIndex(of: 0) ?? raw.count
        let n = needle.utf8CodeUnitCount
        guard n > 0 else { return true }
        guard end >= n else { return false }
        let first = needle.utf8Start.pointee
        for i in 0...(end - n) where raw[i] == first {
            if memcmp(raw.baseAddress! + i, needle.utf8Start, n) == 0 { return true }
        }
        return false
    }
}

/// Bytes of a fixed-size C array (a tuple).
public func bytesFromCArray<T>(_ tuple: T) -> [UInt8] {
    withUnsafeBytes(of: tuple) { Array($0) }
}

/// Nanoseconds since boot (CLOCK_BOOTTIME) to a wall-clock UNIX time in seconds,
/// as bpftool converts `load_time`.
public func bootNanosecondsToWallClock(_ ns: UInt64) -> Int64 {
    var wall = timespec(), boot = timespec()
    clock_gettime(CLOCK_REALTIME, &wall)
    clock_gettime(CLOCK_BOOTTIME, &boot)
    let wallNs = Int64(wall.tv_sec) * 1_000_000_000 + Int64(wall.tv_nsec)
    let bootNs = Int64(boot.tv_sec) * 1_000_000_000 + Int64(boot.tv_nsec)
    return (wallNs - bootNs + Int64(ns)) / 1_000_000_000
}

/// A UNIX time as bpftool prints it in text: local time, "%FT%T%z".
public func formatLocalTime(_ seconds: Int64) -> String {
    var t = time_t(seconds)
    var tmv = tm()
    localtime_r(&t, &tmv)
    var buf = [CChar](repeating: 0, count: 64)
    let n = strftime(&buf, buf.count, "%FT%T%z", &tmv)
    return n > 0 ? String(cString: buf) : String(seconds)
}
