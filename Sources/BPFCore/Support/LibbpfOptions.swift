/// libbpf's `*_opts` structs are versioned by their first field, `size_t sz`,
/// and libbpf refuses (EINVAL, "has non-zero extra bytes") a struct whose
/// bytes past the last field it knows are not zero. Those bytes include tail
/// padding, which a Swift value of the struct does not keep zeroed: an
/// optimized build initializes field by field and copies only fields, so
/// padding holds whatever the stack held. (`btf_dump_emit_type_decl_opts`
/// failed that way in release builds only.)
///
/// `withLibbpfOptions` gives the call a heap copy whose every byte starts at
/// zero, with `sz` set, and passes that one address to libbpf: set fields
/// through `pointee.field`, which stores the field alone.
@inline(__always)
func withLibbpfOptions<T, R, E: Error>(
    _ type: T.Type, _ body: (UnsafeMutablePointer<T>) throws(E) -> R
) throws(E) -> R {
    let size = MemoryLayout<T>.size
    let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: MemoryLayout<T>.alignment)
    defer { raw.deallocate() }
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    // Every libbpf options struct starts with `size_t sz`.
    raw.storeBytes(of: size, as: Int.self)
    return try body(raw.bindMemory(to: T.self, capacity: 1))
}
