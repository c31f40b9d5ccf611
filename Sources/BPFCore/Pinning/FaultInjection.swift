#if canImport(Glibc)
import Glibc
#endif

/// Test hooks and interruption handling for multi-step operations
/// (`object pin`, `object unpin`).
///
/// `BPFSWIFT_FAULT=STEP` makes the run fail at STEP as if that step had
/// failed, so that tests can prove the rollback of every step.
/// `BPFSWIFT_FAULT=STEP:sleep=SECONDS` instead pauses there (printing
/// "bpfswift: fault: sleeping at STEP" on stderr first), so that a test can
/// kill the process or start a concurrent run at a known point.
///
/// While an operation runs, SIGINT, SIGTERM, SIGHUP and SIGQUIT are held
/// back; each step checks for one and, if one came, fails (the caller then
/// rolls back) instead of dying half-way.
public final class StepGuard {
    /// Every step name `object pin` checks, in order.
    public static let pinSteps = ["lock", "open", "configure", "load", "pin-maps", "pin-programs",
                                  "attach", "manifest", "pin-links", "publish-shared", "publish", "exchange"]
    /// The steps `object unpin` checks.
    public static let unpinSteps = ["unpin-lock", "unpin-move", "unpin-remove"]

    private var oldMask = sigset_t()
    private var held = sigset_t()
    private let fault: (step: String, sleep: Int?)?
    private var restored = false

    /// Starts holding back the termination signals.
    public init() {
        sigemptyset(&held)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&held, s) }
        pthread_sigmask(SIG_BLOCK, &held, &oldMask)
        if let raw = getenv("BPFSWIFT_FAULT") {
            let spec = String(cString: raw)
            if let colon = spec.firstIndex(of: ":") {
                let opt = spec[spec.index(after: colon)...]
                let secs = opt.hasPrefix("sleep=") ? Int(opt.dropFirst("sleep=".count)) : nil
                fault = (String(spec[..<colon]), secs ?? 0)
            } else {
                fault = spec.isEmpty ? nil : (spec, nil)
            }
        } else {
            fault = nil
        }
    }

    /// Called at each step: fails when a termination signal is pending or a fault is injected here.
    public func check(_ step: String) throws(BPFError) {
        try fault(at: step)
        try checkSignals(step)
    }

    /// Two steps with nothing done between them: each may fail by fault
    /// injection, in order; pending signals are looked for once (one
    /// syscall fewer, which after `--attach` also runs the attached programs).
    public func check(_ step: String, then next: String) throws(BPFError) {
        try fault(at: step)
        try fault(at: next)
        try checkSignals(step)
    }

    private func fault(at step: String) throws(BPFError) {
        if let f = fault, f.step == step {
            if let secs = f.sleep {
                let msg = "bpfswift: fault: sleeping at \(step)\n"
                _ = msg.withCString { write(2, $0, strlen($0)) }
                var ts = timespec(tv_sec: secs, tv_nsec: 0)
                var info = siginfo_t()
                let sig = sigtimedwait(&held, &info, &ts)
                if sig > 0 { throw interrupted(sig, step) }
            } else {
                throw BPFError("injected fault at step \(step) (BPFSWIFT_FAULT)", errno: EIO)
            }
        }
    }

    private func checkSignals(_ step: String) throws(BPFError) {
        var pending = sigset_t()
        sigpending(&pending)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] where sigismember(&pending, s) == 1 {
            var one = sigset_t()
            sigemptyset(&one); sigaddset(&one, s)
            var info = siginfo_t()
            var zero = timespec(tv_sec: 0, tv_nsec: 0)
            _ = sigtimedwait(&one, &info, &zero)
            throw interrupted(s, step)
        }
    }

    private func interrupted(_ sig: Int32, _ step: String) -> BPFError {
        let name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "SIGQUIT"
        return BPFError("interrupted by \(name) at step \(step); rolled back", errno: EINTR)
    }

    /// Stops holding signals back. A signal that came after the last check
    /// is consumed: the operation finished, and the process exits normally.
    public func finish() {
        guard !restored else { return }
        restored = true
        var info = siginfo_t()
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        while sigtimedwait(&held, &info, &zero) > 0 {}
        pthread_sigmask(SIG_SETMASK, &oldMask, nil)
    }

    deinit { finish() }
}
