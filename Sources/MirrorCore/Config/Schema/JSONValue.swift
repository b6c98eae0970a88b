/// A JSON value whose objects keep their keys in the order they were written, so that a document built in Swift
/// prints the same bytes every time (the committed `schemas/mirrors.schema.json` is compared with it byte for byte).
///
/// Literals build it as they read: `["type": "string", "minLength": 1]` is an object with its keys in that order.
public enum JSONValue: Sendable, Equatable {
    /// An object: its members in order. A key is expected once; `subscript(_:)` finds the first.
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case null

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let a), .array(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null): return true
        default: return false
        }
    }

    /// The value of `key` in an object; nil for a key it lacks, or for a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// An object's members in order; nil for a value that is not an object.
    public var members: [(key: String, value: JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// An array's elements; nil for a value that is not an array.
    public var elements: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// A string's text; nil for a value that is not a string.
    public var text: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// An object with `other`'s members added after its own (a key it has already is replaced where it stands).
    public func merging(_ other: JSONValue) -> JSONValue {
        guard case .object(var members) = self, case .object(let more) = other else { return self }
        for member in more {
            if let index = members.firstIndex(where: { $0.key == member.key }) {
                members[index].value = member.value
            } else {
                members.append(member)
            }
        }
        return .object(members)
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Keeps the literal's order, which a `Dictionary` would lose.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(elements.map { (key: $0.0, value: $0.1) })
    }
}

extension JSONValue {
    /// The value as the repository's JSON files are written: two spaces of indentation, one member of an object per
    /// line, and an array of scalars on one line when it fits in 110 columns with its indentation (else one element
    /// per line); strings with only `"`, `\` and control characters escaped. No newline at the end.
    public func formatted() -> String {
        var out = ""
        write(to: &out, depth: 0)
        return out
    }

    /// The value on one line, with `, ` and `: ` between items (JSON as Python's `json.dumps` writes it).
    public func compact() -> String {
        switch self {
        case .object(let members):
            return "{" + members.map { Self.quote($0.key) + ": " + $0.value.compact() }.joined(separator: ", ") + "}"
        case .array(let elements): return "[" + elements.map { $0.compact() }.joined(separator: ", ") + "]"
        case .string(let text): return Self.quote(text)
        case .integer(let n): return String(n)
        case .number(let x): return "\(x)"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    private func write(to out: inout String, depth: Int) {
        let pad = String(repeating: "  ", count: depth)
        switch self {
        case .object(let members):
            guard !members.isEmpty else {
                out += "{}"
                return
            }
            out += "{\n"
            for (index, member) in members.enumerated() {
                out += pad + "  " + Self.quote(member.key) + ": "
                member.value.write(to: &out, depth: depth + 1)
                out += index == members.count - 1 ? "\n" : ",\n"
            }
            out += pad + "}"
        case .array(let elements):
            let scalars = elements.allSatisfy {
                switch $0 {
                case .object, .array: return false
                default: return true
                }
            }
            let line = compact()
            if scalars && line.unicodeScalars.count + pad.count <= 110 {
                out += line
                return
            }
            out += "[\n"
            for (index, element) in elements.enumerated() {
                out += pad + "  "
                element.write(to: &out, depth: depth + 1)
                out += index == elements.count - 1 ? "\n" : ",\n"
            }
            out += pad + "]"
        default:
            out += compact()
        }
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as `\n`, `\t`, ... or `\u00XX`; everything
    /// else, non-ASCII included, as it is.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
