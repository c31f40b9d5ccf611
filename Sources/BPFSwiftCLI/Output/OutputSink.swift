#if canImport(Glibc)
import Glibc
#endif

/// Where a command's output goes: a file descriptor (buffered, flushed in
/// large writes) or memory (for in-process tests).
public final class OutputSink {
    private var buffer: [UInt8] = []
    private let fd: Int32?
    /// Everything written, for a memory sink.
    public private(set) var captured: [UInt8] = []

    public init(fd: Int32) {
        self.fd = fd
        buffer.reserveCapacity(1 << 16)
    }

    /// A sink that keeps what is written, for tests.
    public init() { fd = nil }

    public var text: String { String(decoding: captured, as: UTF8.self) }

    public func write(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func write(bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func line(_ s: String = "") {
        write(s)
        buffer.append(UInt8(ascii: "\n"))
    }

    public func flush() {
        guard !buffer.isEmpty else { return }
        if let fd {
            var off = 0
            buffer.withUnsafeBytes { raw in
                while off < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                    if n < 0 {
                        if Glibc.errno == EINTR { continue }
                        return  // EPIPE and friends: the reader went away
                    }
                    off += n
                }
            }
        } else {
            captured.append(contentsOf: buffer)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}
