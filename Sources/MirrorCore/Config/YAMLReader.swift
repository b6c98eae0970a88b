import CLibYAML
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads one YAML document over libyaml's event API into `YAMLNode`s that carry their source marks.
///
/// It is stricter than YAML: one document per file, no tags, no duplicate keys, and aliases may not expand
/// past `Limits.maxAliasExpansion` nodes, so a "billion laughs" file is refused after a handful of events.
/// YAML 1.1 merge keys (`<<: *defaults`) are honoured; explicit keys win over merged ones.
public struct YAMLReader: Sendable {
    public struct Limits: Sendable {
        /// Nodes that aliases may add to one document, counted as if expanded.
        public var maxAliasExpansion: Int
        /// Collections nested deeper than this are refused.
        public var maxDepth: Int
        /// Larger inputs are refused before parsing.
        public var maxBytes: Int

        public init(maxAliasExpansion: Int = 1 << 20, maxDepth: Int = 64, maxBytes: Int = 64 << 20) {
            self.maxAliasExpansion = maxAliasExpansion
            self.maxDepth = maxDepth
            self.maxBytes = maxBytes
        }
    }

    /// What reading one input produced: the root node, or nil when the input could not be read as a whole.
    public struct Result: Sendable {
        public var root: YAMLNode?
        public var diagnostics: [Diagnostic]
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Reads `bytes`, naming `file` in every mark.
    public func read(_ bytes: [UInt8], file: String) -> Result {
        if bytes.count > limits.maxBytes {
            return Result(
                root: nil,
                diagnostics: [
                    Diagnostic(
                        file: file, code: "yaml-too-large",
                        message: "file is \(bytes.count) bytes; the limit is \(limits.maxBytes)")
                ])
        }
        var builder = TreeBuilder(file: file, limits: limits, expectedBytes: bytes.count)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return Result(
                root: nil, diagnostics: [Diagnostic(file: file, code: "yaml-error", message: "libyaml could not start")]
            )
        }
        defer { yaml_parser_delete(&parser) }
        // An empty buffer has no base address; libyaml needs a valid pointer all the same.
        let input = bytes.isEmpty ? [0] : bytes
        input.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, bytes.count)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    builder.fail(Self.parserDiagnostic(&parser, file: file, bytes: bytes))
                    return
                }
                let done = event.type == YAML_STREAM_END_EVENT
                builder.handle(&event)
                yaml_event_delete(&event)
                if done || builder.failed { return }
            }
        }
        return builder.result()
    }

    /// libyaml's own complaint, placed where it happened. Reader errors (bad encoding) carry a byte offset only.
    private static func parserDiagnostic(_ parser: inout yaml_parser_t, file: String, bytes: [UInt8]) -> Diagnostic {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
        if parser.error == YAML_READER_ERROR {
            let offset = min(Int(parser.problem_offset), bytes.count)
            var line = 1
            var column = 1
            for byte in bytes[..<offset] {
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
            }
            var message = problem
            if parser.problem_value != -1 {
                message += " (byte 0x\(String(parser.problem_value, radix: 16, uppercase: true)))"
            }
            if problem.contains("UTF-8") || problem.contains("octet") { message = "not valid UTF-8: " + message }
            return Diagnostic(file: file, line: line, column: column, code: "yaml-encoding", message: message)
        }
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            message =
                "\(context) (line \(parser.context_mark.line + 1), column \(parser.context_mark.column + 1)): \(problem)"
        }
        return Diagnostic(
            file: file, line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1,
            code: "yaml-syntax", message: message)
    }
}
