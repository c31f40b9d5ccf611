import Foundation
import PackagePlugin

/// Compiles a target's BPF C (`bpf/*.bpf.c`, which the target excludes) with
/// a clang that has the bpf target, against a vmlinux.h made from the running
/// kernel's BTF, and adds a Swift skeleton per object to the target
/// (`execsnoop.bpf.c` → `ExecsnoopSkeleton`). Every step is a build command
/// with declared inputs and outputs, so an unchanged .bpf.c is not recompiled.
@main
struct BPFSkeletonPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        guard let directory = (target as? TargetDirectory)?.targetDirectory else { return [] }
        let bpfDir = URL(filePath: directory).appending(path: "bpf")
        // Excluded files are not plugin inputs: find them on disk.
        var sources: [URL] = []
        var headers: [URL] = []
        if let walker = FileManager.default.enumerator(at: bpfDir, includingPropertiesForKeys: nil) {
            for case let url as URL in walker {
                let name = url.lastPathComponent
                if name.hasSuffix(".bpf.c") { sources.append(url) } else if name.hasSuffix(".h") { headers.append(url) }
            }
        }
        sources.sort { $0.path < $1.path }
        headers.sort { $0.path < $1.path }
        if sources.isEmpty {
            Diagnostics.warning("BPFSkeleton: no *.bpf.c files in \(bpfDir.path) (target \(target.name)); "
                + "put the BPF C there and add exclude: [\"bpf\"] to the target")
            return []
        }

        let tool = try context.tool(named: "BPFSkeletonTool").url
        let work = context.pluginWorkDirectoryURL
        var commands: [Command] = []

        // Only Swift files are declared as outputs: SwiftPM would take any
        // other output (vmlinux.h, the .bpf.o) as a C header or a resource of
        // the target. So the vmlinux.h step declares a small Swift file that
        // stands for it, and each object's step (clang, then the skeleton)
        // declares its skeleton.
        let include = work.appending(path: "include")
        let vmlinuxStamp = work.appending(path: "\(target.name)_vmlinux.swift")
        // SwiftPM makes every command depend on its executable (the tool)
        // already: a new generator regenerates.
        var inputs: [URL] = []
        if FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") {
            inputs.append(URL(filePath: "/sys/kernel/btf/vmlinux"))   // a new kernel: a new vmlinux.h
        }
        // A target may bring its own bpf/vmlinux.h (a machine without kernel
        // BTF, another kernel): the -I order below prefers it.
        commands.append(.buildCommand(
            displayName: "Generating vmlinux.h from the kernel's BTF for \(target.name)",
            executable: tool,
            arguments: ["vmlinux", include.appending(path: "vmlinux.h").path, vmlinuxStamp.path],
            inputFiles: inputs,
            outputFiles: [vmlinuxStamp]))

        // The toolchain's clang, one of the places the tool looks for a clang
        // with the bpf target.
        let toolchainClang = (try? context.tool(named: "clang"))?.url.path

        for source in sources {
            let stem = String(source.lastPathComponent.dropLast(".bpf.c".count))
            let object = work.appending(path: "obj/\(stem).bpf.o")
            let skeleton = work.appending(path: "\(stem).skeleton.swift")
            var arguments = ["build", source.path, object.path, skeleton.path,
                             "-I", source.deletingLastPathComponent().path,
                             "-I", bpfDir.path,
                             "-I", include.path]
            if let toolchainClang { arguments += ["--toolchain-clang", toolchainClang] }
            commands.append(.buildCommand(
                displayName: "Compiling BPF \(source.lastPathComponent) and generating its Swift skeleton",
                executable: tool,
                arguments: arguments,
                inputFiles: [source, vmlinuxStamp] + headers,
                outputFiles: [skeleton]))
        }
        return commands
    }
}

/// The target's directory. `directoryURL` needs PackageDescription 6.1 and
/// this package's tools version is 6.0; `directory` is deprecated, and
/// reaching it through this protocol keeps its warning out of every build
/// that uses the plugin.
protocol TargetDirectory {
    var directory: Path { get }
}

extension TargetDirectory {
    var targetDirectory: String { String(describing: directory) }
}

extension SwiftSourceModuleTarget: TargetDirectory {}
extension ClangSourceModuleTarget: TargetDirectory {}
