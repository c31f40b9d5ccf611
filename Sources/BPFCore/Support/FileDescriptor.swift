#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor this process owns; closed exactly once, when the last
/// reference goes away (or at `close()`).
public final class FileDescriptor: @unchecked Sendable {
    public private(set) var rawValue: Int32

    /// Takes ownership of `rawValue`.
    public init(owning rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// Closes now; later calls do nothing.
    public func close() {
        if rawValue >= 0 {
            _ = Glibc.close(rawValue)
            rawValue = -1
        }
    }

    /// Gives up ownership without closing: the caller now owns the raw fd.
    public func release() -> Int32 {
        let fd = rawValue
        rawValue = -1
        return fd
    }

    /// A second owned descriptor of the same open file (F_DUPFD_CLOEXEC).
    public func duplicate() throws(BPFError) -> FileDescriptor {
        let fd = fcntl(rawValue, F_DUPFD_CLOEXEC, 3)
        if fd < 0 { throw BPFError("duplicate fd \(rawValue)", errno: Glibc.errno) }
        return FileDescriptor(owning: fd)
    }

    deinit { close() }
}
