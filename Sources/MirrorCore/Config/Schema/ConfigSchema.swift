/// The JSON Schema (2020-12) of one file of mirrors.d, for editors running yaml-language-server: what
/// `mirrorsync schema` prints, `schemas/mirrors.schema.json` holds and `mirrorsync init` writes beside its files.
///
/// Its patterns are the value types' own constants, its project fields come from the field table's rows, and the
/// configuration reference (`ConfigReference`) is read off the same document.
public enum ConfigSchema {
    /// The whole schema.
    public static let document: JSONValue = [
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mirrorsync.example/schemas/mirrors.schema.json",
        "$comment":
            "Written by 'mirrorsync schema' (make schema) from Sources/MirrorCore/Schema: each 'pattern' that stands alone or first in an allOf is a Swift constant (ObjectName.pattern, TimeSpan.pattern, ByteSize.pattern, MirrorPath.pattern, AbsolutePath.pattern, AgentURL.pattern, UpstreamLocation.pattern, CronExpression.pattern, DeletionLimit.percentPattern, DisplayText.pattern, WebLink.pattern, TraceValue.pattern, TraceValue.hostPattern, TraceValue.countryPattern, MailAddress.pattern, RsyncPolicy.filterPatternSchema, RsyncPolicy.allowedFlags and allowedValueOptions); the clauses beside them add what the Swift parsers refuse and those patterns let through. A test fails while this copy is stale.",
        "title": "mirrorsync: one file of mirrors.d",
        "description":
            "One file of mirrorsync's desired state. Every *.yaml and *.yml file of mirrors.d is read in lexical order and merged. This schema checks one file; what spans objects or files (references, duplicate names, path nesting, agent addresses) is \(checked).",
        "type": "object",
        "properties": [
            "master": ref("master", "The master node. Exactly one file of mirrors.d defines it (\(checked))."),
            "tls": ref(
                "tls",
                "The CA that verifies every agent's https:// api, unless the agent names its own. At most one file of mirrors.d defines it (\(checked))."
            ),
            "intervals": section("interval", "Named schedules that projects refer to."),
            "upstreams": section("upstream", "Where projects come from."),
            "slaves": section("slave", "The public hosts that pull from the master."),
            "projects": section("project", "The mirrored trees."),
            "site": ref("site", "The site as mirror lists (mirrorz, mirror-web) show it."),
            "defaults": defaults,
            "notify": ref("notify", "Whom the master tells when the site's state changes, and how."),
        ],
        "patternProperties": [
            "^x-": ["description": "Free for YAML anchors that '<<' merges reuse; mirrorsync ignores the key itself."]
        ],
        "additionalProperties": false,
        "$defs": .object(
            valueDefinitions + [
                ("tls", tls), ("master", master), ("interval", interval), ("upstream", upstream), ("slave", slave),
                ("hookArgv", hookArgv), ("hooks", hooks), ("project", project), ("site", site),
                ("trace", trace),
            ] + notifyDefinitions),
    ]

    /// The schema as `schemas/mirrors.schema.json` holds it, newline included.
    public static let json = document.formatted() + "\n"

    /// The configuration reference in Markdown, read off `document`: what `mirrorsync schema --reference` prints and
    /// `docs/configuration.md` holds between its markers.
    public static let reference = ConfigReference.markdown(of: document)

    /// What a per-file schema cannot see, and the validator checks.
    static let checked = "checked by mirrorsync validate"

    /// A field whose value is one of the definitions.
    static func ref(_ definition: String, _ description: String, examples: JSONValue? = nil, default: JSONValue? = nil)
        -> JSONValue
    {
        var members: [(key: String, value: JSONValue)] = [
            ("$ref", .string("#/$defs/" + definition)), ("description", .string(description)),
        ]
        if let examples { members.append(("examples", examples)) }
        if let `default` { members.append(("default", `default`)) }
        return .object(members)
    }

    /// A top-level section: named objects of one kind.
    static func section(_ definition: String, _ blurb: String) -> JSONValue {
        [
            "description":
                .string(
                    blurb
                        + " A mapping from \(definition) names to their specs; empty (null) is allowed. A name is defined once across all files (\(checked))."
                ),
            "type": ["object", "null"],
            "propertyNames": ["pattern": .string(ObjectName.pattern)],
            "additionalProperties": ["$ref": .string("#/$defs/" + definition)],
        ]
    }

    static let interval: JSONValue = [
        "title": "Interval",
        "description":
            "A named schedule: either 'every' (with an optional 'jitter') or 'cron' (with an optional 'timezone').",
        "type": "object",
        "properties": properties(of: "interval"),
        "oneOf": [
            ["required": ["every"], "description": "a schedule by period"],
            ["required": ["cron"], "description": "a schedule by cron expression"],
        ],
        "dependentRequired": ["jitter": ["every"], "timezone": ["cron"]],
        "additionalProperties": false,
    ]

    static let upstream: JSONValue = [
        "title": "Upstream",
        "description":
            "A place projects come from: an rsync daemon, a directory on the master, or a program that brings the tree (command).",
        "type": "object",
        "properties": properties(of: "upstream"),
        "required": ["url"],
        // rsync's url but for a program's, which is any address; the program's keys go with its command, and rsync's
        // keys not.
        "if": ["required": ["command"]],
        "then": [
            "not": [
                "anyOf": [
                    ["required": ["passwordFile"]], ["required": ["bandwidthLimit"]],
                ]
            ]
        ],
        "else": ["properties": ["url": ["$ref": "#/$defs/upstreamURL"]]],
        "dependentRequired": .object(
            ProgramUpstream.keys.dropFirst().map { ($0, ["command"]) }),
        "additionalProperties": false,
    ]

    static let hooks: JSONValue = [
        "description":
            "Programs run after each sync on the host that ran it, as argv arrays (never through a shell), with MIRRORSYNC_PROJECT, MIRRORSYNC_HOST, MIRRORSYNC_RESULT, MIRRORSYNC_EXIT_CODE, MIRRORSYNC_REVISION, MIRRORSYNC_DIR and MIRRORSYNC_LOG in their environment. A hook's outcome is recorded with the run; a failing or hanging hook never fails the sync.",
        "type": "object",
        "properties": properties(of: "hooks"),
        "additionalProperties": false,
    ]

    static let project: JSONValue = [
        "title": "Project",
        "description": "One mirrored tree.",
        "type": "object",
        "properties": properties(of: "project"),
        "required": ["upstream", "interval"],
        "additionalProperties": false,
    ]

    /// The project fields `defaults:` may set, each with the project's own schema.
    static let defaults: JSONValue = [
        "description":
            "The site's defaults for project fields: a project that leaves one of these out takes it from here. At most one file of mirrors.d defines it (\(checked)).",
        "type": "object",
        "properties": defaultsProperties,
        "additionalProperties": false,
    ]
}
