/// A growable byte buffer that map output is formatted into with raw pointer
/// writes, then handed to the run's OutputSink in large chunks: a million
/// elements must not mean a million String allocations.
final class MapByteBuffer {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    var count = 0
    /// Whether anything already went to the sink.
    private(set) var flushedAny = false
    private let sink: OutputSink

    init(sink: OutputSink, capacity: Int = 1 << 17) {
        self.sink = sink
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit {
        flush()
        base.deallocate()
    }

    /// Makes room for `n` more bytes: flushes when full, grows when one write is larger than the buffer.
    @inline(__always)
    func reserve(_ n: Int) {
        if count + n > capacity { makeRoom(n) }
    }

    private func makeRoom(_ n: Int) {
        flush()
        if n > capacity {
            base.deallocate()
            capacity = max(n, capacity * 2)
            base = .allocate(capacity: capacity)
        }
    }

    /// Passes everything written so far to the sink.
    func flush() {
        guard count > 0 else { return }
        sink.write(bytes: Array(UnsafeBufferPointer(start: base, count: count)))
        count = 0
        flushedAny = true
    }

    // MARK: unchecked writes (call `reserve` first)

    @inline(__always)
    func put(_ b: UInt8) {
        base[count] = b
        count += 1
    }

    @inline(__always)
    func put(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        (base + count).update(from: s.utf8Start, count: n)
        count += n
    }

    /// Two lower-case hex digits.
    @inline(__always)
    func putHex(_ b: UInt8) {
        base[count] = hexDigit[Int(b >> 4)]
        base[count + 1] = hexDigit[Int(b & 15)]
        count += 2
    }

    /// Decimal of a non-negative integer.
    @inline(__always)
    func putDecimal(_ v: UInt64) {
        if v < 10 { put(UInt8(48 + v)); return }
        var tmp = v, digits = 0
        while tmp > 0 { tmp /= 10; digits += 1 }
        var x = v
        var i = count + digits - 1
        while x > 0 { base[i] = UInt8(48 + x % 10); x /= 10; i -= 1 }
        count += digits
    }

    @inline(__always)
    func putSpaces(_ n: Int) {
        (base + count).update(repeating: 32, count: n)
        count += n
    }

    // MARK: checked writes

    func write(_ s: String) {
        var s = s
        s.withUTF8 { u in
            guard u.count > 0 else { return }
            reserve(u.count)
            (base + count).update(from: u.baseAddress!, count: u.count)
            count += u.count
        }
    }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { write($0) }
    }

    func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let src = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        (base + count).update(from: src, count: bytes.count)
        count += bytes.count
    }
}

private let hexDigitTable: [UInt8] = Array("0123456789abcdef".utf8)
/// Stable storage for the hex digits (avoids array bounds checks in the hot loop).
let hexDigit: UnsafePointer<UInt8> = {
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 16)
    p.initialize(from: hexDigitTable, count: 16)
    return UnsafePointer(p)
}()
