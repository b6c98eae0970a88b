// `trace:` on the master or a slave, and in the settings an agent receives: how the host names and describes itself
// in its Debian trace files.
extension SpecDecoder {
    public mutating func traceSettings(_ node: YAMLNode, what: Subject) -> TraceSettings? {
        guard let f = fields(node, what: what, known: TraceSettings.keys) else { return nil }
        let errorsBefore = diagnostics.all.count
        var trace = TraceSettings()
        trace.host = optional(f, "host") { text, _ throws(ValueError) in try TraceValue.host(text) }
        for field in TraceSettings.textFields {
            trace[keyPath: field.path] = optional(f, field.key) { text, _ throws(ValueError) in
                try TraceValue.check(text)
            }
        }
        trace.country = optional(f, "country") { text, _ throws(ValueError) in try TraceValue.country(text) }
        trace.upstreamWait = optional(f, "upstreamWait") { text, _ throws(ValueError) in try TimeSpan.parse(text) }
        trace.upstreamRetries = integer(f, "upstreamRetries", in: 0...100)
        guard diagnostics.all.count == errorsBefore else { return nil }
        return trace
    }
}
