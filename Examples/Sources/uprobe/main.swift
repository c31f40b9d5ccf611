// uprobe: trace a C library function's calls and return values.
//   uprobe [--all] [COUNT]
// Attaches an entry and a return probe to atoi in the C library, then calls
// atoi COUNT times (default 5) itself, once a second, and prints each call
// the probes saw. With --all, calls from every process are shown too.
import BPFCore
#if canImport(Glibc)
import Glibc
#endif

var everyProcess = false
var count = 5
for arg in CommandLine.arguments.dropFirst() {
    if arg == "--all" { everyProcess = true } else if let n = Int(arg), n > 0 { count = n } else {
        fputs("usage: uprobe [--all] [COUNT]\n", stderr)
        exit(2)
    }
}

/// The file the dynamic linker loaded `symbol` from (the C library): the
/// mapping of /proc/self/maps that holds the symbol's address.
func libraryDefining(_ symbol: String) throws -> String {
    guard let handle = dlopen(nil, RTLD_NOW), let address = dlsym(handle, symbol) else {
        throw BPFError("find \(symbol) in this process")
    }
    let at = UInt(bitPattern: address)
    guard let maps = fopen("/proc/self/maps", "r") else { throw BPFError("read /proc/self/maps") }
    defer { fclose(maps) }
    var line = [CChar](repeating: 0, count: 4096)
    while fgets(&line, Int32(line.count), maps) != nil {
        // start-end perms offset dev inode path
        let fields = String(cString: line).split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6, fields[5].hasPrefix("/") else { continue }
        let range = fields[0].split(separator: "-")
        guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
              start <= at, at < end else { continue }
        var path = fields[5...].joined(separator: " ")
        while path.hasSuffix("\n") { path.removeLast() }
        return path
    }
    throw BPFError("find the file of \(symbol) in /proc/self/maps")
}

do {
    let function = "atoi"
    let libc = try libraryDefining(function)
    let skel = try UprobeSkeleton()
    try skel.load()
    let pid = everyProcess ? nil : getpid()
    let entry = try skel.programs.on_call.attachUprobe(binary: libc, function: function, pid: pid, retprobe: false)
    let exit = try skel.programs.on_return.attachUprobe(binary: libc, function: function, pid: pid, retprobe: true)
    print("tracing \(function) in \(libc)" + (everyProcess ? "" : " called by pid \(getpid())"))

    // Make calls for the probes to see, from another task.
    let calls = count
    let caller = Task.detached {
        for i in 1...calls {
            try await Task.sleep(nanoseconds: 1_000_000_000)
            _ = atoi(String(i * 7))
        }
        try await Task.sleep(nanoseconds: 500_000_000)
    }
    let reader = Task {
        for try await c in skel.maps.calls.records(as: UprobeSkeleton.Types.call.self) {
            print("pid \(c.pid): \(function)(\"\(c.arg.string)\") = \(c.result)")
            fflush(stdout)
        }
    }
    try await caller.value
    reader.cancel()
    _ = try? await reader.value
    try entry.detach()
    try exit.detach()
} catch {
    fputs("uprobe: \(error)\n", stderr)
    exit(1)
}
