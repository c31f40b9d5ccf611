/// What the classes of a generated skeleton share, written once here so
/// that a skeleton holds only what is particular to its object (the file
/// should stay near the size of the object it embeds).

/// The base of a skeleton's section classes (`skel.bss`, `skel.rodata`):
/// the generated subclass adds one property per global variable, read and
/// written at its BTF offset through `_globals`.
open class SkeletonSection {
    /// The section's bytes, who may write them, whether they are live.
    public let _globals: SkeletonGlobals

    public init(_ globals: SkeletonGlobals) { _globals = globals }

    /// The variable at byte `offset` (`_globals.load(at:)`, `_globals.store(_:at:)`).
    @inlinable
    public subscript<V: BTFCodable>(offset: Int) -> V {
        get { _globals.load(at: offset) }
        set { _globals.store(newValue, at: offset) }
    }

    /// The variable `name` at byte `offset`; writing it is `_globals.store(_:at:name:)`,
    /// which names the variable when the section is not writable.
    @inlinable
    public subscript<V: BTFCodable>(offset: Int, name: String) -> V {
        get { _globals.load(at: offset) }
        set { _globals.store(newValue, at: offset, name: name) }
    }
}

/// The base of a skeleton's `Links` class (`skel.links`): the generated
/// subclass adds one property per program and struct_ops map, the link
/// `attach()` made for it or nil.
open class SkeletonLinks {
    /// The skeleton whose links these are.
    public let _skeleton: BPFSkeleton

    public init(_ skeleton: BPFSkeleton) { _skeleton = skeleton }
}

/// The base of a skeleton's struct_ops shadow classes (`skel.struct_ops.ops`):
/// the generated subclass adds one property per slot and data member.
open class SkeletonStructOpsShadow {
    /// The shadow's runtime.
    public let _ops: SkeletonStructOps

    public init(_ ops: SkeletonStructOps) { _ops = ops }
}
