// Loads ringbuf_fill.bpf.o, and for each round fills the ring buffer with N
// records (N a multiple of 1000; untimed) and times a `for try await` loop over
// `records(as: Event.self)` reading every one. Prints the median and best
// rate of the rounds in records per second: "median<TAB>best". With
// `--btf`, the records decode through a BTFCodable type that reads member
// by member (as skeleton types did before they were layout-exact).
// The loop runs in a nonisolated async function; `--main-actor` times the
// same loop written in top-level code, on the main actor.
//   events-swift OBJ N ROUNDS [--btf | --generated | --main-actor]
import BPFCore
import Glibc

/// `struct event` of ringbuf_fill.bpf.c, laid out as C lays it out (32 bytes).
struct Event: BitwiseCopyable {
    var pid: UInt32
    var seq: UInt32
    var arg: UInt64
    var comm: (UInt64, UInt64)
}

/// The record as `bpfswift gen skeleton` writes it (Types.event): laid out as
/// in C, a `BTFRecord` (BTFCodable and BitwiseCopyable, no C `bool` member),
/// so each record is one unaligned load.
struct GeneratedEvent: BTFRecord {
    var pid: UInt32
    var seq: UInt32
    var arg: UInt64
    var comm: InlineArray<16, Int8>
}

/// The same record read member by member at its BTF offsets.
struct CodedEvent: BTFCodable {
    static var btfSize: Int { 32 }
    var pid: UInt32
    var seq: UInt32
    var arg: UInt64
    var comm: [Int8]
    init(btfBytes b: UnsafeRawBufferPointer) {
        pid = UInt32.btfCodec.load(b, at: 0)
        seq = UInt32.btfCodec.load(b, at: 4)
        arg = UInt64.btfCodec.load(b, at: 8)
        comm = BTFLayout.array(Int8.btfCodec, count: 16).load(b, at: 16)
    }
    func encode(btfBytes b: UnsafeMutableRawBufferPointer) {}
}

func printError(_ message: String) {
    var line = "events-swift: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    printError(message)
    exit(1)
}

func readFile(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { fail("cannot open \(path)") }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return out
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

let args = CommandLine.arguments
guard args.count >= 4, let n = UInt32(args[2]), n % 1000 == 0, let rounds = Int(args[3]), rounds > 0 else {
    fail("usage: events-swift OBJ N ROUNDS [--btf | --generated | --main-actor]")
}
let btf = args.count > 4 && args[4] == "--btf"
let generated = args.count > 4 && args[4] == "--generated"
let mainActor = args.count > 4 && args[4] == "--main-actor"

/// Fills the ring with `n` records (untimed) through `fill`, then times
/// `read` reading them; the rate in records per second.
nonisolated(nonsending) func fillAndTime(_ fill: FileDescriptor, _ bss: SkeletonGlobals, _ n: UInt32,
                 _ read: nonisolated(nonsending) () async throws -> UInt32) async throws -> Double {
    _ = try ProgramTestRun.run(fill, dataIn: [UInt8](repeating: 0, count: 64), dataSizeOut: 128, ctxIn: nil,
                               ctxSizeOut: 0, repeat: n / 1000)
    if bss.load(at: 0, UInt64.btfCodec) != 0 { fail("the ring buffer was full: records were dropped") }
    let t0 = now()
    let count = try await read()
    if count != n { fail("\(count) of \(n) records read") }
    return Double(n) / (now() - t0)
}

/// The rounds, in a nonisolated async function (where a loop reading
/// events runs in a server or a task): no executor hop inside the timed part.
nonisolated func timedRounds(_ events: SkeletonMap, _ fill: FileDescriptor, _ bss: SkeletonGlobals, _ n: UInt32,
                        _ rounds: Int, btf: Bool, generated: Bool) async throws -> ([Double], UInt64) {
    var rates: [Double] = [], sum: UInt64 = 0
    for _ in 0..<rounds {
        rates.append(try await fillAndTime(fill, bss, n) {
            var count: UInt32 = 0
            if generated {
                for try await e in events.records(as: GeneratedEvent.self) {
                    sum &+= UInt64(e.pid) &+ e.arg
                    count += 1
                    if count == n { break }
                }
            } else if btf {
                for try await e in events.records(as: CodedEvent.self) {
                    sum &+= UInt64(e.pid) &+ e.arg
                    count += 1
                    if count == n { break }
                }
            } else {
                for try await e in events.records(as: Event.self) {
                    sum &+= UInt64(e.pid) &+ e.arg
                    count += 1
                    if count == n { break }
                }
            }
            return count
        })
    }
    return (rates, sum)
}

do {
    let skeleton = try BPFSkeleton(elf: readFile(args[1]), objectName: "ringbuf_fill", source: "ringbuf_fill.bpf.o")
    let events = try skeleton.map("events")
    try skeleton.load()
    let bss = try skeleton.globals("ringbuf_.bss", access: .readOnly)
    guard let fd = try skeleton.program("fill").fd else { fail("program fill is not loaded") }
    let fill = FileDescriptor(owning: dup(fd))
    var rates: [Double] = []
    var sum: UInt64 = 0
    if mainActor {
        // The same loop in top-level code: on the main actor.
        for _ in 0..<rounds {
            rates.append(try await fillAndTime(fill, bss, n) {
                var count: UInt32 = 0
                for try await e in events.records(as: Event.self) {
                    sum &+= UInt64(e.pid) &+ e.arg
                    count += 1
                    if count == n { break }
                }
                return count
            })
        }
    } else {
        (rates, sum) = try await timedRounds(events, fill, bss, n, rounds, btf: btf, generated: generated)
    }
    let inOrder = rates
    rates.sort()
    print("\(Int(rates[rounds / 2]))\t\(Int(rates[rounds - 1]))")
    printError("checksum \(sum); M records/s per fill, in order: "
               + inOrder.map { String(Int($0 / 1e6)) }.joined(separator: " "))
} catch {
    fail("\(error)")
}
