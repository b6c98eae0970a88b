/// A YAML scalar as written: the text is never resolved to a type here, so that `no`, `on`, `1.10` or `0777`
/// stay exactly what the user wrote until a field says what it expects.
public struct YAMLScalar: Sendable, Hashable {
    public enum Style: Sendable, Hashable { case plain, singleQuoted, doubleQuoted, literal, folded }

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
    public var key: String
    public var keyMark: SourceMark
    public var value: YAMLNode

    public init(key: String, keyMark: SourceMark, value: YAMLNode) {
        self.key = key
        self.keyMark = keyMark
        self.value = value
    }
}

/// A node of a YAML document that knows where it was written.
public struct YAMLNode: Sendable {
    public enum Content: Sendable {
        case scalar(YAMLScalar)
        case sequence([YAMLNode])
        case mapping([YAMLEntry])
    }

    public var content: Content
    public var mark: SourceMark
    /// The number of nodes in this subtree with aliases expanded; bounds what aliases may cost.
    public internal(set) var weight: Int

    public init(_ content: Content, mark: SourceMark) {
        self.content = content
        self.mark = mark
        switch content {
        case .scalar: weight = 1
        case .sequence(let items): weight = items.reduce(1) { $0 + $1.weight }
        case .mapping(let entries): weight = entries.reduce(1) { $0 + 1 + $1.value.weight }
        }
    }

    public var scalar: YAMLScalar? {
        if case .scalar(let s) = content { return s }
        return nil
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
