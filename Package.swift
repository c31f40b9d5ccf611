// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "bpfswift",
    products: [
        .library(name: "BPFCore", targets: ["BPFCore"]),
        .executable(name: "bpfswift", targets: ["bpfswift"]),
        // `swift build` compiles a target's bpf/*.bpf.c and generates their skeletons.
        .plugin(name: "BPFSkeleton", targets: ["BPFSkeleton"]),
    ],
    targets: [
        // The system libbpf, found through pkg-config. Headers and static
        // inline shims only: no logic lives here.
        .systemLibrary(
            name: "CLibBPF",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]
        ),
        // The object model over libbpf and the bpf syscall. The only importer of CLibBPF.
        .target(name: "BPFCore", dependencies: ["CLibBPF"]),
        // Dispatcher, commands, renderers, generators: testable in-process.
        .target(name: "BPFSwiftCLI", dependencies: ["BPFCore"]),
        .executableTarget(name: "bpfswift", dependencies: ["BPFSwiftCLI"]),
        // The build plugin and the tool it runs (vmlinux.h, clang, skeleton:
        // the same generator as `gen skeleton`, in-process).
        .plugin(name: "BPFSkeleton", capability: .buildTool(), dependencies: ["BPFSkeletonTool"]),
        .executableTarget(name: "BPFSkeletonTool", dependencies: ["BPFSwiftCLI", "BPFCore"]),
        // Fuzz harness (libFuzzer via scripts/fuzz); built normally it replays
        // corpora and runs command batches for the robustness tests.
        .executableTarget(name: "BPFSwiftFuzz", dependencies: ["BPFSwiftCLI", "BPFCore"]),
        // Shared by the test targets: fixtures, unique bpffs dirs, running the binary, bpftool oracle.
        .target(name: "TestSupport", dependencies: ["BPFCore"], path: "Tests/TestSupport"),
        .testTarget(name: "BPFCoreTests", dependencies: ["BPFCore", "TestSupport"]),
        // The concurrency tests in the Swift 6 language mode (strict Sendable checks).
        .testTarget(name: "BPFCoreSwift6Tests", dependencies: ["BPFCore", "TestSupport"],
                    swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "BPFSwiftCLITests", dependencies: ["BPFSwiftCLI", "BPFCore", "TestSupport", "bpfswift"]),
    ],
    swiftLanguageModes: [.v5]
)
