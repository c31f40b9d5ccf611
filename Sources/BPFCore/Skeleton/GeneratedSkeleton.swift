/// What every generated skeleton class does, written once here rather than
/// in each generated file (which should stay near the size of the object it
/// embeds): the object, `load()`, `attach()`, `detach()`, `pin(at:)`.
public protocol GeneratedSkeleton: AnyObject {
    /// The runtime: the object, its sections, its links.
    var skeleton: BPFSkeleton { get }
}

extension GeneratedSkeleton {
    /// The object (maps, programs, BTF).
    public var object: BPFObject { skeleton.object }

    /// Creates the maps and loads the programs; global variables become live.
    public func load() throws(BPFError) { try skeleton.load() }

    /// Attaches the programs that attach by section name and registers the struct_ops maps.
    public func attach() throws(BPFError) { try skeleton.attach() }

    /// Detaches what `attach()` attached.
    public func detach() { skeleton.detach() }

    /// Publishes the loaded object at `path` on bpffs as `bpfswift object pin` does (with links/
    /// after `attach()`, as with --attach); the pins then hold it after this process exits.
    /// `replace` as `object pin --replace`.
    public func pin(at path: String, replace: Bool = false) throws(BPFError) { try skeleton.pin(at: path, replace: replace) }
}

/// A C struct or union a skeleton's `Types` names without spelling out its
/// members: one that the object reaches only through pointers or CO-RE
/// relocations (`task_struct` in an object built against vmlinux.h), whose
/// layout no map, global or program argument needs. `count` units of
/// `Unit` give its C size and alignment:
/// `typealias task_struct = BPFOpaque<1184, UInt64>` is 9472 bytes aligned
/// to 8. Its bytes are kept as they are (`gen skeleton OBJ types all`
/// declares every member instead).
public struct BPFOpaque<let count: Int, Unit: FixedWidthInteger & BitwiseCopyable & Sendable>:
    BTFCodable, Hashable, Sendable, BitwiseCopyable {
    /// The value's bytes, in `Unit`s.
    public var units: InlineArray<count, Unit>

    public init() { units = InlineArray(repeating: 0) }

    public static var btfSize: Int { count * MemoryLayout<Unit>.size }

    public init(btfBytes b: UnsafeRawBufferPointer) { self = BTFLayout.load(b, as: Self.self) }

    public func encode(btfBytes b: UnsafeMutableRawBufferPointer) { BTFLayout.store(self, b) }

    /// The value's bytes in its C layout.
    public var bytes: [UInt8] { btfBytes }

    public static func == (lhs: Self, rhs: Self) -> Bool { BTFLayout.bytesEqual(lhs, rhs) }

    public func hash(into hasher: inout Hasher) { BTFLayout.hashBytes(self, into: &hasher) }
}

/// A generated `Types` struct or union: layout-exact (its `MemoryLayout`
/// is the C layout), so its BTF bytes are its memory, read in one copy.
/// `btfBools`: byte offsets of C `bool`s, which become 0 or 1 on reading.
public protocol BTFRecord: BTFCodable, BitwiseCopyable {
    static var btfBools: [Int] { get }
}

extension BTFRecord {
    public static var btfBools: [Int] { [] }
    public static var btfSize: Int { MemoryLayout<Self>.size }
    public init(btfBytes b: UnsafeRawBufferPointer) { self = BTFLayout.load(b, as: Self.self, bools: Self.btfBools) }
    public func encode(btfBytes b: UnsafeMutableRawBufferPointer) { BTFLayout.store(self, b) }
}
