#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// The objects an update stores by reference: a map-of-maps holds inner map
/// file descriptors, a prog_array program file descriptors. These open them.
public enum MapValueReference {
    /// Opens the one program `selector` names (id, pinned, tag or name).
    /// Calls `bpf_prog_get_fd_by_id`, `bpf_obj_get`, `bpf_prog_get_info_by_fd`.
    public static func openProgram(_ selector: Selector) throws(BPFError) -> FileDescriptor {
        switch selector {
        case .id(let id):
            return try Kernel.open(.program, id: id)
        case .pinned(let path):
            let fd: FileDescriptor
            do { fd = try Kernel.openPinned(path) } catch {
                throw BPFError("open pinned program \(path)", errno: error.errno)
            }
            let kind = Kernel.kind(of: fd)
            if kind != .program {
                throw BPFError("open pinned program \(path): incorrect object type: \(kind?.rawValue ?? "unknown")")
            }
            return fd
        case .tag, .name:
            var found: [FileDescriptor] = []
            for id in try Kernel.ids(.program) {
                let fd: FileDescriptor
                do { fd = try Kernel.open(.program, id: id) } catch {
                    if error.errno == ENOENT { continue }
                    throw error
                }
                var info = bpf_prog_info()
                var len = UInt32(MemoryLayout<bpf_prog_info>.size)
                if bpf_prog_get_info_by_fd(fd.rawValue, &info, &len) != 0 {
                    throw BPFError("get info of program id \(id)", errno: Glibc.errno)
                }
                let matches: Bool
                if case .tag(let tag) = selector {
                    matches = bytesFromCArray(info.tag) == tag
                } else if case .name(let name) = selector {
                    let kernelName = stringFromCArray(info.name)
                    // The kernel keeps 15 characters of a longer name.
                    matches = kernelName == name
                        || (kernelName.utf8.count == 15 && name.utf8.count > 15 && name.hasPrefix(kernelName))
                } else {
                    matches = false
                }
                if matches { found.append(fd) }
            }
            if found.isEmpty { throw BPFError("find program \(selector)", errno: ENOENT) }
            if found.count > 1 { throw BPFError("\(selector): several programs match this handle") }
            return found[0]
        }
    }
}
