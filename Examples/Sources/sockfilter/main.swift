// sockfilter: count the packets on an interface by IP protocol with a BPF
// socket filter on a raw packet socket.
//   sockfilter [INTERFACE [SECONDS]]     (default: lo, until Ctrl-C)
// Prints the counts every second.
import BPFCore
#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
let interface = args.count > 1 ? args[1] : "lo"
let seconds = args.count > 2 ? Int(args[2]) : nil
if args.count > 3 || (args.count > 2 && seconds == nil) {
    fputs("usage: sockfilter [INTERFACE [SECONDS]]\n", stderr)
    exit(2)
}

let protocolNames: [UInt32: String] = [1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP"]
let SO_ATTACH_BPF_OPTION: Int32 = 50   // <asm-generic/socket.h> SO_ATTACH_BPF
let ETH_P_ALL: UInt16 = 0x0003          // <linux/if_ether.h>: every protocol

/// <linux/if_packet.h>'s struct sockaddr_ll, which Glibc's module leaves out.
struct PacketAddress {
    var family = UInt16(AF_PACKET)
    var protocolNumber: UInt16          // network byte order
    var interfaceIndex: Int32
    var hardwareType: UInt16 = 0
    var packetType: UInt8 = 0
    var addressLength: UInt8 = 0
    var address: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
}

do {
    let index = if_nametoindex(interface)
    guard index != 0 else { throw BPFError("find interface \(interface)", errno: errno) }
    let skel = try SockfilterSkeleton()
    try skel.load()
    guard var progFD = skel.programs.count_packets.fd else { throw BPFError("count_packets has no fd") }

    // A raw socket on every protocol, bound to the interface, with the filter.
    let ethPAll = ETH_P_ALL.bigEndian
    let sock = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(ethPAll))
    guard sock >= 0 else { throw BPFError("open a packet socket", errno: errno) }
    defer { close(sock) }
    var addr = PacketAddress(protocolNumber: ethPAll, interfaceIndex: Int32(index))
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<PacketAddress>.size)) }
    }
    guard bound == 0 else { throw BPFError("bind the packet socket to \(interface)", errno: errno) }
    guard setsockopt(sock, SOL_SOCKET, SO_ATTACH_BPF_OPTION, &progFD, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
        throw BPFError("attach the socket filter", errno: errno)
    }

    print("counting packets on \(interface) by IP protocol; Ctrl-C to stop")
    var tick = 0
    while seconds.map({ tick < $0 }) ?? true {
        sleep(1)
        tick += 1
        var line: [String] = []
        for (proto, count) in try skel.maps.packets_by_protocol.entries() where count > 0 {
            line.append("\(protocolNames[proto] ?? "proto \(proto)") \(count)")
        }
        print("second \(tick): " + (line.isEmpty ? "no IP packets" : line.joined(separator: ", ")))
        fflush(stdout)
    }
} catch {
    fputs("sockfilter: \(error)\n", stderr)
    exit(1)
}
