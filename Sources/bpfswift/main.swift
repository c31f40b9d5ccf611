#if canImport(Glibc)
import Glibc
#endif
import BPFSwiftCLI

// A reader that goes away (`bpfswift ... | head`) must not kill us with SIGPIPE.
signal(SIGPIPE, SIG_IGN)
// The process ends right after the run: descriptors may be left for exit to close.
CLI.exitsAfterRun = true
exit(CLI.run(CommandLine.arguments, out: OutputSink(fd: 1), err: OutputSink(fd: 2)))
