extension ConfigSchema {
    /// The `properties` of `object` (`project`, `upstream`, `interval`, `hooks`): each field's schema from its row of
    /// the field table, in the table's order. A project's `upstream` and `interval` are references by name in
    /// mirrors.d, where an agent's spec spells them out; its `hooks` is the object its first hooks row carries.
    static func properties(of object: String) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        for field in AgentProjectSpec.fields {
            let key: String
            let schema: JSONValue?
            if object == "project" {
                key = field.key
                switch key {
                case "upstream": schema = projectUpstream
                case "interval": schema = projectInterval
                default: schema = field.subkey == nil ? field.schema : field.objectSchema
                }
            } else {
                guard field.key == object, let subkey = field.subkey else { continue }
                key = subkey
                schema = field.schema
            }
            if let schema, !members.contains(where: { $0.key == key }) { members.append((key, schema)) }
        }
        return .object(members)
    }

    /// The project fields `defaults:` may set, each with the project's own schema.
    static var defaultsProperties: JSONValue {
        .object(
            AgentProjectSpec.fields.filter(\.inDefaults).compactMap { field in
                (field.objectSchema ?? field.schema).map { (field.key, $0) }
            })
    }

    static let projectUpstream = ref(
        "name", "The name of the upstream it comes from, defined in some file of mirrors.d (\(checked)).")
    static let projectInterval = ref(
        "name", "The name of the interval it syncs on, defined in some file of mirrors.d (\(checked)).")
}
