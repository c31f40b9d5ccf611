#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A loaded BPF program held open by this process: its descriptor and its info.
public final class Program {
    public let fd: FileDescriptor
    public let info: ProgramInfo

    /// Takes ownership of `fd` and reads the program's info.
    public init(fd: FileDescriptor) throws(BPFError) {
        self.fd = fd
        do {
            self.info = try ProgramInfo.read(fd: fd.rawValue)
        } catch {
            fd.close()
            throw error
        }
    }

    public var id: ProgramID { info.id }

    /// The program with this id. Calls `bpf_prog_get_fd_by_id`.
    public static func open(id: ProgramID) throws(BPFError) -> Program {
        try Program(fd: Kernel.open(.program, id: id.rawValue))
    }

    /// The program pinned at `path` (an error if something else is pinned there).
    /// Calls `bpf_obj_get`.
    public static func open(pinned path: String) throws(BPFError) -> Program {
        try Program(fd: Kernel.openPinned(path, as: .program))
    }

    /// Ids of every loaded program, in order. Calls `bpf_prog_get_next_id`.
    public static func ids() throws(BPFError) -> [ProgramID] {
        try Kernel.ids(.program).map { ProgramID($0) }
    }

    /// The program with this id, or nil when it was unloaded since its id was
    /// listed (ENOENT). Calls `bpf_prog_get_fd_by_id`.
    public static func openIfPresent(id: ProgramID) throws(BPFError) -> Program? {
        let fd = bpf_prog_get_fd_by_id(id.rawValue)
        if fd < 0 {
            let e = fd == -1 ? Glibc.errno : -fd
            if e == ENOENT { return nil }
            throw BPFError("get program by id \(id)", errno: e)
        }
        return try Program(fd: FileDescriptor(owning: fd))
    }

    /// Visits every loaded program in id order, one open descriptor at a time
    /// (closed after `body`). Programs unloaded meanwhile are skipped.
    /// Calls `bpf_prog_get_next_id` and `bpf_prog_get_fd_by_id`.
    public static func forEach(_ body: (Program) throws -> Void) throws {
        for id in try ids() {
            guard let program = try openIfPresent(id: id) else { continue }
            defer { program.fd.close() }
            try body(program)
        }
    }

    /// Every program `selector` names: one for `id` and `pinned`, all that
    /// match for `name` (the full name, as bpftool matches it) and `tag`.
    /// Throws when none matches.
    public static func select(_ selector: Selector) throws(BPFError) -> [Program] {
        switch selector {
        case .id(let id):
            return [try open(id: ProgramID(id))]
        case .pinned(let path):
            return [try open(pinned: path)]
        case .name, .tag:
            var found: [Program] = []
            for id in try ids() {
                guard let p = try openIfPresent(id: id) else { continue }
                let hit: Bool
                switch selector {
                case .name(let n): hit = p.info.name == n
                case .tag(let t): hit = p.info.tag == t
                default: hit = false
                }
                if hit { found.append(p) } else { p.fd.close() }
            }
            if found.isEmpty {
                throw BPFError("no program matches \(selector)", errno: ENOENT)
            }
            return found
        }
    }

    /// The one program `selector` names; an error when a name or tag matches several.
    public static func selectOne(_ selector: Selector) throws(BPFError) -> Program {
        let all = try select(selector)
        if all.count > 1 {
            throw BPFError("several programs match \(selector) (ids \(all.map { String($0.id.rawValue) }.joined(separator: ", ")))")
        }
        return all[0]
    }

    /// Pins the program at `path` (on a bpffs mount). Calls `bpf_obj_pin`.
    public func pin(at path: String) throws(BPFError) {
        try Kernel.pin(fd, at: path, what: "program \(info.name)")
    }
}
