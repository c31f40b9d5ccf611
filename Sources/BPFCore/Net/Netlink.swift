#if canImport(Glibc)
import Glibc
#endif

/// A minimal rtnetlink client: the dump requests `net show` needs (links,
/// qdiscs, classes, filters) and the attribute parser that reads their
/// answers. libbpf keeps its netlink helpers (nlattr.h) private, and its
/// `bpf_tc_query` answers only for one known handle and priority, so the
/// enumeration bpftool does with its own netlink code lives here.
/// The numbers below are the kernel's rtnetlink ABI (linux/rtnetlink.h,
/// if_link.h, pkt_cls.h, tc_act/tc_bpf.h), stable by contract.
enum RTNetlink {
    static let getLink: UInt16 = 18        // RTM_GETLINK
    static let getQdisc: UInt16 = 38       // RTM_GETQDISC
    static let getClass: UInt16 = 42       // RTM_GETTCLASS
    static let getFilter: UInt16 = 46      // RTM_GETTFILTER
    static let flagRequest: UInt16 = 0x1   // NLM_F_REQUEST
    static let flagMulti: UInt16 = 0x2     // NLM_F_MULTI
    static let flagDump: UInt16 = 0x300    // NLM_F_DUMP
    static let messageError: UInt16 = 2    // NLMSG_ERROR
    static let messageDone: UInt16 = 3     // NLMSG_DONE
    static let headerSize = 16             // struct nlmsghdr
}

/// One netlink attribute: its type (flags masked off) and payload.
struct NetlinkAttribute {
    let type: UInt16
    let payload: ArraySlice<UInt8>

    var u8: UInt8? { payload.first }
    var u32: UInt32? {
        guard payload.count >= 4 else { return nil }
        var v: UInt32 = 0
        withUnsafeMutableBytes(of: &v) { for i in 0..<4 { $0[i] = payload[payload.startIndex + i] } }
        return UInt32(littleEndian: v)
    }
    /// A NUL-terminated string attribute (the bytes up to the first NUL).
    var string: String {
        let bytes = payload.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses a run of attributes as libbpf_nla_parse does: a later
    /// attribute of a type replaces an earlier one; types above `max` are
    /// ignored; a malformed length ends the run (nil).
    static func parse(_ bytes: ArraySlice<UInt8>, max: Int) -> [Int: NetlinkAttribute]? {
        var table: [Int: NetlinkAttribute] = [:]
        var i = bytes.startIndex
        while bytes.endIndex - i >= 4 {
            let len = Int(bytes[i]) | Int(bytes[i + 1]) << 8
            let type = (UInt16(bytes[i + 2]) | UInt16(bytes[i + 3]) << 8) & 0x3fff   // NLA_TYPE_MASK
            guard len >= 4, len <= bytes.endIndex - i else { return nil }
            if Int(type) <= max {
                table[Int(type)] = NetlinkAttribute(type: type, payload: bytes[(i + 4)..<(i + len)])
            }
            i += (len + 3) & ~3
        }
        return table
    }

    /// The nested attributes of this one.
    func nested(max: Int) -> [Int: NetlinkAttribute]? {
        NetlinkAttribute.parse(payload, max: max)
    }
}

/// A NETLINK_ROUTE socket of this process, closed at deinit.
final class NetlinkSocket {
    private let fd: FileDescriptor
    private let portID: UInt32
    private var sequence: UInt32

    init() throws(BPFError) {
        let s = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard s >= 0 else { throw BPFError("open netlink socket", errno: Glibc.errno) }
        fd = FileDescriptor(owning: s)
        var one: Int32 = 1
        // Extended acks are a nicety (bpftool only warns without them).
        _ = setsockopt(s, 270 /* SOL_NETLINK */, 11 /* NETLINK_EXT_ACK */, &one, socklen_t(MemoryLayout<Int32>.size))
        // struct sockaddr_nl { u16 nl_family; u16 pad; u32 nl_pid; u32 nl_groups; }
        var sa = [UInt8](repeating: 0, count: 12)
        sa[0] = UInt8(AF_NETLINK)
        let bound = sa.withUnsafeBytes { bind(s, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12) }
        guard bound == 0 else { throw BPFError("bind netlink socket", errno: Glibc.errno) }
        var len = socklen_t(12)
        let named = sa.withUnsafeMutableBytes { getsockname(s, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &len) }
        guard named == 0, len == 12 else { throw BPFError("read netlink socket address", errno: named == 0 ? EINVAL : Glibc.errno) }
        portID = UInt32(sa[4]) | UInt32(sa[5]) << 8 | UInt32(sa[6]) << 16 | UInt32(sa[7]) << 24
        sequence = UInt32(truncatingIfNeeded: time(nil))
    }

    /// Sends a dump request (`header` is the family header after nlmsghdr)
    /// and returns each answer's family header + attributes bytes.
    func dump(_ type: UInt16, header: [UInt8], what: @autoclosure () -> String) throws(BPFError) -> [ArraySlice<UInt8>] {
        sequence &+= 1
        let seq = sequence
        var request: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { request.append(contentsOf: $0) } }
        put(UInt32(RTNetlink.headerSize + header.count))
        put(type)
        put(RTNetlink.flagRequest | RTNetlink.flagDump)
        put(seq)
        put(UInt32(0))
        request.append(contentsOf: header)
        let sent = request.withUnsafeBytes { send(fd.rawValue, $0.baseAddress, $0.count, 0) }
        guard sent == request.count else { throw BPFError(what(), errno: sent < 0 ? Glibc.errno : EIO) }

        var answers: [ArraySlice<UInt8>] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw BPFError(what(), errno: Glibc.errno)
            }
            if n == 0 { return answers }
            let data = Array(buffer[0..<n])
            var i = 0
            var multipart = false
            while n - i >= RTNetlink.headerSize {
                let len = Int(readU32(data, i))
                guard len >= RTNetlink.headerSize, len <= n - i else { break }
                let msgType = UInt16(data[i + 4]) | UInt16(data[i + 5]) << 8
                let flags = UInt16(data[i + 6]) | UInt16(data[i + 7]) << 8
                let msgSeq = readU32(data, i + 8), pid = readU32(data, i + 12)
                if pid != portID || msgSeq != seq {
                    throw BPFError(what(), detail: "netlink answer of another request")
                }
                if flags & RTNetlink.flagMulti != 0 { multipart = true }
                switch msgType {
                case RTNetlink.messageError:
                    let code = Int32(bitPattern: readU32(data, i + RTNetlink.headerSize))
                    if code != 0 { throw BPFError(what(), errno: -code) }
                case RTNetlink.messageDone:
                    return answers
                default:
                    answers.append(data[(i + RTNetlink.headerSize)..<(i + len)])
                }
                i += (len + 3) & ~3
            }
            if !multipart { return answers }
        }
    }

    private func readU32(_ d: [UInt8], _ i: Int) -> UInt32 {
        UInt32(d[i]) | UInt32(d[i + 1]) << 8 | UInt32(d[i + 2]) << 16 | UInt32(d[i + 3]) << 24
    }
}
