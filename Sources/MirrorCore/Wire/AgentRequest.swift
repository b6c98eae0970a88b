/// Reads request bodies with the loader's own reader and checks, so that a spec sent to an agent is held to
/// exactly the standard of one in mirrors.d. JSON is YAML, so the same code reads both.
public enum AgentRequest {
    /// Request bodies are small: a spec is a few hundred bytes.
    public static let limits = YAMLReader.Limits(maxAliasExpansion: 10_000, maxDepth: 16, maxBytes: 1 << 20)

    public static func project(_ body: [UInt8], name: String) throws(ConfigError) -> AgentProjectSpec {
        try decode(body) { decoder, node in decoder.agentProject(node, name: name) }
    }

    public static func settings(_ body: [UInt8]) throws(ConfigError) -> AgentSettings {
        try decode(body) { decoder, node in decoder.agentSettings(node) }
    }

    static func decode<T>(_ body: [UInt8], _ read: (inout SpecDecoder, YAMLNode) -> T?) throws(ConfigError) -> T {
        let result = YAMLReader(limits: limits).read(body, file: "request body")
        guard let root = result.root, result.diagnostics.isEmpty else { throw ConfigError(result.diagnostics) }
        var decoder = SpecDecoder()
        let value = read(&decoder, root)
        guard let value, !decoder.diagnostics.hasErrors else { throw ConfigError(decoder.diagnostics.all) }
        return value
    }
}
