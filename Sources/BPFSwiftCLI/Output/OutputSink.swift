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
    /// The errno of the first write that failed (EPIPE: the reader went
    /// away; ENOSPC: /dev/full). From then on output is dropped; the CLI
    /// turns it into exit status 1 and one error line, and long dumps stop.
    public private(set) var writeError: Int32?

    /// Whether a write failed (see `writeError`).
    public var failed: Bool { writeError != nil }

    public init(fd: Int32) {
        self.fd = fd
        buffer.reserveCapacity(1 << 16)
    }

    /// A sink that keeps what is written, for tests.
    public init() { fd = nil }

    public var text: String { String(decoding: captured, as: UTF8.self) }

    public func write(_ s: String) {
        if writeError != nil { return }
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func write(bytes: [UInt8]) {
        if writeError != nil { return }
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func line(_ s: String = "") {
        if writeError != nil { return }
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
                        writeError = Glibc.errno  // EPIPE, ENOSPC, EIO...: recorded, output dropped from now on
                        return
                    }
                    if n == 0 { writeError = EIO; return }
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
