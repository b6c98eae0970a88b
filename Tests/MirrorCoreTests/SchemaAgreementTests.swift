import Foundation
import Testing
@testable import MirrorCore
import MirrorTestSupport

/// Holds `schemas/mirrors.schema.json` and the Swift validator to one verdict per file.
///
/// The schema sees one file as PyYAML reads it; what it cannot express (references across files, YAML 1.1
/// typing, ...) is marked `exempt` with the reason in the fixture, and the test checks that the two really differ there.
@Suite("The JSON Schema")
struct SchemaAgreementTests {
    static let schemaPath = Corpus.repositoryRoot + "/schemas/mirrors.schema.json"
    static let script = Corpus.repositoryRoot + "/Tests/MirrorCoreTests/schema_check.py"

    /// Every file of the corpus with the verdict the schema must give: true valid, false invalid, nil not checked.
    static func cases() -> [(path: String, schemaValid: Bool?, why: String)] {
        var out: [(String, Bool?, String)] = []
        for name in Corpus.names(in: "invalid") {
            let f = Corpus.fixture("invalid/" + name)
            switch f.schema {
            case .reject: out.append(("invalid/" + name, false, "the validator rejects it"))
            case .accept: out.append(("invalid/" + name, true, "marked accept"))
            case .exempt(let why): out.append(("invalid/" + name, true, "exempt: " + why))
            case .skip(let why): out.append(("invalid/" + name, nil, why))
            }
        }
        for name in Corpus.names(in: "valid") {
            let f = Corpus.fixture("valid/" + name)
            switch f.schema {
            case .accept: out.append(("valid/" + name, true, "the validator accepts it"))
            case .reject: out.append(("valid/" + name, false, "marked reject"))
            case .exempt(let why): out.append(("valid/" + name, false, "exempt: " + why))
            case .skip(let why): out.append(("valid/" + name, nil, why))
            }
        }
        out.append(("base.yaml", true, "the base of every fixture"))
        for folder in ["valid-dirs", "invalid-dirs"] {
            for dir in Corpus.names(in: folder, suffix: "") {
                for name in Corpus.names(in: "\(folder)/\(dir)")
                where DesiredStateLoader.isConfigFileName(name)
                    && !FileManager.default.fileExists(atPath: "\(Corpus.root)/\(folder)/\(dir)/\(name)/")
                {
                    let f = Corpus.fixture("\(folder)/\(dir)/\(name)")
                    out.append(("\(folder)/\(dir)/\(name)", f.schema == .accept, "its header says \(f.schema)"))
                }
            }
        }
        return out
    }

    @Test("schema and validator agree on the whole corpus and on the shipped mirrors.d")
    func agreement() async throws {
        var cases = Self.cases().map { (Corpus.root + "/" + $0.path, $0.schemaValid, $0.why) }
        let shipped = try DesiredStateLoader.configFiles(in: Corpus.repositoryRoot + "/mirrors.d")
        #expect(!shipped.isEmpty)
        cases += shipped.map { ($0, true, "mirrors.d ships valid") }
        let checked = cases.filter { $0.1 != nil }
        let verdicts = try await Self.runSchemaCheck(checked.map(\.0))
        for (path, expected, why) in checked {
            let verdict = try #require(verdicts[path], "no verdict for \(path)")
            #expect(
                verdict.valid == expected,
                "\(path): schema says \(verdict.valid ? "valid" : "invalid \(verdict.errors)"), expected \(expected!) (\(why))"
            )
        }
    }

    @Test("the schema's patterns, keys and option list are the validator's own")
    func sameRules() throws {
        let schema = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.schemaPath)))
                as? [String: Any])
        let defs = try #require(schema["$defs"] as? [String: [String: Any]])
        func pattern(_ def: String) -> String? {
            let d = defs[def] ?? [:]
            return d["pattern"] as? String ?? ((d["allOf"] as? [[String: Any]])?.first?["pattern"] as? String)
        }
        #expect(pattern("name") == ObjectName.pattern)
        #expect(pattern("duration") == TimeSpan.pattern)
        #expect(pattern("size") == ByteSize.pattern)
        #expect(pattern("mirrorPath") == MirrorPath.pattern)
        #expect(pattern("absolutePath") == AbsolutePath.pattern)
        #expect(pattern("agentURL") == AgentURL.pattern)
        #expect(pattern("upstreamURL") == UpstreamLocation.pattern)
        #expect(pattern("cron") == CronExpression.pattern)
        #expect(pattern("filterPattern") == RsyncPolicy.filterPatternSchema)
        #expect(pattern("displayText") == DisplayText.pattern)
        #expect(pattern("webLink") == WebLink.pattern)
        let percent = (defs["deletionLimit"]?["oneOf"] as? [[String: Any]])?.compactMap { $0["pattern"] as? String }
        #expect(percent == [DeletionLimit.percentPattern])

        func keys(_ def: String) -> Set<String> { Set((defs[def]?["properties"] as? [String: Any])?.keys ?? [:].keys) }
        #expect(keys("master") == Set(SpecDecoder.masterKeys))
        #expect(keys("interval") == Set(SpecDecoder.intervalKeys))
        #expect(keys("upstream") == Set(SpecDecoder.upstreamKeys))
        #expect(keys("slave") == Set(SpecDecoder.slaveKeys))
        #expect(keys("project") == Set(SpecDecoder.projectKeys))
        #expect(keys("site") == Set(SiteSpec.keys))
        #expect(Set((schema["properties"] as? [String: Any])?.keys ?? [:].keys) == Set(DesiredStateLoader.topLevelKeys))

        let options =
            (((defs["project"]?["properties"] as? [String: Any])?["rsyncOptions"] as? [String: Any])?["items"]
            as? [String: Any])?["anyOf"] as? [[String: Any]]
        #expect(options?.first?["enum"] as? [String] == RsyncPolicy.allowedFlags)
        #expect(
            options?.dropFirst().compactMap { $0["pattern"] as? String }
                == RsyncPolicy.allowedValueOptions.map { "^\($0.name)=(\($0.pattern))$" })
    }

    @Test("schemas/mirrors.schema.json is what `mirrorsync schema` prints (make schema writes it)")
    func committedCopyIsCurrent() throws {
        let committed = try String(contentsOfFile: Self.schemaPath, encoding: .utf8)
        #expect(committed == ConfigSchema.json, "schemas/mirrors.schema.json is stale: run `make schema`")
    }

    @Test(
        "every field of a project that mirrors.d may write has its schema in its row, and the reader agent-only ones none"
    )
    func everyFieldHasItsSchema() {
        for field in AgentProjectSpec.fields {
            #expect((field.schema == nil) == field.agentOnly, "\(field.path)'s schema")
        }
        // Each key of a project's objects in the schema is a key the decoder knows, and the other way round.
        #expect(ConfigSchema.properties(of: "project").members?.map(\.key).sorted() == SpecDecoder.projectKeys.sorted())
        #expect(
            ConfigSchema.properties(of: "upstream").members?.map(\.key).sorted() == SpecDecoder.upstreamKeys.sorted())
        #expect(
            ConfigSchema.properties(of: "interval").members?.map(\.key).sorted() == SpecDecoder.intervalKeys.sorted())
        #expect(
            ConfigSchema.defaultsProperties.members?.map(\.key).sorted() == AgentProjectSpec.defaultsKeys.sorted())
    }

    @Test("ConfigSchema's printer writes JSON that reads back as the same document")
    func printedSchemaReadsBack() throws {
        let printed = try JSONSerialization.jsonObject(with: Data(ConfigSchema.json.utf8)) as? NSDictionary
        let compact =
            try JSONSerialization.jsonObject(with: Data(ConfigSchema.document.compact().utf8)) as? NSDictionary
        #expect(printed != nil && printed == compact)
        #expect(JSONValue.quote("a\"b\\c\n\u{1}\u{7f}é") == "\"a\\\"b\\\\c\\n\\u0001\u{7f}é\"")
    }

    @Test("every exemption and skip in the corpus says why")
    func exemptionsHaveReasons() {
        for (path, _, why) in Self.cases() {
            #expect(!why.trimmingCharacters(in: .whitespaces).isEmpty && why != "exempt: ", "\(path)")
        }
    }

    struct Verdict: Decodable {
        var valid: Bool
        var errors: [String]
    }

    /// Runs the Python checker once over all files; its output is one JSON line.
    static func runSchemaCheck(_ files: [String]) async throws -> [String: Verdict] {
        let result = try await runProgram("/usr/bin/env", ["python3", script, schemaPath] + files)
        guard result.status == 0 else {
            throw ValueError(
                "schema_check.py exited \(result.status); is python3 with jsonschema and PyYAML installed (make deps)? \(result.stderr)"
            )
        }
        let data = Data(result.stdout.utf8)
        return try JSONDecoder().decode([String: Verdict].self, from: data)
    }
}
