// swift-tools-version:6.0
// The Swift side of the events-per-second benchmark (scripts/bench): a
// consumer of ringbuf_fill.bpf.o through BPFCore's `records(as:)`, built in
// release against the bpfswift checkout three directories up.
import PackageDescription

// SwiftPM names a `.package(path:)` dependency after its directory.
let root = String(Context.packageDirectory.split(separator: "/").dropLast(3).last ?? "bpfswift")

let package = Package(
    name: "events-swift",
    dependencies: [.package(path: "../../..")],
    targets: [
        .executableTarget(name: "events-swift", dependencies: [.product(name: "BPFCore", package: root)]),
    ],
    swiftLanguageModes: [.v6]
)
