/// A YAML scalar as written: the text is never resolved to a type here, so that `no`, `on`, `1.10` or `0777`
/// stay exactly what the user wrote until a field says what it expects.
public struct YAMLScalar: Sendable, Hashable {
    public enum Style: UInt8, Sendable, Hashable { case plain, singleQuoted, doubleQuoted, literal, folded }

    public var text: String
    public var style: Style

    public init(_ text: String, style: Style = .plain) {
        self.text = text
        self.style = style
    }

    public var isPlain: Bool { style == .plain }

    /// YAML's null: an empty plain scalar, `~` or `null`.
    public var isNull: Bool {
        style == .plain && (text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL")
    }
}

/// One `key: value` pair of a mapping; keys are always scalars.
public struct YAMLEntry: Sendable {
    public let key: String
    /// The key's node, for its place in the source.
    public let keyNode: YAMLNode
    public let value: YAMLNode

    public var keyMark: SourceMark { keyNode.mark }
}

/// One parsed YAML document, held flat: nodes are records in one array, scalars' bytes share one buffer and
/// collections list their children by index, so that reading a large file allocates per file rather than per node.
/// Immutable once built.
public final class YAMLDocument: Sendable {
    struct Record: Sendable {
        enum Kind: UInt8, Sendable { case scalar, sequence, mapping }
        var kind: Kind
        var style: YAMLScalar.Style
        var line: UInt32
        var column: UInt32
        /// For a scalar, where its bytes start in `text`; for a collection, where its children start in `children`.
        var start: UInt32
        /// For a scalar, its length in bytes; for a collection, its number of children (keys and values, for a mapping).
        var count: UInt32
        /// The number of nodes in this subtree with aliases expanded; bounds what aliases may cost.
        var weight: Int
    }

    public let file: String
    let records: [Record]
    let text: [UInt8]
    let children: [UInt32]
    let rootIndex: UInt32

    init(file: String, records: [Record], text: [UInt8], children: [UInt32], rootIndex: UInt32) {
        self.file = file
        self.records = records
        self.text = text
        self.children = children
        self.rootIndex = rootIndex
    }

    public var root: YAMLNode { YAMLNode(document: self, index: rootIndex) }
}

/// A node of a YAML document that knows where it was written: a handle into its `YAMLDocument`.
public struct YAMLNode: Sendable {
    public enum Content: Sendable {
        case scalar(YAMLScalar)
        case sequence([YAMLNode])
        case mapping([YAMLEntry])
    }

    public let document: YAMLDocument
    let index: UInt32

    var record: YAMLDocument.Record { document.records[Int(index)] }

    public var mark: SourceMark {
        let r = record
        return SourceMark(file: document.file, line: Int(r.line), column: Int(r.column))
    }

    /// The number of nodes in this subtree with aliases expanded.
    public var weight: Int { record.weight }

    public var isMapping: Bool { record.kind == .mapping }
    public var isSequence: Bool { record.kind == .sequence }

    public var content: Content {
        let r = record
        switch r.kind {
        case .scalar:
            return .scalar(scalarValue(r))
        case .sequence:
            return .sequence(
                document.children[Int(r.start)..<Int(r.start + r.count)].map { YAMLNode(document: document, index: $0) }
            )
        case .mapping:
            var entries: [YAMLEntry] = []
            entries.reserveCapacity(Int(r.count / 2))
            var i = Int(r.start)
            let end = Int(r.start + r.count)
            while i < end {
                let key = YAMLNode(document: document, index: document.children[i])
                entries.append(
                    YAMLEntry(
                        key: key.text, keyNode: key,
                        value: YAMLNode(document: document, index: document.children[i + 1])))
                i += 2
            }
            return .mapping(entries)
        }
    }

    /// For a mapping, the entry whose key is `key`, found without building the mapping's other entries.
    public func entry(_ key: String) -> YAMLEntry? {
        let r = record
        guard r.kind == .mapping else { return nil }
        let keyLength = key.utf8.count
        var i = Int(r.start)
        let end = Int(r.start + r.count)
        while i < end {
            let k = document.records[Int(document.children[i])]
            if Int(k.count) == keyLength && bytesEqual(k, key) {
                return YAMLEntry(
                    key: key, keyNode: YAMLNode(document: document, index: document.children[i]),
                    value: YAMLNode(document: document, index: document.children[i + 1]))
            }
            i += 2
        }
        return nil
    }

    /// For a mapping, the entries whose keys are not among `known`.
    public func entries(notIn known: [String]) -> [YAMLEntry] {
        let r = record
        guard r.kind == .mapping else { return [] }
        var out: [YAMLEntry] = []
        var i = Int(r.start)
        let end = Int(r.start + r.count)
        while i < end {
            let k = document.records[Int(document.children[i])]
            if !known.contains(where: { $0.utf8.count == Int(k.count) && bytesEqual(k, $0) }) {
                let key = YAMLNode(document: document, index: document.children[i])
                out.append(
                    YAMLEntry(
                        key: key.text, keyNode: key,
                        value: YAMLNode(document: document, index: document.children[i + 1])))
            }
            i += 2
        }
        return out
    }

    private func bytesEqual(_ r: YAMLDocument.Record, _ key: String) -> Bool {
        document.text.withUnsafeBufferPointer { text in
            key.utf8.elementsEqual(UnsafeBufferPointer(rebasing: text[Int(r.start)..<Int(r.start + r.count)]))
        }
    }

    func scalarValue(_ r: YAMLDocument.Record) -> YAMLScalar {
        YAMLScalar(
            document.text.withUnsafeBufferPointer {
                String(
                    decoding: UnsafeBufferPointer(rebasing: $0[Int(r.start)..<Int(r.start + r.count)]), as: UTF8.self)
            }, style: r.style)
    }

    /// A scalar's text; empty for a collection.
    var text: String {
        let r = record
        return r.kind == .scalar ? scalarValue(r).text : ""
    }

    public var scalar: YAMLScalar? {
        let r = record
        return r.kind == .scalar ? scalarValue(r) : nil
    }

    /// What a person would call this node's kind, for messages.
    public var kindName: String {
        switch content {
        case .scalar(let s):
            if s.isNull { return "null" }
            return s.isPlain ? "'\(s.text)'" : "a quoted string"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}
