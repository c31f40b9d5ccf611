/// What `feature probe` found: the sections bpftool prints, in its order.
/// One model, rendered as text, JSON or C macros by the CLI.
public struct FeatureReport: Sendable {
    /// The sysctls under /proc/sys that govern BPF; -1 where unreadable
    /// (bpftool's convention, kept in its JSON).
    public struct Sysctls: Sendable {
        public var unprivilegedBPFDisabled: Int
        public var jitEnable: Int
        public var jitHarden: Int
        public var jitKallsyms: Int
        public var jitLimit: Int
    }

    /// One CONFIG_ option bpftool reports, and its value (nil: not set).
    public struct KernelOption: Sendable {
        public let name: String
        public let value: String?
        /// Whether `macros` prints it (only what BPF C programs use: CONFIG_HZ).
        public let inMacros: Bool
    }

    /// "Scanning system configuration...": absent when probing a device.
    public struct SystemConfiguration: Sendable {
        /// nil when /proc is not procfs (the sysctls were not read).
        public var sysctls: Sysctls?
        /// nil when no kernel config could be read; `kernelConfigProblem` says why.
        public var kernelConfig: [KernelOption]?
        public var kernelConfigProblem: String?
    }

    /// A program or map type, by libbpf's name, and whether the kernel takes it.
    public struct TypeSupport: Sendable {
        public let name: String
        public let rawValue: UInt32
        public let available: Bool
    }

    /// The helpers probed for one program type (in helper id order; the
    /// helpers left out without `full` are not in the list).
    public struct HelperSupport: Sendable {
        public struct Helper: Sendable {
            public let name: String
            public let available: Bool
        }
        public let programType: String
        public let programTypeSupported: Bool
        public let helpers: [Helper]
        public var anyAvailable: Bool { helpers.contains { $0.available } }
    }

    /// One of the miscellaneous features (large programs, bounded loops, ISA extensions).
    public struct MiscFeature: Sendable {
        /// The JSON key without "have_" ("large_insn_limit").
        public let key: String
        /// The text line's subject ("Large program size limit").
        public let description: String
        /// The macro's name without prefix and HAVE_ ("LARGE_INSN_LIMIT").
        public let macro: String
        public let available: Bool
    }

    public var system: SystemConfiguration?
    public var syscallAvailable: Bool
    /// Empty (with the rest) when the bpf() syscall is not available.
    public var programTypes: [TypeSupport]
    public var mapTypes: [TypeSupport]
    public var helpers: [HelperSupport]
    public var misc: [MiscFeature]
    /// Whether the helper section was probed at all (not when the syscall is missing).
    public var probedBeyondSyscall: Bool
}
