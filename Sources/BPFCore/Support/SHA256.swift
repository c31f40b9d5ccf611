#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// SHA-256 (FIPS 180-4), for naming the object file a pinned tree came
/// from. Small and dependency-free: BPFCore links no Foundation and no
/// crypto library.
public struct SHA256 {
    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    // A partial block. Stored inline (no heap array) so that hashing
    // allocates nothing: BackgroundDigest runs it on a thread of its own,
    // where a first malloc would make glibc map a new arena.
    private var block: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var blockCount = 0
    private var totalBytes: UInt64 = 0

    /// The round constants, from the table the SHA-instruction rounds in
    /// shim.h use too.
    private static let k: [UInt32] = withUnsafeBytes(of: bpfswift_sha256_k) { Array($0.bindMemory(to: UInt32.self)) }

    /// Always the Swift rounds, never the CPU's SHA instructions (for the
    /// tests that compare the two).
    var portable = false

    /// A hasher with no input yet.
    public init() {}

    /// The digest of `bytes` in one call.
    public static func hash<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }

    /// Lower-case hex digest of `bytes`.
    public static func hexDigest<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        hexString(hash(bytes))
    }

    /// Feeds more input.
    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { buf in
            update(UnsafeRawBufferPointer(buf))
        }
        if done == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { update($0) }
        }
    }

    fileprivate mutating func update(_ input: UnsafeRawBufferPointer) {
        totalBytes &+= UInt64(input.count)
        var i = 0
        // Top up a partial block, then take whole blocks straight from the input.
        if blockCount > 0 {
            let n = min(64 - blockCount, input.count)
            let at = blockCount
            withUnsafeMutableBytes(of: &block) { b in for j in 0..<n { b[at + j] = input[j] } }
            blockCount += n
            i = n
            if blockCount == 64 {
                compressBlock()
                blockCount = 0
            }
        }
        let blocks = (input.count - i) / 64
        if blocks > 0 {
            compressBlocks(UnsafeRawBufferPointer(rebasing: input[i..<i + 64 * blocks]))
            i += 64 * blocks
        }
        if i < input.count {
            let at = blockCount, rest = input.count - i
            withUnsafeMutableBytes(of: &block) { b in for j in 0..<rest { b[at + j] = input[i + j] } }
            blockCount += rest
        }
    }

    /// Pads, processes the last block(s) and returns the 32-byte digest.
    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { finalize(into: $0) }
        return out
    }

    /// Pads, processes the last block(s) and writes the 32-byte digest to
    /// `out` (at least 32 bytes). Allocates nothing.
    mutating func finalize(into out: UnsafeMutableRawBufferPointer) {
        let bitLength = totalBytes &* 8
        var at = blockCount
        withUnsafeMutableBytes(of: &block) { b in b[at] = 0x80 }
        at += 1
        if at > 56 {
            withUnsafeMutableBytes(of: &block) { b in for j in at..<64 { b[j] = 0 } }
            compressBlock()
            at = 0
        }
        withUnsafeMutableBytes(of: &block) { b in
            for j in at..<56 { b[j] = 0 }
            for j in 0..<8 { b[56 + j] = UInt8(truncatingIfNeeded: bitLength >> (56 - 8 * UInt64(j))) }
        }
        compressBlock()
        blockCount = 0
        withUnsafeBytes(of: state) { raw in
            for w in 0..<8 {
                let v = raw.load(fromByteOffset: 4 * w, as: UInt32.self)
                out[4 * w] = UInt8(truncatingIfNeeded: v >> 24); out[4 * w + 1] = UInt8(truncatingIfNeeded: v >> 16)
                out[4 * w + 2] = UInt8(truncatingIfNeeded: v >> 8); out[4 * w + 3] = UInt8(truncatingIfNeeded: v)
            }
        }
    }

    /// Compresses the buffered block (a copy: `compress` mutates self).
    private mutating func compressBlock() {
        var b = block
        withUnsafeBytes(of: &b) { compressBlocks($0) }
    }

    /// Whether the CPU has the SHA extensions (see shim.h).
    static let hardware = bpfswift_sha256_hw() != 0

    /// Compresses whole 64-byte blocks: with the CPU's SHA instructions
    /// where it has them (checked against the Swift rounds by the tests),
    /// else in Swift.
    private mutating func compressBlocks(_ input: UnsafeRawBufferPointer) {
        if Self.hardware && !portable {
            withUnsafeMutableBytes(of: &state) { st in
                bpfswift_sha256_hw_blocks(st.baseAddress!.assumingMemoryBound(to: UInt32.self),
                                          input.baseAddress!.assumingMemoryBound(to: UInt8.self), input.count / 64)
            }
            return
        }
        compressBlocksInSwift(input)
    }

    /// The portable rounds, block by block.
    mutating func compressBlocksInSwift(_ input: UnsafeRawBufferPointer) {
        var i = 0
        while i + 64 <= input.count {
            compress(UnsafeRawBufferPointer(rebasing: input[i..<i + 64]))
            i += 64
        }
    }

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x &>> n) | (x &<< (32 &- n)) }

    private mutating func compress(_ chunk: UnsafeRawBufferPointer) {
        // The message schedule lives on the stack: no allocation per block.
        var schedule: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                       UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                       UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                       UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &schedule) { raw in
            let w = raw.bindMemory(to: UInt32.self)
            for t in 0..<16 {
                w[t] = UInt32(bigEndian: chunk.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self))
            }
            for t in 16..<64 {
                let s0 = Self.rotr(w[t - 15], 7) ^ Self.rotr(w[t - 15], 18) ^ (w[t - 15] &>> 3)
                let s1 = Self.rotr(w[t - 2], 17) ^ Self.rotr(w[t - 2], 19) ^ (w[t - 2] &>> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            Self.k.withUnsafeBufferPointer { k in compressRounds(UnsafeBufferPointer(w), k) }
        }
    }

    /// One round, written so that eight calls with the variables rotated
    /// replace the eight moves per round of `h = g; g = f; ...`.
    @inline(__always)
    private static func round(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
                              _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32, _ kw: UInt32) {
        let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ (g ^ (e & (f ^ g))) &+ kw
        let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) | (c & (a | b)))
        d = d &+ t1
        h = t1 &+ t2
    }

    private mutating func compressRounds(_ w: UnsafeBufferPointer<UInt32>, _ k: UnsafeBufferPointer<UInt32>) {
        var (a, b, c, d, e, f, g, h) = state
        var t = 0
        while t < 64 {
            Self.round(a, b, c, &d, e, f, g, &h, k[t] &+ w[t])
            Self.round(h, a, b, &c, d, e, f, &g, k[t + 1] &+ w[t + 1])
            Self.round(g, h, a, &b, c, d, e, &f, k[t + 2] &+ w[t + 2])
            Self.round(f, g, h, &a, b, c, d, &e, k[t + 3] &+ w[t + 3])
            Self.round(e, f, g, &h, a, b, c, &d, k[t + 4] &+ w[t + 4])
            Self.round(d, e, f, &g, h, a, b, &c, k[t + 5] &+ w[t + 5])
            Self.round(c, d, e, &f, g, h, a, &b, k[t + 6] &+ w[t + 6])
            Self.round(b, c, d, &e, f, g, h, &a, k[t + 7] &+ w[t + 7])
            t += 8
        }
        state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d,
                 state.4 &+ e, state.5 &+ f, state.6 &+ g, state.7 &+ h)
    }
}

/// The hex SHA-256 of a file's bytes, computed on a second thread while the
/// caller goes on. `object pin` needs the digest of the object file only
/// to compare with an existing tree and to write the manifest; for a fresh
/// pin, hashing overlaps libbpf's open and the kernel's verifier instead of
/// adding to them (about 0.5 ms for a 90 KiB object here). Small inputs are
/// hashed at once: a thread would cost more than it saves.
///
/// The thread allocates nothing (SHA256 keeps its state inline and writes
/// the digest into the job): a thread's first malloc makes glibc map a new
/// arena, and those mmap/munmap calls contend with the main thread's for
/// the address-space lock. Its stack is small for the same reason.
final class BackgroundDigest {
    /// What the thread reads and writes, and nothing else: plain memory,
    /// so the thread touches no Swift object (no retain of self while its
    /// owner may be releasing it).
    private struct Job {
        /// A copy of the input, owned by the job; empty when hashed at once.
        var input: UnsafeMutableRawBufferPointer
        var digest: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    }

    private let job: UnsafeMutablePointer<Job>
    private var thread: pthread_t?

    /// Inputs below this many bytes are hashed on the calling thread. With
    /// the CPU's SHA instructions (a few cycles a byte) that is every object
    /// file short of a MiB: a 90 KiB one takes less than starting and joining
    /// a thread costs. The Swift rounds take ~20 cycles a byte: a thread pays
    /// from 4 KiB.
    static let threadThreshold = SHA256.hardware ? 1 << 20 : 4 * 1024

    init(_ bytes: [UInt8]) {
        job = UnsafeMutablePointer<Job>.allocate(capacity: 1)
        guard bytes.count >= Self.threadThreshold else {
            job.initialize(to: Job(input: UnsafeMutableRawBufferPointer(start: nil, count: 0)))
            bytes.withUnsafeBytes { Self.hash($0, into: job) }
            return
        }
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { input.copyMemory(from: $0) }
        job.initialize(to: Job(input: input))
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, 256 * 1024)
        var t = pthread_t()
        let r = pthread_create(&t, &attr, { context in
            let job = context!.assumingMemoryBound(to: Job.self)
            BackgroundDigest.hash(UnsafeRawBufferPointer(job.pointee.input), into: job)
            return nil
        }, UnsafeMutableRawPointer(job))
        if r == 0 { thread = t } else { Self.hash(UnsafeRawBufferPointer(input), into: job) }
    }

    private static func hash(_ input: UnsafeRawBufferPointer, into job: UnsafeMutablePointer<Job>) {
        var h = SHA256()
        h.update(input)
        withUnsafeMutableBytes(of: &job.pointee.digest) { h.finalize(into: $0) }
    }

    /// The lower-case hex digest; waits for the thread the first time.
    var value: String {
        wait()
        return withUnsafeBytes(of: job.pointee.digest) { hexString(Array($0)) }
    }

    /// Waits for the thread (joins it) if it has not been waited for. The
    /// owner calls this on its way out (`defer`) rather than leaving it to
    /// deinit, so the thread is joined at a point the code states.
    func wait() {
        if let t = thread {
            pthread_join(t, nil)
            thread = nil
        }
    }

    deinit {
        wait()
        job.pointee.input.deallocate()
        job.deinitialize(count: 1)
        job.deallocate()
    }
}
