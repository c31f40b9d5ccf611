import BPFCore

/// The global options (`-j -p -d -f`).
public struct GlobalOptions {
    public var json = false
    public var pretty = false
    public var debug = false
    public var bpffs = false
    public init() {}
}

/// What every command gets: the options and the output sinks. Replaces
/// bpftool's global mutable state.
public final class Context {
    public let options: GlobalOptions
    public let out: OutputSink
    public let err: OutputSink
    private var _pinned: PinnedIndex?

    public init(options: GlobalOptions, out: OutputSink, err: OutputSink) {
        self.options = options
        self.out = out
        self.err = err
    }

    public var json: Bool { options.json }

    /// The pinned-path index for `-f`, built on first use, once per run.
    public var pinned: PinnedIndex {
        if let p = _pinned { return p }
        let p = PinnedIndex()
        _pinned = p
        return p
    }

    /// A fresh JSON writer with the run's pretty setting.
    public func makeJSONWriter() -> JSONWriter { JSONWriter(pretty: options.pretty) }

    /// Writes one JSON document (and a newline) built by `body`.
    public func emitJSON(_ body: (inout JSONWriter) throws -> Void) rethrows {
        var w = makeJSONWriter()
        try body(&w)
        out.write(bytes: w.bytes)
        out.line()
    }

    /// A warning line on stderr (bpftool's p_info/p_err style).
    public func warn(_ text: String) {
        err.line("Warning: " + text)
    }
}
