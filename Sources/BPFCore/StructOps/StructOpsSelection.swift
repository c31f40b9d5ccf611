#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A struct_ops map of an opened (not yet loaded) object, as registering it
/// sees it: which kernel type it implements, whether it is created and
/// registered through a link, and the name it registers under.
public struct StructOpsMapPlan: Sendable, Equatable {
    /// The map's name in the object (the variable's name).
    public var name: String
    /// The local struct type, e.g. "tcp_congestion_ops___v1".
    public var localTypeName: String
    /// The kernel struct it implements: the local name up to its `___suffix`.
    public var kernelTypeName: String
    /// Declared in `.struct_ops.link` (BPF_F_LINK): registered through a link.
    public var usesLink: Bool
    /// Whether the map is created at load (its autocreate).
    public var created: Bool
    /// The value of the struct's `name` member (a char array), the name the
    /// kernel registers it under, or nil when the struct has none.
    public var registeredName: String?

    public init(name: String, localTypeName: String, kernelTypeName: String, usesLink: Bool,
                created: Bool, registeredName: String?) {
        self.name = name
        self.localTypeName = localTypeName
        self.kernelTypeName = kernelTypeName
        self.usesLink = usesLink
        self.created = created
        self.registeredName = registeredName
    }

    /// The name the kernel gives the map (BPF_OBJ_NAME_LEN - 1 bytes of it),
    /// which bpftool names its link pin after.
    public var kernelMapName: String {
        var bytes = Array(name.utf8)
        if bytes.count > 15 { bytes = Array(bytes[0..<15]) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The parts of registering struct_ops maps that happen before load, shared by
/// `struct_ops register` and `object pin --attach`.
public enum StructOps {
    /// libbpf 1.4 is the first to match `___suffix` local types to kernel
    /// types, to honour autocreate for struct_ops maps (`?.struct_ops`) and to
    /// load only the struct_ops programs that a created map uses.
    public static let minimumLibbpf = (major: UInt32(1), minor: UInt32(4))

    /// The libbpf this process runs with. Calls `libbpf_major_version` / `libbpf_minor_version`.
    public static var runningLibbpf: (major: UInt32, minor: UInt32) {
        (libbpf_major_version(), libbpf_minor_version())
    }

    /// Fails with one clear error when `version` (default: the running libbpf)
    /// is older than 1.4, before anything is opened: such a libbpf refuses
    /// `?.struct_ops` sections and suffixed types with errors of its own.
    public static func requireLibbpfSupport(_ version: (major: UInt32, minor: UInt32) = runningLibbpf) throws(BPFError) {
        let (need, have) = (minimumLibbpf, version)
        if have.major > need.major || (have.major == need.major && have.minor >= need.minor) { return }
        throw BPFError("struct_ops registration needs libbpf \(need.major).\(need.minor) or newer; this process runs libbpf \(have.major).\(have.minor)",
                       detail: "older libbpf cannot match ___suffix types to kernel types, skip ?.struct_ops maps, or leave the programs of skipped maps unloaded")
    }

    /// libbpf's essential name of a type: the name up to its last `X___Y`
    /// flavor separator ("tcp_congestion_ops___v1" → "tcp_congestion_ops").
    public static func essentialName(_ name: String) -> String {
        let b = Array(name.utf8)
        let underscore = UInt8(ascii: "_")
        var i = b.count - 5
        while i >= 0 {
            if b[i] != underscore && b[i + 1] == underscore && b[i + 2] == underscore
                && b[i + 3] == underscore && b[i + 4] != underscore {
                return String(decoding: b[0...i], as: UTF8.self)
            }
            i -= 1
        }
        return name
    }

    static func isStructOpsMap(_ m: ObjectMap) -> Bool {
        m.type == BPF_MAP_TYPE_STRUCT_OPS.rawValue
    }

    /// The struct_ops maps of an opened object, in the object's order.
    /// Reads the object's BTF and each map's initial value (the shadow struct).
    /// Calls `bpf_map__btf_value_type_id`, `bpf_map__initial_value`, `bpf_map__map_flags`.
    public static func maps(of object: BPFObject) -> [StructOpsMapPlan] {
        let btf = object.btf
        var out: [StructOpsMapPlan] = []
        for m in object.maps where isStructOpsMap(m) {
            let typeID = btf.map { $0.skipModifiers(m.btfValueTypeID) } ?? 0
            let type = btf?.type(typeID)
            let local = type?.name ?? ""
            var registered: String? = nil
            if let btf, let type, let value = m.initialValue {
                registered = nameMember(of: type, in: btf, value: value)
            }
            out.append(StructOpsMapPlan(name: m.name, localTypeName: local, kernelTypeName: essentialName(local),
                                        usesLink: m.flags & UInt32(BPF_F_LINK) != 0, created: m.autocreate,
                                        registeredName: registered))
        }
        return out
    }

    /// The string in the struct's `name` member (an array of 1-byte ints),
    /// up to its first NUL.
    private static func nameMember(of type: BTFType, in btf: BTF, value: [UInt8]) -> String? {
        guard let member = type.members.first(where: { $0.name == "name" }), member.bitfieldSize == 0,
              let array = btf.type(btf.skipModifiers(member.typeID)), array.kind == .array,
              let element = btf.type(btf.skipModifiers(array.arrayElementType)),
              element.kind == .int, element.size == 1 else { return nil }
        let start = Int(member.bitOffset / 8)
        let end = min(start + Int(array.arrayCount), value.count)
        guard start < end else { return nil }
        let bytes = value[start..<end]
        let stop = bytes.firstIndex(of: 0) ?? end
        return String(decoding: bytes[start..<stop], as: UTF8.self)
    }

    /// Sets the autocreate of the maps named in `enable` (on) and `disable`
    /// (off), any map of the object. A name that is no map of the object, or
    /// one given both ways, is an error. Calls `bpf_map__set_autocreate`.
    public static func select(_ object: BPFObject, enable: [String], disable: [String]) throws(BPFError) {
        for name in enable where disable.contains(name) {
            throw BPFError("map \(name) is given with both --enable and --disable", errno: EINVAL)
        }
        for (names, on) in [(enable, true), (disable, false)] {
            for name in names {
                guard let m = object.map(named: name) else {
                    let known = object.maps.map(\.name).joined(separator: ", ")
                    throw BPFError("\(on ? "--enable" : "--disable") \(name): object \(object.name) has no map of that name",
                                   detail: known.isEmpty ? nil : "its maps: \(known)")
                }
                try m.setAutocreate(on)
            }
        }
    }

    /// Refuses a selection in which two created maps would register the same
    /// name for the same kernel struct (the kernel would refuse the second
    /// one after the first was registered).
    public static func checkDistinctNames(_ plans: [StructOpsMapPlan]) throws(BPFError) {
        var seen: [String: StructOpsMapPlan] = [:]
        for p in plans where p.created {
            guard let n = p.registeredName else { continue }
            let key = p.kernelTypeName + "\u{0}" + n
            if let first = seen[key] {
                throw BPFError("struct_ops maps \(first.name) and \(p.name) would both register \(p.kernelTypeName) \"\(n)\": choose one with --enable/--disable; nothing was loaded")
            }
            seen[key] = p
        }
    }
}
