import CLibYAML
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns libyaml events into a flat `YAMLDocument`, one open collection per frame.
struct TreeBuilder {
    typealias Record = YAMLDocument.Record

    /// A collection whose end event has not come yet; its children wait in `scratch` from `scratchStart` on.
    struct Frame {
        var index: UInt32
        var isMapping: Bool
        var anchor: String?
        var scratchStart: Int
        var pendingKey: UInt32?
        var pendingKeyIsMerge = false
        var pendingKeyIsValid = true
        var merges: [UInt32] = []
        /// Built once a mapping has many keys (a `projects:` of thousands), for duplicate checks.
        var keyIndex: [String: UInt32]?
    }

    let file: String
    let limits: YAMLReader.Limits
    var records: [Record] = []
    var text: [UInt8] = []
    var children: [UInt32] = []
    var scratch: [UInt32] = []
    var stack: [Frame] = []
    var anchors: [String: UInt32] = [:]
    var root: UInt32?
    var documents = 0
    var expanded = 0
    var diagnostics: [Diagnostic] = []
    var failed = false

    init(file: String, limits: YAMLReader.Limits, expectedBytes: Int) {
        self.file = file
        self.limits = limits
        text.reserveCapacity(expectedBytes)
        records.reserveCapacity(expectedBytes / 8)
        children.reserveCapacity(expectedBytes / 8)
    }

    func mark(_ m: yaml_mark_t) -> SourceMark {
        SourceMark(file: file, line: Int(m.line) + 1, column: Int(m.column) + 1)
    }

    func mark(of index: UInt32) -> SourceMark {
        let r = records[Int(index)]
        return SourceMark(file: file, line: Int(r.line), column: Int(r.column))
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

    mutating func rejectTag(_ tag: UnsafeMutablePointer<yaml_char_t>?, at: yaml_mark_t) {
        guard let tag = Self.string(tag) else { return }
        let shown = tag.hasPrefix("tag:yaml.org,2002:") ? "!!" + tag.dropFirst("tag:yaml.org,2002:".count) : tag
        diagnostics.append(
            Diagnostic(
                at: mark(at), code: "yaml-tag",
                message: "YAML tags are not supported (found '\(shown)'); write the value without a tag"))
    }

    mutating func newRecord(
        _ kind: Record.Kind, style: YAMLScalar.Style = .plain, at m: yaml_mark_t, start: Int = 0, count: Int = 0
    ) -> UInt32 {
        records.append(
            Record(
                kind: kind, style: style, line: UInt32(m.line + 1), column: UInt32(m.column + 1),
                start: UInt32(start), count: UInt32(count), weight: 1))
        return UInt32(records.count - 1)
    }

    func keyBytesEqual(_ a: UInt32, _ b: UInt32) -> Bool {
        let ra = records[Int(a)]
        let rb = records[Int(b)]
        guard ra.count == rb.count else { return false }
        return text.withUnsafeBufferPointer { t in
            memcmp(t.baseAddress! + Int(ra.start), t.baseAddress! + Int(rb.start), Int(ra.count)) == 0
        }
    }

    func keyString(_ index: UInt32) -> String {
        let r = records[Int(index)]
        return text.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(rebasing: $0[Int(r.start)..<Int(r.start + r.count)]), as: UTF8.self)
        }
    }

    mutating func handle(_ event: inout yaml_event_t) {
        let start = event.start_mark
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                fail(
                    mark(start), "yaml-multiple-documents",
                    "a second YAML document starts here; a file in mirrors.d holds one document (split it into two files)"
                )
            }
            if event.data.document_start.tag_directives.start != event.data.document_start.tag_directives.end {
                diagnostics.append(
                    Diagnostic(at: mark(start), code: "yaml-tag", message: "%TAG directives are not supported"))
            }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            if scalar.tag != nil { rejectTag(scalar.tag, at: start) }
            let offset = text.count
            if let value = scalar.value, scalar.length > 0 {
                text.append(contentsOf: UnsafeBufferPointer(start: value, count: scalar.length))
            }
            let style: YAMLScalar.Style
            switch scalar.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            let index = newRecord(.scalar, style: style, at: start, start: offset, count: scalar.length)
            complete(index, anchor: scalar.anchor == nil ? nil : Self.string(scalar.anchor))
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let index = anchors[name] else {
                fail(mark(start), "yaml-alias", "alias '*\(name)' refers to no anchor defined before it")
                return
            }
            expanded += records[Int(index)].weight
            if expanded > limits.maxAliasExpansion {
                fail(
                    mark(start), "yaml-alias-expansion",
                    "aliases expand to more than \(limits.maxAliasExpansion) nodes here; refusing to expand further (a \"billion laughs\" file?)"
                )
                return
            }
            // An alias stands for its anchor's node itself, marks and all: errors inside it point at the anchor.
            complete(index, anchor: nil)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let tag = isMapping ? event.data.mapping_start.tag : event.data.sequence_start.tag
            let anchor = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
            if tag != nil { rejectTag(tag, at: start) }
            if stack.count >= limits.maxDepth {
                fail(mark(start), "yaml-depth", "collections nest deeper than \(limits.maxDepth) levels")
                return
            }
            let index = newRecord(isMapping ? .mapping : .sequence, at: start)
            stack.append(
                Frame(
                    index: index, isMapping: isMapping, anchor: anchor == nil ? nil : Self.string(anchor),
                    scratchStart: scratch.count))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            var frame = stack.removeLast()
            if frame.isMapping && !frame.merges.isEmpty { applyMerges(&frame) }
            var weight = 1
            for child in scratch[frame.scratchStart...] { weight += records[Int(child)].weight }
            records[Int(frame.index)].start = UInt32(children.count)
            records[Int(frame.index)].count = UInt32(scratch.count - frame.scratchStart)
            records[Int(frame.index)].weight = weight
            children.append(contentsOf: scratch[frame.scratchStart...])
            scratch.removeSubrange(frame.scratchStart...)
            complete(frame.index, anchor: frame.anchor)
        default:
            break
        }
    }

    /// A node is finished: remember its anchor and hand it to the collection that holds it.
    mutating func complete(_ index: UInt32, anchor: String?) {
        if let anchor { anchors[anchor] = index }
        guard !stack.isEmpty else {
            root = index
            return
        }
        let top = stack.count - 1
        guard stack[top].isMapping else {
            scratch.append(index)
            return
        }
        guard let key = stack[top].pendingKey else {
            // This node is a key.
            let r = records[Int(index)]
            stack[top].pendingKey = index
            guard r.kind == .scalar else {
                diagnostics.append(
                    Diagnostic(
                        at: mark(of: index), code: "yaml-complex-key",
                        message:
                            "a key must be a plain word, not \(YAMLNode(document: partialDocument(), index: index).kindName)"
                    ))
                stack[top].pendingKeyIsValid = false
                return
            }
            stack[top].pendingKeyIsMerge =
                r.style == .plain && r.count == 2 && text[Int(r.start)] == 0x3C && text[Int(r.start) + 1] == 0x3C
            return
        }
        let isMerge = stack[top].pendingKeyIsMerge
        let isValid = stack[top].pendingKeyIsValid
        stack[top].pendingKey = nil
        stack[top].pendingKeyIsMerge = false
        stack[top].pendingKeyIsValid = true
        guard isValid else { return }
        if isMerge {
            stack[top].merges.append(index)
            return
        }
        if let first = findKey(key, in: top) {
            let earlier = mark(of: first)
            diagnostics.append(
                Diagnostic(
                    at: mark(of: key), code: "yaml-duplicate-key",
                    message:
                        "duplicate key '\(keyString(key))' in this mapping; it is first given at line \(earlier.line), column \(earlier.column)"
                ))
            return
        }
        addEntry(key: key, value: index, to: top)
    }

    /// The earlier key node of the open mapping `frame` whose text equals `key`'s.
    func findKey(_ key: UInt32, in frame: Int) -> UInt32? {
        if let index = stack[frame].keyIndex { return index[keyString(key)] }
        var i = stack[frame].scratchStart
        while i < scratch.count {
            if keyBytesEqual(scratch[i], key) { return scratch[i] }
            i += 2
        }
        return nil
    }

    mutating func addEntry(key: UInt32, value: UInt32, to frame: Int) {
        scratch.append(key)
        scratch.append(value)
        let pairs = (scratch.count - stack[frame].scratchStart) / 2
        if stack[frame].keyIndex != nil {
            stack[frame].keyIndex![keyString(key)] = key
        } else if pairs >= 16 {
            var index: [String: UInt32] = [:]
            var i = stack[frame].scratchStart
            while i < scratch.count {
                index[keyString(scratch[i])] = scratch[i]
                i += 2
            }
            stack[frame].keyIndex = index
        }
    }

    /// `<<: *base` or `<<: [*a, *b]`: keys not given explicitly come from the merged mappings, earlier ones first.
    mutating func applyMerges(_ frame: inout Frame) {
        stack.append(frame)
        let top = stack.count - 1
        for merge in frame.merges {
            let r = records[Int(merge)]
            let sources: [UInt32] =
                r.kind == .sequence ? Array(children[Int(r.start)..<Int(r.start + r.count)]) : [merge]
            for source in sources {
                let s = records[Int(source)]
                guard s.kind == .mapping else {
                    diagnostics.append(
                        Diagnostic(
                            at: mark(of: source), code: "yaml-merge",
                            message:
                                "'<<' merges mappings, but this is \(YAMLNode(document: partialDocument(), index: source).kindName)"
                        ))
                    continue
                }
                var i = Int(s.start)
                while i < Int(s.start + s.count) {
                    if findKey(children[i], in: top) == nil {
                        addEntry(key: children[i], value: children[i + 1], to: top)
                    }
                    i += 2
                }
            }
        }
        frame = stack.removeLast()
    }

    /// The document as built so far, for describing nodes in messages.
    func partialDocument() -> YAMLDocument {
        YAMLDocument(file: file, records: records, text: text, children: children, rootIndex: 0)
    }

    mutating func result() -> YAMLReader.Result {
        if !failed && root == nil && documents == 0 {
            diagnostics.append(
                Diagnostic(
                    file: file, code: "yaml-empty",
                    message: "file is empty; a file in mirrors.d holds a mapping (add keys, or remove the file)"))
        }
        guard !failed, let root else { return YAMLReader.Result(root: nil, diagnostics: diagnostics) }
        let document = YAMLDocument(file: file, records: records, text: text, children: children, rootIndex: root)
        return YAMLReader.Result(root: document.root, diagnostics: diagnostics)
    }
}
