// tc: count what arrives on a network interface, by EtherType, from a tcx
// ingress program.
//   tc INTERFACE [SECONDS]     (until Ctrl-C without SECONDS)
// Prints the counts every second; the link goes when the program exits.
import BPFCore
#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
guard args.count == 2 || args.count == 3, args.count == 2 || Int(args[2]) != nil else {
    fputs("usage: tc INTERFACE [SECONDS]\n", stderr)
    exit(2)
}
let interface = args[1]
let seconds = args.count == 3 ? Int(args[2]) : nil
let etherTypes: [UInt32: String] = [0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP"]

do {
    let skel = try TcSkeleton()
    try skel.load()
    let link = try skel.programs.count_ingress.attachTCX(interface: interface, direction: .ingress)
    print("counting ingress on \(interface); Ctrl-C to stop")
    var tick = 0
    while seconds.map({ tick < $0 }) ?? true {
        sleep(1)
        tick += 1
        var parts: [String] = []
        for (type, t) in try skel.maps.ingress.entries().sorted(by: { $0.key < $1.key }) {
            parts.append("\(etherTypes[type] ?? "0x" + String(type, radix: 16)) \(t.packets) packets \(t.bytes) bytes")
        }
        print("second \(tick): " + (parts.isEmpty ? "nothing yet" : parts.joined(separator: ", ")))
        fflush(stdout)
    }
    try link.detach()
} catch {
    fputs("tc: \(error)\n", stderr)
    exit(1)
}
