import CLibYAML

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
            return Result(root: nil, diagnostics: [Diagnostic(file: file, code: "yaml-too-large",
                message: "file is \(bytes.count) bytes; the limit is \(limits.maxBytes)")])
        }
        var builder = TreeBuilder(file: file, limits: limits)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return Result(root: nil, diagnostics: [Diagnostic(file: file, code: "yaml-error", message: "libyaml could not start")])
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
            var line = 1, column = 1
            for byte in bytes[..<offset] {
                if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
            }
            var message = problem
            if parser.problem_value != -1 { message += " (byte 0x\(String(parser.problem_value, radix: 16, uppercase: true)))" }
            if problem.contains("UTF-8") || problem.contains("octet") { message = "not valid UTF-8: " + message }
            return Diagnostic(file: file, line: line, column: column, code: "yaml-encoding", message: message)
        }
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            message = "\(context) (line \(parser.context_mark.line + 1), column \(parser.context_mark.column + 1)): \(problem)"
        }
        return Diagnostic(file: file, line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1,
                          code: "yaml-syntax", message: message)
    }
}

/// Turns libyaml events into a tree, one open collection per frame.
private struct TreeBuilder {
    struct Frame {
        var isMapping: Bool
        var mark: SourceMark
        var anchor: String?
        var items: [YAMLNode] = []
        var entries: [YAMLEntry] = []
        var index: [String: Int] = [:]
        var pendingKey: (key: String, mark: SourceMark, isMerge: Bool, isValid: Bool)?
        var merges: [YAMLNode] = []
    }

    let file: String
    let limits: YAMLReader.Limits
    var stack: [Frame] = []
    var anchors: [String: YAMLNode] = [:]
    var root: YAMLNode?
    var documents = 0
    var expanded = 0
    var diagnostics: [Diagnostic] = []
    var failed = false

    init(file: String, limits: YAMLReader.Limits) {
        self.file = file
        self.limits = limits
    }

    func mark(_ m: yaml_mark_t) -> SourceMark {
        SourceMark(file: file, line: Int(m.line) + 1, column: Int(m.column) + 1)
    }

    mutating func fail(_ diagnostic: Diagnostic) {
        diagnostics.append(diagnostic)
        failed = true
    }

    mutating func fail(_ at: SourceMark, _ code: String, _ message: String) {
        fail(Diagnostic(at: at, code: code, message: message))
    }

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    mutating func rejectTag(_ tag: UnsafeMutablePointer<yaml_char_t>?, at: SourceMark) {
        guard let tag = Self.string(tag) else { return }
        let shown = tag.hasPrefix("tag:yaml.org,2002:") ? "!!" + tag.dropFirst("tag:yaml.org,2002:".count) : tag
        diagnostics.append(Diagnostic(at: at, code: "yaml-tag",
            message: "YAML tags are not supported (found '\(shown)'); write the value without a tag"))
    }

    mutating func handle(_ event: inout yaml_event_t) {
        let start = mark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                fail(start, "yaml-multiple-documents",
                     "a second YAML document starts here; a file in mirrors.d holds one document (split it into two files)")
            }
            if event.data.document_start.tag_directives.start != event.data.document_start.tag_directives.end {
                diagnostics.append(Diagnostic(at: start, code: "yaml-tag", message: "%TAG directives are not supported"))
            }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            rejectTag(scalar.tag, at: start)
            let text = scalar.value.map {
                String(decoding: UnsafeBufferPointer(start: $0, count: scalar.length), as: UTF8.self)
            } ?? ""
            let style: YAMLScalar.Style
            switch scalar.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            complete(YAMLNode(.scalar(YAMLScalar(text, style: style)), mark: start), anchor: Self.string(scalar.anchor))
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let node = anchors[name] else {
                fail(start, "yaml-alias", "alias '*\(name)' refers to no anchor defined before it")
                return
            }
            expanded += node.weight
            if expanded > limits.maxAliasExpansion {
                fail(start, "yaml-alias-expansion",
                     "aliases expand to more than \(limits.maxAliasExpansion) nodes here; refusing to expand further (a \"billion laughs\" file?)")
                return
            }
            // An alias stands for its anchor's node, marks and all: errors inside it point at the anchor.
            complete(node, anchor: nil)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let tag = isMapping ? event.data.mapping_start.tag : event.data.sequence_start.tag
            let anchor = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
            rejectTag(tag, at: start)
            if stack.count >= limits.maxDepth {
                fail(start, "yaml-depth", "collections nest deeper than \(limits.maxDepth) levels")
                return
            }
            stack.append(Frame(isMapping: isMapping, mark: start, anchor: Self.string(anchor)))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            var frame = stack.removeLast()
            if frame.isMapping {
                applyMerges(&frame)
                complete(YAMLNode(.mapping(frame.entries), mark: frame.mark), anchor: frame.anchor)
            } else {
                complete(YAMLNode(.sequence(frame.items), mark: frame.mark), anchor: frame.anchor)
            }
        default:
            break
        }
    }

    /// A node is finished: remember its anchor and hand it to the collection that holds it.
    mutating func complete(_ node: YAMLNode, anchor: String?) {
        if let anchor { anchors[anchor] = node }
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        guard stack[top].isMapping else {
            stack[top].items.append(node)
            return
        }
        guard let pending = stack[top].pendingKey else {
            // This node is a key.
            guard case .scalar(let key) = node.content else {
                diagnostics.append(Diagnostic(at: node.mark, code: "yaml-complex-key",
                    message: "a key must be a plain word, not \(node.kindName)"))
                stack[top].pendingKey = ("", node.mark, false, false)
                return
            }
            stack[top].pendingKey = (key.text, node.mark, key.isPlain && key.text == "<<", true)
            return
        }
        stack[top].pendingKey = nil
        guard pending.isValid else { return }
        if pending.isMerge {
            stack[top].merges.append(node)
            return
        }
        if let first = firstIndex(of: pending.key, in: stack[top]) {
            let earlier = stack[top].entries[first].keyMark
            diagnostics.append(Diagnostic(at: pending.mark, code: "yaml-duplicate-key",
                message: "duplicate key '\(pending.key)' in this mapping; it is first given at line \(earlier.line), column \(earlier.column)"))
            return
        }
        append(YAMLEntry(key: pending.key, keyMark: pending.mark, value: node), to: &stack[top])
    }

    /// Small mappings are searched in place; large ones (a `projects:` of thousands) get an index.
    func firstIndex(of key: String, in frame: Frame) -> Int? {
        if frame.entries.count < 16 { return frame.entries.firstIndex { $0.key == key } }
        return frame.index[key]
    }

    func append(_ entry: YAMLEntry, to frame: inout Frame) {
        frame.entries.append(entry)
        if frame.entries.count == 16 {
            for (i, e) in frame.entries.enumerated() { frame.index[e.key] = i }
        } else if frame.entries.count > 16 {
            frame.index[entry.key] = frame.entries.count - 1
        }
    }

    /// `<<: *base` or `<<: [*a, *b]`: keys not given explicitly come from the merged mappings, earlier ones first.
    mutating func applyMerges(_ frame: inout Frame) {
        for merge in frame.merges {
            let sources: [YAMLNode]
            switch merge.content {
            case .mapping: sources = [merge]
            case .sequence(let items): sources = items
            case .scalar: sources = [merge]
            }
            for source in sources {
                guard case .mapping(let entries) = source.content else {
                    diagnostics.append(Diagnostic(at: source.mark, code: "yaml-merge",
                        message: "'<<' merges mappings, but this is \(source.kindName)"))
                    continue
                }
                for entry in entries where firstIndex(of: entry.key, in: frame) == nil {
                    append(entry, to: &frame)
                }
            }
        }
    }

    mutating func result() -> YAMLReader.Result {
        if !failed && root == nil && documents == 0 {
            diagnostics.append(Diagnostic(file: file, code: "yaml-empty",
                message: "file is empty; a file in mirrors.d holds a mapping (add keys, or remove the file)"))
        }
        return YAMLReader.Result(root: failed ? nil : root, diagnostics: diagnostics)
    }
}
