import Testing
import Foundation
@testable import BPFCore
import TestSupport

/// FIPS 180-4 / NIST example vectors, block-boundary lengths, and
/// agreement with sha256sum on a real object file.
@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ("The quick brown fox jumps over the lazy dog",
         "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"),
    ])
    func knownVectors(input: String, digest: String) {
        #expect(SHA256.hexDigest(Array(input.utf8)) == digest)
    }

    @Test func millionAs() {
        // The FIPS long-message vector, fed in uneven pieces to exercise buffering.
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 999)
        var left = 1_000_000
        while left > 0 {
            let n = min(left, chunk.count)
            h.update(chunk[0..<n])
            left -= n
        }
        #expect(hexString(h.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func everyLengthAroundBlockBoundariesMatchesSha256sum() throws {
        // Lengths 0...130 cover the 55/56/63/64-byte padding edges; compare with coreutils.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sha256-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var paths: [String] = []
        var expected: [String: String] = [:]
        for n in 0...130 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let p = dir.appendingPathComponent("f\(n)").path
            FileManager.default.createFile(atPath: p, contents: Data(bytes))
            paths.append(p)
            expected[p] = SHA256.hexDigest(bytes)
        }
        let r = try runProcess("/usr/bin/sha256sum", paths)
        #expect(r.status == 0)
        var checked = 0
        for line in r.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            let path = String(parts[1].drop(while: { $0 == " " || $0 == "*" }))
            #expect(expected[path] == String(parts[0]), "\(path)")
            checked += 1
        }
        #expect(checked == 131)
    }

    @Test func objectFileMatchesSha256sum() throws {
        let obj = try Fixtures.object("counter")
        let r = try runProcess("/usr/bin/sha256sum", [obj])
        let bytes = try readFileBytes(obj)
        #expect(r.stdout.hasPrefix(SHA256.hexDigest(bytes) + " "))
    }

    @Test func cpuInstructionsAndSwiftRoundsAgree() {
        // Where the CPU has SHA instructions they do the whole blocks: every
        // length up to five blocks and a large input, fed whole and in
        // uneven pieces, must give the Swift rounds' digest. (Without them
        // both sides are the Swift rounds and the known vectors above rule.)
        var seed: UInt32 = 0x9e37_79b9
        let data = (0..<70_000).map { _ -> UInt8 in
            seed = seed &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: seed >> 24)
        }
        for n in Array(0...320) + [4096, 65_537, 70_000] {
            var fast = SHA256(), slow = SHA256()
            slow.portable = true
            fast.update(data[0..<n])
            var at = 0, step = 1
            while at < n {
                let end = min(n, at + step)
                slow.update(data[at..<end])
                at = end
                step = step * 3 % 191 + 1
            }
            #expect(fast.finalize() == slow.finalize(), "\(n) bytes")
        }
        // And where /proc/cpuinfo lists sha_ni, the instructions are the ones used.
        #if arch(x86_64)
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           info.split(separator: "\n").contains(where: { $0.hasPrefix("flags") && $0.split(separator: " ").contains("sha_ni") }) {
            #expect(SHA256.hardware)
        }
        #endif
    }

    @Test func backgroundDigestAgreesOnBothSidesOfItsThreadThreshold() throws {
        var seed: UInt32 = 12345
        let big = (0..<(BackgroundDigest.threadThreshold + 4321)).map { _ -> UInt8 in
            seed = seed &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: seed >> 24)
        }
        for n in [0, 1000, BackgroundDigest.threadThreshold - 1, BackgroundDigest.threadThreshold, big.count] {
            let bytes = Array(big.prefix(n))
            let d = BackgroundDigest(bytes)
            #expect(d.value == SHA256.hexDigest(bytes), "\(n) bytes")
            #expect(d.value == SHA256.hexDigest(bytes), "asked twice, \(n) bytes")
        }
        // Dropped before anyone asks: deinit waits for the thread.
        for _ in 0..<20 { _ = BackgroundDigest(big) }
        let file = try readFileBytes(try Fixtures.object("obj_iter"))
        let r = try runProcess("/usr/bin/sha256sum", [try Fixtures.object("obj_iter")])
        #expect(r.stdout.hasPrefix(BackgroundDigest(file).value + " "))
    }
}
