import BPFCore

/// The skeleton generator for build tools inside this package (the
/// BPFSkeleton plugin's tool): the same text `gen skeleton FILE` prints.
package enum SkeletonBuild {
    /// The Swift skeleton of the object at `objectPath`, its type named after
    /// the file ("execsnoop.bpf.o" → "ExecsnoopSkeleton").
    package static func swiftSkeleton(objectPath: String) throws -> String {
        try GenCommand.generateSkeleton(path: objectPath, name: nil, language: .swift)
    }

    /// The type name `swiftSkeleton(objectPath:)` gives the object at `path`.
    package static func swiftTypeName(objectPath: String) -> String {
        SkeletonNaming.swiftTypeName(fromPath: objectPath)
    }
}
