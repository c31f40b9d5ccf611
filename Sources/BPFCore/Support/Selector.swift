/// How the user names a kernel object on the command line:
/// `id ID | pinned FILE | tag TAG | name NAME` (which words a kind accepts
/// is up to the kind: maps have no tag, links only id and pinned).
public enum Selector: Equatable, Sendable, CustomStringConvertible {
    case id(UInt32)
    case pinned(String)
    case tag([UInt8])     // 8 bytes
    case name(String)

    public var description: String {
        switch self {
        case .id(let v): return "id \(v)"
        case .pinned(let p): return "pinned \(p)"
        case .tag(let t): return "tag \(hexString(t))"
        case .name(let n): return "name \(n)"
        }
    }
}
