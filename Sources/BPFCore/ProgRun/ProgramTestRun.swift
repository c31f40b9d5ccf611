#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// One BPF_PROG_TEST_RUN.
public struct ProgramTestRun {
    public var retval: UInt32
    public var duration: UInt32
    public var dataOut: [UInt8]?
    public var ctxOut: [UInt8]?

    /// Runs the program once per `repeat` on `dataIn`/`ctxIn` (nil: none),
    /// with output buffers of `dataSizeOut`/`ctxSizeOut` bytes (default 32 KiB
    /// when there is input, as bpftool). Calls `bpf_prog_test_run_opts`.
    public static func run(_ program: FileDescriptor, dataIn: [UInt8]?, dataSizeOut: UInt32, ctxIn: [UInt8]?,
                           ctxSizeOut: UInt32, repeat count: UInt32) throws(BPFError) -> ProgramTestRun {
        var dIn = dataIn ?? [], cIn = ctxIn ?? []
        var dOut = [UInt8](repeating: 0, count: dataIn == nil ? 0 : Int(dataSizeOut == 0 ? 32768 : dataSizeOut))
        var cOut = [UInt8](repeating: 0, count: ctxIn == nil ? 0 : Int(ctxSizeOut == 0 ? 32768 : ctxSizeOut))
        return try withLibbpfOptions(bpf_test_run_opts.self) { (opts) throws(BPFError) -> ProgramTestRun in
            let r: Int32 = dIn.withUnsafeMutableBytes { di in dOut.withUnsafeMutableBytes { dout in
                cIn.withUnsafeMutableBytes { ci in cOut.withUnsafeMutableBytes { cout in
                    if dataIn != nil {
                        opts.pointee.data_in = UnsafeRawPointer(di.baseAddress)
                        opts.pointee.data_size_in = UInt32(di.count)
                        opts.pointee.data_out = dout.baseAddress
                        opts.pointee.data_size_out = UInt32(dout.count)
                    } else {
                        opts.pointee.data_size_out = dataSizeOut
                    }
                    if ctxIn != nil {
                        opts.pointee.ctx_in = UnsafeRawPointer(ci.baseAddress)
                        opts.pointee.ctx_size_in = UInt32(ci.count)
                        opts.pointee.ctx_out = cout.baseAddress
                        opts.pointee.ctx_size_out = UInt32(cout.count)
                    } else {
                        opts.pointee.ctx_size_out = ctxSizeOut
                    }
                    opts.pointee.repeat = Int32(bitPattern: count)
                    return bpf_prog_test_run_opts(program.rawValue, opts)
                } }
            } }
            if r != 0 { throw BPFError("failed to run program", errno: r == -1 ? Glibc.errno : -r) }
            let ds = Int(opts.pointee.data_size_out), cs = Int(opts.pointee.ctx_size_out)
            return ProgramTestRun(retval: opts.pointee.retval, duration: opts.pointee.duration,
                                  dataOut: ds > 0 ? Array(dOut.prefix(ds)) : nil,
                                  ctxOut: cs > 0 ? Array(cOut.prefix(cs)) : nil)
        }
    }
}
