/// Values by BTF type id: a plain array when the BTF is small (a program's
/// or an object's BTF has tens to thousands of types), a dictionary when it
/// is large (vmlinux, split module BTF). `prog show` builds one per object
/// BTF; hashing every lookup into a Dictionary cost more than the BTF parse.
struct TypeIDTable<Value> {
    private var dense: [Value?]
    private var sparse: [UInt32: Value] = [:]
    private let denseCount: Int

    /// `typeCount` ids (0..<typeCount) are expected; arrays up to `denseLimit`.
    init(typeCount: Int, denseLimit: Int) {
        denseCount = typeCount <= denseLimit ? max(typeCount, 0) : 0
        dense = denseCount > 0 ? [Value?](repeating: nil, count: denseCount) : []
    }

    subscript(id: UInt32) -> Value? {
        get {
            let i = Int(id)
            if i < denseCount { return dense[i] }
            return sparse.isEmpty ? nil : sparse[id]
        }
        set {
            let i = Int(id)
            if i < denseCount { dense[i] = newValue } else { sparse[id] = newValue }
        }
    }
}
