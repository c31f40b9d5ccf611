// A program built on generated Swift skeletons, as a user would write one.
// GenSkeletonRunTests generates the skeletons of counter, skel_counter,
// skel_globals, skel_ops, link_iter and skel_minimal next to this file, builds the package and runs
// it as root: every check prints "PASS name" or "FAIL name: detail", and
// the exit status is 1 when any failed.
//
//     SkelRun PIN_DIR
//     SkelRun --write-rodata-after-load
//
// PIN_DIR (on bpffs, empty): counter's skeleton pins itself at PIN_DIR/counter
// and stays pinned after exit, for the test to inspect.
// --write-rodata-after-load: writes .rodata of a loaded skeleton, a
// programming error that must stop the program with a message.
import BPFCore
#if canImport(Glibc)
import Glibc
#endif

var failures = 0

func check(_ name: String, _ ok: Bool, _ detail: @autoclosure () -> String = "") {
    if ok {
        print("PASS \(name)")
    } else {
        failures += 1
        print("FAIL \(name): \(detail())")
    }
}

func run(_ name: String, _ body: () throws -> Void) {
    do {
        try body()
    } catch {
        failures += 1
        print("FAIL \(name): threw \(error)")
    }
}

func callGetpid(_ n: Int) {
    for _ in 0..<n { _ = getpid() }
}

if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "--write-rodata-after-load" {
    do {
        let skel = try CounterSkeleton()
        try skel.load()
        skel.rodata.target_tgid = 1  // traps: the kernel froze .rodata at load
        print("rodata written after load: \(skel.rodata.target_tgid)")
    } catch {
        print("error: \(error)")
    }
    exit(0)
}

let pinDir = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : ""
// Read once: every getpid() call below is counted by the programs.
let pid = getpid()

// The SPEC's example, on counter.bpf.o.
run("counter") {
    let skel = try CounterSkeleton()
    skel.rodata.target_tgid = pid
    try skel.load()
    try skel.attach()
    callGetpid(7)
    let n = skel.bss.hits
    check("counter.bss.hits", n >= 7, "hits \(n)")
    let perTGID = try skel.maps.hit_map.lookup(UInt32(pid))
    check("counter.hit_map", perTGID == n, "hit_map[\(pid)] = \(String(describing: perTGID)), hits \(n)")
    check("counter.programs", skel.programs.count_enter.fd != nil && skel.programs.count_raw.fd != nil)
    check("counter.links", skel.links.count_enter != nil && skel.links.count_raw != nil)
    check("counter.rodata.after-load", skel.rodata.target_tgid == pid && !skel.rodata._globals.isWritable)
    check("counter.metadata", BTFLayout.string(skel.rodata.bpf_metadata_commit) == "abc123"
          && skel.rodata.bpf_metadata_build == 42, BTFLayout.string(skel.rodata.bpf_metadata_commit))
    if !pinDir.isEmpty {
        try skel.pin(at: pinDir + "/counter")
        check("counter.pin", true)
    }
}

// A hash map with a struct key, a per-CPU array and an untyped array.
run("skel_counter") {
    typealias T = SkelCounterSkeleton.Types
    let skel = try SkelCounterSkeleton()
    check("skel_counter.rodata.default", skel.rodata.key_kind == 1 && skel.rodata.target_tgid == 0)
    skel.rodata.target_tgid = UInt32(pid)
    skel.rodata.key_kind = 9
    check("skel_counter.rodata.before-load", skel.rodata.key_kind == 9 && skel.rodata._globals.isWritable)
    try skel.load()
    try skel.attach()
    callGetpid(5)
    let hits = skel.bss.hits
    check("skel_counter.bss.hits", hits >= 5, "hits \(hits)")

    let key = T.call_key(tgid: UInt32(pid), kind: 9, flags: 3)
    let stats = try skel.maps.calls.lookup(key)
    check("skel_counter.calls.lookup", stats?.count == hits, "stats \(String(describing: stats)), hits \(hits)")
    check("skel_counter.calls.cpu", (stats?.last_cpu ?? -1) >= 0 && (stats?.last_ns ?? 0) > 0)

    // Typed writes from user space, read back by key (padding zeroed: the
    // kernel compares whole keys).
    let mine = T.call_key(tgid: 1, kind: 2, flags: 0)
    try skel.maps.calls.update(mine, T.call_stats(count: 77, last_ns: 5, last_cpu: -1), flags: .noExist)
    check("skel_counter.calls.update", try skel.maps.calls.lookup(mine)?.count == 77)
    var noExistFailed = false
    do { try skel.maps.calls.update(mine, T.call_stats(), flags: .noExist) } catch let e as BPFError { noExistFailed = e.errno == EEXIST }
    check("skel_counter.calls.noexist", noExistFailed)
    let keys = Set(try skel.maps.calls.keys())
    check("skel_counter.calls.keys", keys == [key, mine], "keys \(keys)")
    let entries = try skel.maps.calls.entries()
    check("skel_counter.calls.entries", entries.count == 2 && entries.contains { $0.key == mine && $0.value.last_cpu == -1 })
    check("skel_counter.calls.delete", try skel.maps.calls.delete(mine) && !skel.maps.calls.delete(mine))
    check("skel_counter.calls.gone", try skel.maps.calls.lookup(mine) == nil)
    // The bytes of a typed key are the C layout: tgid, kind, flags, one zero pad byte.
    check("skel_counter.key.bytes", mine.btfBytes == [1, 0, 0, 0, 2, 0, 0, 0], "\(mine.btfBytes)")

    let perCPU = try skel.maps.percpu_hits.lookup(0) ?? []
    check("skel_counter.percpu", perCPU.count == SkeletonMap.possibleCPUs && perCPU.reduce(0, +) == hits,
          "per-CPU \(perCPU), hits \(hits)")

    try skel.maps.untyped.update(bytes: [1, 0, 0, 0], value: [1, 2, 3, 4, 5, 6, 7, 8])
    check("skel_counter.untyped", try skel.maps.untyped.lookup(bytes: [1, 0, 0, 0]) == [1, 2, 3, 4, 5, 6, 7, 8])

    skel.detach()
    check("skel_counter.detach", skel.links.count_getpid == nil)
    callGetpid(3)
    check("skel_counter.detached", skel.bss.hits == hits, "hits \(skel.bss.hits) after detach, \(hits) before")
}

// Globals of every kind and type.
run("skel_globals") {
    typealias T = SkelGlobalsSkeleton.Types
    let skel = try SkelGlobalsSkeleton()
    let cfg = skel.rodata.cfg
    check("globals.struct", cfg.origin == T.skel_point(x: 10, y: -20) && Array(cfg.path).map(\.y) == [2, 4, 6], "\(cfg.origin) \(Array(cfg.path))")
    // The generated types have the C layout: a record's bytes are the value.
    check("globals.layout", MemoryLayout<T.skel_config>.size == 88 && MemoryLayout<T.skel_config>.stride == 88
          && MemoryLayout<T.skel_config>.offset(of: \.label) == 41 && MemoryLayout<T.skel_config>.offset(of: \.ratio) == 80
          && MemoryLayout<T.skel_num>.size == 4 && MemoryLayout<T.skel_big>.size == 8,
          "\(MemoryLayout<T.skel_config>.size) \(MemoryLayout<T.skel_config>.stride)")
    check("globals.union", cfg.value.u == 0x01020304 && Array(cfg.value.b) == [4, 3, 2, 1], "\(cfg.value)")
    check("globals.enum", cfg.tint == .SKEL_BLUE && skel.data.big_value == .SKEL_BIG && skel.data.delta == .SKEL_NEG)
    check("globals.bitfields", cfg.enabled == 1 && cfg.mode == 5 && cfg.level == -3, "\(cfg.enabled) \(cfg.mode) \(cfg.level)")
    check("globals.chars", BTFLayout.string(cfg.label) == "label" && BTFLayout.string(skel.rodata.greeting) == "hello")
    check("globals.chars.string", cfg.label.string == "label" && skel.rodata.greeting.string == "hello")
    let keyed = try T.skel_config(label: "key")
    check("globals.chars.init", keyed.label.string == "key" && keyed.label.count == 12 && keyed.origin == T.skel_point())
    var tooLong = false
    do { _ = try T.skel_config(label: "twelve bytes") } catch { tooLong = true }
    check("globals.chars.too-long", tooLong)
    check("globals.anonymous", cfg.range.lo == 100 && cfg.range.hi == 200 && cfg.anon9.word == 0xaabbccdd
          && Array(cfg.anon9.bytes_) == [0xdd, 0xcc, 0xbb, 0xaa])
    check("globals.bool-double", cfg.on && cfg.ratio == 0.5 && skel.data.flag)
    check("globals.data", skel.data.increment == 1 && Array(skel.data.matrix).map { Array($0) } == [[1, 2, 3], [4, 5, 6]]
          && skel.data.ratio_f == 1.5 && skel.data.ratio_d == 2.25 && skel.data.wide == 1)
    check("globals.names", skel.data.`in` == 4 && skel.data.self_ == 5 && skel.data._globals_ == 6
          && skel.data.arr_struct.count == 2)
    check("globals.custom", skel.data_custom.custom_counter == 5 && skel.rodata_custom.custom_limit == 1_000_000)
    check("globals.kconfig.before-load", skel.kconfig.LINUX_KERNEL_VERSION == 0)
    check("globals.bss.zero", skel.bss.total == 0 && skel.bss.live_cfg == T.skel_config())

    // Round trip of a whole struct through its BTF bytes.
    var c2 = cfg
    c2.level = -8
    c2.mode = 7
    c2.value.s = -1
    c2.label = try .init(cString: "x")
    c2.path[1] = T.skel_point(x: 33, y: 44)
    check("globals.roundtrip", T.skel_config(btfBytes: c2.btfBytes) == c2)

    // .rodata before load: what the programs will see.
    var newCfg = cfg
    newCfg.origin.x = 41
    newCfg.level = -5
    skel.rodata.cfg = newCfg
    skel.rodata.filter_tgid = UInt32(pid)
    skel.data.increment = 2
    try skel.load()
    try skel.attach()
    callGetpid(3)
    check("globals.live.data", skel.bss.total == 6, "total \(skel.bss.total)")
    check("globals.live.custom", skel.data_custom.custom_counter == 8, "custom_counter \(skel.data_custom.custom_counter)")
    let kv = skel.kconfig.LINUX_KERNEL_VERSION
    check("globals.kconfig", kv != 0 && skel.bss.kernel_seen == UInt32(bitPattern: kv), "kconfig \(kv), seen \(skel.bss.kernel_seen)")
    check("globals.rodata.seen", skel.bss.last_x == 41 && skel.bss.last_level == -5, "last_x \(skel.bss.last_x) level \(skel.bss.last_level)")
    let live = skel.bss.live_cfg
    check("globals.bss.struct", live.origin.x == 42 && live.value.u == 0x01020304 && live.mode == 5, "\(live)")
    check("globals.rodata.read-only", !skel.rodata._globals.isWritable && skel.rodata.cfg.origin.x == 41
          && skel.rodata._globals.isLive)

    // Writes after load go to the live map: the program sees them.
    skel.data.increment = 100
    skel.bss.total = 0
    callGetpid(1)
    check("globals.live.write", skel.bss.total == 100, "total \(skel.bss.total)")
    // ... and byte-level access to the same map agrees.
    let raw = try skel.maps.bss.lookup(bytes: [0, 0, 0, 0]) ?? []
    check("globals.raw", raw.count == skel.maps.bss.valueSize && Array(raw.prefix(8)) == [100, 0, 0, 0, 0, 0, 0, 0])
}

// struct_ops: the shadow's slots and members, autocreate.
run("skel_ops") {
    let skel = try SkelOpsSkeleton()
    let ops = skel.struct_ops.skel_cc
    check("ops.slots", ops.ssthresh?.name == "skel_ssthresh" && ops.undo_cwnd?.name == "skel_undo_cwnd"
          && ops.cong_avoid?.name == "skel_cong_avoid")
    check("ops.name", BTFLayout.string(ops.name) == "bpfsw_skel", BTFLayout.string(ops.name))
    check("ops.autocreate.default", skel.maps.skel_cc.autocreate && !skel.maps.skel_cc_opt.autocreate)
    // Unique names: congestion controls are global to the host.
    let name = "bpfsw\(pid)"
    let optName = "bpfso\(pid)"
    ops.name = try .init(cString: name)
    ops.undo_cwnd = skel.programs.skel_undo_cwnd_alt
    check("ops.slot.set", ops.undo_cwnd?.name == "skel_undo_cwnd_alt")
    try skel.maps.skel_cc_opt.setAutocreate(true)
    skel.struct_ops.skel_cc_opt.name = try .init(cString: optName)
    try skel.load()
    // The replaced program is used by no created map: libbpf leaves it unloaded.
    check("ops.autoload", skel.programs.skel_undo_cwnd.fd == nil && skel.programs.skel_undo_cwnd_alt.fd != nil)
    try skel.attach()
    check("ops.links", skel.links.skel_cc != nil && skel.links.skel_cc_opt != nil)
    let available = readTextFile("/proc/sys/net/ipv4/tcp_available_congestion_control") ?? ""
    let names = available.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    check("ops.registered", names.contains(name) && names.contains(optName), available)
    skel.detach()
    let after = readTextFile("/proc/sys/net/ipv4/tcp_available_congestion_control") ?? ""
    let namesAfter = after.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    check("ops.unregistered", !namesAfter.contains(name) && !namesAfter.contains(optName), after)
}

// A struct_ops registration handed over to bpffs: it must outlive this process.
if !pinDir.isEmpty {
    run("skel_ops.pin") {
        let skel = try SkelOpsSkeleton()
        let name = "bpfsp\(pid)"
        skel.struct_ops.skel_cc.name = try .init(cString: name)
        try skel.load()
        try skel.attach()
        try skel.pin(at: pinDir + "/ops")
        print("INFO ops.pinned-name \(name)")
        check("ops.pin", true)
    }
}

// An object built against vmlinux.h: Types names the iterators' contexts
// (bpf_iter__task: no test run takes them) and what they point to
// (task_struct, cgroup) as opaque values of their C size and alignment;
// the skeleton opens and loads.
run("link_iter") {
    let skel = try LinkIterSkeleton()
    try skel.load()
    check("iter.load", skel.programs.link_iter_task.fd != nil && skel.programs.link_iter_cgroup.fd != nil)
    let btf = skel.object.btf
    func cLayout(_ name: String) -> (Int?, Int?) {
        guard let btf, let id = btf.find(name, kind: .structure) else { return (nil, nil) }
        return (btf.sizeOf(id), btf.alignOf(id))
    }
    typealias T = LinkIterSkeleton.Types
    let swift = [("task_struct", MemoryLayout<T.task_struct>.size, MemoryLayout<T.task_struct>.alignment),
                 ("cgroup", MemoryLayout<T.cgroup>.size, MemoryLayout<T.cgroup>.alignment),
                 ("bpf_iter__task", MemoryLayout<T.bpf_iter__task>.size, MemoryLayout<T.bpf_iter__task>.alignment)]
    for (name, size, align) in swift {
        let c = cLayout(name)
        check("iter.layout.\(name)", c.0 == size && c.1 == align, "Swift \(size)/\(align), C \(String(describing: c))")
    }
}

// Shaped like libbpf-bootstrap's minimal.bpf.c (no vmlinux.h): .bss set
// before load, a tracepoint program attached by its section name.
run("skel_minimal") {
    let skel = try SkelMinimalSkeleton()
    skel.bss.my_pid = pid
    try skel.load()
    try skel.attach()
    let fd = open("/dev/null", O_WRONLY)
    for _ in 0..<3 { _ = write(fd, "x", 1) }
    close(fd)
    check("minimal.run", skel.bss.hits >= 3 && skel.bss.my_pid == pid && skel.links.handle_tp != nil,
          "hits \(skel.bss.hits), my_pid \(skel.bss.my_pid)")
    skel.detach()
    check("minimal.detach", skel.links.handle_tp == nil)
}

print(failures == 0 ? "ALL PASS" : "\(failures) FAILED")
exit(failures == 0 ? 0 : 1)
