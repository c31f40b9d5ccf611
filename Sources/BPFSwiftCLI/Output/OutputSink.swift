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
    public var writeError: Int32? { target?.writeError ?? ownWriteError }
    private var ownWriteError: Int32?
    /// For a holding sink: where its output goes, and whether it still holds.
    private let target: OutputSink?
    private var holding = false
    private let holdLimit: Int
    /// What a holding sink holds: its buffer as it filled, one chunk per
    /// flush. Appending each flush to one growing array copied the output
    /// once per doubling into fresh pages, and passing it on copied it
    /// again (a 230 KB `-j prog show` took ~200 page faults that way).
    private var held: [[UInt8]] = []
    private var heldCount = 0

    /// Whether a write failed (see `writeError`).
    public var failed: Bool { writeError != nil }

    public init(fd: Int32) {
        self.fd = fd
        target = nil
        holdLimit = 0
    }

    /// A descriptor's buffer is 64 KB, taken at its first buffered write:
    /// stderr's and a `gen skeleton` stdout's (written as one document)
    /// never need one.
    @inline(__always) private func reserveBuffer() {
        if fd != nil && buffer.capacity == 0 { buffer.reserveCapacity(1 << 16) }
    }

    /// A sink that keeps what is written, for tests.
    public init() { fd = nil; target = nil; holdLimit = 0 }

    /// A sink that holds what is written for `target` until `release()`
    /// (passes it on) or `discard()` (drops it): with `-j`, a command that
    /// fails leaves only `{"error": ...}` on stdout. Past `limit` bytes it
    /// stops holding and writes through, so that a long dump streams in
    /// bounded memory and stops at a reader that went away; an error after
    /// that point can no longer take back what went out (bpftool's output
    /// streams from the start).
    public init(holdingFor target: OutputSink, limit: Int = 1 << 20) {
        fd = nil
        self.target = target
        holding = true
        holdLimit = limit
    }

    /// A holding sink: passes on what it holds and writes through from now on.
    public func release() {
        flush()
        guard let target, holding else { return }
        holding = false
        passHeld(to: target)
    }

    private func passHeld(to target: OutputSink) {
        for chunk in held { target.write(bytes: chunk) }
        held = []
        heldCount = 0
    }

    /// A holding sink: drops what it holds (nothing went out yet, unless it
    /// had passed its limit).
    public func discard() {
        buffer.removeAll()
        captured = []
        held = []
        heldCount = 0
    }

    /// Whether a holding sink has already passed output on.
    public var wroteThrough: Bool { target != nil && !holding }

    public var text: String { String(decoding: captured, as: UTF8.self) }

    public func write(_ s: String) {
        if writeError != nil { return }
        // A large text goes to the descriptor from its own storage: copying
        // it into `buffer` faulted in a fresh page per 4 KB of it.
        if let fd, s.utf8.count >= 1 << 14 {
            flush()
            var s = s
            s.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
            return
        }
        reserveBuffer()
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func write(bytes: [UInt8]) {
        if writeError != nil { return }
        // A large block goes out as it is (to the descriptor, or held as a
        // chunk) rather than through a copy into `buffer`.
        if bytes.count >= 1 << 15 && (fd != nil || holding) {
            flush()
            if let fd {
                bytes.withUnsafeBytes { writeAll(fd, $0) }
            } else {
                hold(bytes)
            }
            return
        }
        reserveBuffer()
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Writes a finished document (a generated file) as one block, after
    /// what is buffered: straight to the descriptor, or held as one chunk,
    /// never copied through the buffer (`gen skeleton`'s header went
    /// through two 64 KB buffers on its way to write(2)).
    public func write(document bytes: [UInt8]) {
        if writeError != nil { return }
        guard fd != nil || holding else { return write(bytes: bytes) }
        flush()
        if let fd {
            bytes.withUnsafeBytes { writeAll(fd, $0) }
        } else {
            hold(bytes)
        }
    }

    /// `write(document:)` for text (to a descriptor, `write(_:)` already
    /// sends a large text from its own storage).
    public func write(document text: String) {
        if fd != nil { return write(text) }
        write(document: Array(text.utf8))
    }

    /// Writes `bytes` (copied into the buffer): for a writer that reuses its
    /// own storage (JSONWriter.drain).
    public func write(raw bytes: UnsafeRawBufferPointer) {
        if writeError != nil { return }
        if bytes.count >= 1 << 15, let fd {
            flush()
            writeAll(fd, bytes)
            return
        }
        reserveBuffer()
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    private func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer) {
        var off = 0
        while off < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                ownWriteError = Glibc.errno  // EPIPE, ENOSPC, EIO...: recorded, output dropped from now on
                return
            }
            if n == 0 { ownWriteError = EIO; return }
            off += n
        }
    }

    /// A holding sink keeps `chunk`; past its limit it passes on all it
    /// holds and writes through from then on.
    private func hold(_ chunk: [UInt8]) {
        guard let target else { return }
        held.append(chunk)
        heldCount += chunk.count
        if heldCount > holdLimit {
            holding = false
            passHeld(to: target)
        }
    }

    public func line(_ s: String = "") {
        if writeError != nil { return }
        write(s)
        buffer.append(UInt8(ascii: "\n"))
    }

    public func flush() {
        guard !buffer.isEmpty else { return }
        if let fd {
            buffer.withUnsafeBytes { writeAll(fd, $0) }
        } else if target != nil {
            if holding {
                // The buffer itself becomes a held chunk (no copy); a new
                // one takes its place.
                let chunk = buffer
                buffer = []
                buffer.reserveCapacity(1 << 16)
                hold(chunk)
                return
            }
            target!.write(bytes: buffer)
        } else {
            captured.append(contentsOf: buffer)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}
