/// The configuration reference in Markdown, read off the JSON Schema: the file's keys, then every object and every
/// value the schema defines, each key with its type, whether it is required, its default, its description and its
/// examples. For mirrors.d: `ConfigSchema.reference`, which `mirrorsync schema --reference` prints and
/// `docs/configuration.md` holds between `begin` and `end`.
public struct ConfigReference: Sendable {
    /// The schema it reads: its definitions are the sections the reference links to.
    let schema: JSONValue

    /// The line before the generated reference in `docs/configuration.md`.
    public static let begin = "<!-- BEGIN mirrorsync schema --reference -->"
    /// The line after it.
    public static let end = "<!-- END mirrorsync schema --reference -->"

    /// The reference of `schema`: a section for the file, then one per definition, objects before values, in the
    /// order `$defs` lists them. Ends with a newline.
    public static func markdown(of schema: JSONValue) -> String { ConfigReference(schema: schema).text }

    var text: String {
        let definitions = schema["$defs"]?.members ?? []
        var out = """
            ## Reference

            Written by `mirrorsync schema --reference` from the JSON Schema that `mirrorsync schema` prints \
            (`schemas/mirrors.schema.json`); `make schema` writes both. An object takes only the keys listed here.

            ### \(schema["title"]?.text.map(Self.escape) ?? "The file")

            \(Self.escape(schema["description"]?.text ?? ""))


            """
        out += keys(of: schema)
        for (key, definition) in definitions where Self.isObject(definition) {
            out += "\n" + section(key, definition)
            out += keys(of: definition)
        }
        for (key, definition) in definitions where !Self.isObject(definition) {
            out += "\n" + section(key, definition)
            out += value(definition)
        }
        return out
    }

    /// Whether a definition is an object with keys of its own (else it is a value, such as a duration).
    static func isObject(_ schema: JSONValue) -> Bool { schema["properties"] != nil }

    /// A definition's heading, its description and what ties its keys together.
    func section(_ key: String, _ schema: JSONValue) -> String {
        var out = "### \(Self.heading(key, schema))\n\n"
        if let description = schema["description"]?.text { out += Self.escape(description) + "\n\n" }
        var rules: [String] = []
        if let alternatives = schema["oneOf"]?.elements, Self.isObject(schema) {
            let each = alternatives.compactMap { alternative -> String? in
                guard let keys = alternative["required"]?.elements?.compactMap(\.text) else { return nil }
                let words = alternative["description"]?.text.map { " (\(Self.escape($0)))" } ?? ""
                return keys.map(Self.code).joined(separator: " and ") + words
            }
            rules.append("Exactly one of " + each.joined(separator: " or ") + ".")
        }
        for (key, needs) in schema["dependentRequired"]?.members ?? [] {
            let others = needs.elements?.compactMap(\.text).map(Self.code).joined(separator: " and ") ?? ""
            rules.append("\(Self.code(key)) goes with \(others).")
        }
        if !rules.isEmpty { out += rules.joined(separator: " ") + "\n\n" }
        return out
    }

    /// A definition's heading: its title, or its key.
    static func heading(_ key: String, _ schema: JSONValue) -> String {
        schema["title"]?.text.map(Self.escape) ?? Self.code(key)
    }

    /// A link to a definition, by its heading's anchor.
    func link(_ reference: String) -> String {
        let key = String(reference.split(separator: "/").last ?? "")
        let heading = Self.heading(key, schema["$defs"]?[key] ?? [:])
        return "[\(heading)](#\(Self.anchor(heading)))"
    }

    /// The anchor GitHub gives a heading: lower case, punctuation but '-' and '_' dropped, spaces as '-'.
    static func anchor(_ heading: String) -> String {
        String(
            heading.lowercased().unicodeScalars.filter {
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || " -_".unicodeScalars.contains($0)
            }.map { $0 == " " ? "-" : Character($0) })
    }

    /// An object's keys as a list, nested for an object written in place.
    func keys(of schema: JSONValue, indent: String = "") -> String {
        let required = Set(schema["required"]?.elements?.compactMap(\.text) ?? [])
        var out = ""
        for (key, property) in schema["properties"]?.members ?? [] {
            var line = indent + "- " + Self.code(key)
            if required.contains(key) { line += " (required)" }
            line += ": " + kind(of: property)
            if let value = property["default"] { line += "; default " + Self.code(Self.flow(value, nested: false)) }
            line += "."
            if let description = property["description"]?.text { line += " " + Self.escape(description) }
            line += examples(property)
            out += line + "\n"
            if Self.isObject(property) { out += keys(of: property, indent: indent + "  ") }
            if let items = property["items"], items["$ref"] == nil, let description = items["description"]?.text {
                out += indent + "  - each: " + kind(of: items) + ". " + Self.escape(description) + allowed(items) + "\n"
            }
        }
        for (pattern, property) in schema["patternProperties"]?.members ?? [] {
            out +=
                indent + "- keys matching \(Self.code(pattern)): " + Self.escape(property["description"]?.text ?? "")
                + "\n"
        }
        return out
    }

    /// A value's type, its alternatives and its examples.
    func value(_ schema: JSONValue) -> String {
        var out = "Type: " + kind(of: schema, named: false) + "."
        let pattern = schema["pattern"] ?? schema["allOf"]?.elements?.first?["pattern"]
        if let pattern = pattern?.text { out += " Pattern: " + Self.code(pattern) + "." }
        out += allowed(schema) + examples(schema) + "\n"
        let alternatives = schema["oneOf"]?.elements ?? schema["anyOf"]?.elements ?? []
        let described = alternatives.filter { $0["description"] != nil && $0["type"] != nil }
        if !described.isEmpty {
            out += "\n"
            for alternative in described {
                out += "- " + kind(of: alternative) + ": " + Self.escape(alternative["description"]?.text ?? "") + "\n"
            }
        }
        return out
    }

    /// The words for a schema's type: a link to its definition, a list of one, the values it takes, ...; `named`:
    /// a value with a title written in place (an rsync option) by its title.
    func kind(of schema: JSONValue, named: Bool = true) -> String {
        if let reference = schema["$ref"]?.text { return link(reference) }
        if let value = schema["const"] { return Self.code(Self.flow(value, nested: false)) }
        if let values = schema["enum"]?.elements {
            return values.map { Self.code(Self.flow($0, nested: false)) }.joined(separator: " or ")
        }
        if named, let title = schema["title"]?.text { return Self.escape(title) }
        switch schema["type"] {
        case .string("boolean"): return "`true` or `false`"
        case .string("integer"):
            let low = schema["minimum"].map { " from \($0.compact())" } ?? ""
            let high = schema["maximum"].flatMap { $0 == .integer(Int.max) ? nil : " to \($0.compact())" } ?? ""
            return "integer" + low + high
        case .string("array"): return "list of " + (schema["items"].map { kind(of: $0) } ?? "values")
        case .string("object"): return "object"
        case .array(let types) where types.contains("object"):
            let each = schema["additionalProperties"].map { kind(of: $0) } ?? "values"
            return "names, each " + each + (types.contains("null") ? " (or empty)" : "")
        case .string(let name): return name
        default: break
        }
        let alternatives = schema["oneOf"]?.elements ?? schema["anyOf"]?.elements ?? []
        return alternatives.map { kind(of: $0) }.joined(separator: " or ")
    }

    /// The options an allowlist takes: the values of its `enum` and the forms its patterns describe.
    func allowed(_ schema: JSONValue) -> String {
        let forms = (schema["anyOf"]?.elements ?? []).flatMap { alternative -> [String] in
            if let values = alternative["enum"]?.elements { return values.compactMap(\.text).map(Self.code) }
            if alternative["pattern"] != nil, alternative["type"] == nil, let form = alternative["description"]?.text {
                return [Self.code(form)]
            }
            return []
        }
        return forms.isEmpty ? "" : " Allowed: " + forms.joined(separator: ", ") + "."
    }

    func examples(_ schema: JSONValue) -> String {
        guard let examples = schema["examples"]?.elements, !examples.isEmpty else { return "" }
        let list = examples.map { Self.code(Self.flow($0, nested: false)) }.joined(separator: ", ")
        return examples.count == 1 ? " Example: \(list)." : " Examples: \(list)."
    }

    /// A value as YAML would write it: a string plain where it can be, else quoted; lists and objects in flow style,
    /// their strings always quoted.
    static func flow(_ value: JSONValue, nested: Bool) -> String {
        switch value {
        case .string(let text): return nested || !Self.isPlain(text) ? value.compact() : text
        case .array(let elements):
            return "[" + elements.map { Self.flow($0, nested: true) }.joined(separator: ", ") + "]"
        case .object(let members):
            return "{" + members.map { "\($0.key): " + Self.flow($0.value, nested: true) }.joined(separator: ", ") + "}"
        default: return value.compact()
        }
    }

    /// Whether YAML reads `text` unquoted as that string.
    static func isPlain(_ text: String) -> Bool {
        guard let first = text.first, text.last != " ", first != " " else { return false }
        if "?:,[]{}#&*!|>'\"%@`".contains(first) { return false }
        if first == "-", text.dropFirst().first == " " || text.count == 1 { return false }
        if text.contains(": ") || text.contains(" #") { return false }
        let typed = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"]
        return !typed.contains(text.lowercased()) && Double(text) == nil && Int(text) == nil
    }

    static func code(_ text: String) -> String { "`" + text + "`" }

    /// Text as Markdown shows it: `*`, `\` and `` ` `` escaped, `<` where it could start a tag, and `_` but between
    /// letters or digits.
    static func escape(_ text: String) -> String {
        var out = ""
        let characters = Array(text)
        for (index, c) in characters.enumerated() {
            switch c {
            case "*", "\\", "`": out += "\\" + String(c)
            case "<":
                let next = index + 1 < characters.count ? characters[index + 1] : " "
                out += next.isLetter || "/!?".contains(next) ? "\\<" : "<"
            case "_":
                let inWord =
                    index > 0 && index < characters.count - 1 && characters[index - 1].isLetterOrDigit
                    && characters[index + 1].isLetterOrDigit
                out += inWord ? "_" : "\\_"
            default: out.append(c)
            }
        }
        return out
    }
}

extension Character {
    fileprivate var isLetterOrDigit: Bool { isLetter || isNumber }
}
