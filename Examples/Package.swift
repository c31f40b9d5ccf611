// swift-tools-version:6.0
// Example programs for bpfswift, modelled on what libbpf-bootstrap covers.
// Each is an executable whose BPF C lives in Sources/<name>/bpf/ and is
// compiled, with its Swift skeleton generated, by the BPFSkeleton plugin
// during `swift build`. Build and run (as root):
//   swift build && sudo .build/debug/minimal
import PackageDescription

// This package uses the bpfswift checkout one directory up. SwiftPM names a
// `.package(path:)` dependency after its directory (a clone named "bpfswift"
// gives "bpfswift"), so take that name rather than assume it. A project of
// your own would write `.package(url: "https://.../bpfswift.git", branch: "main")`
// and `package: "bpfswift"`. (A checkout in a directory named "examples"
// cannot build this package: both would be the package "examples".)
let bpfswift = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "bpfswift")

func example(_ name: String) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "BPFCore", package: bpfswift)],
        exclude: ["bpf"],
        plugins: [.plugin(name: "BPFSkeleton", package: bpfswift)]
    )
}

let package = Package(
    name: "bpfswift-examples",
    dependencies: [.package(path: "..")],
    targets: ["minimal", "bootstrap", "uprobe", "tc", "sockfilter", "task_iter"].map(example),
    swiftLanguageModes: [.v5]
)
