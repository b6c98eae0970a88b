extension ConfigSchema {
    /// A master's or a slave's `trace:`: ftpsync's MIRRORNAME and INFO_* settings, and its upstream-in-progress wait.
    static let trace: JSONValue = [
        "title": "Trace",
        "description":
            "How this host names and describes itself in the Debian trace files it writes (project/trace/HOST in a traced tree; docs/operations.md), as ftpsync's MIRRORNAME and INFO_* settings do, and how long a sync waits for an upstream that shows its own Archive-Update-in-Progress-* file (ftpsync's UIPSLEEP and UIPRETRIES). Each text is one line of printable text (1 to 256 characters, no control character or line break, no space at either end), so that no value can add a line to the trace file.",
        "type": "object",
        "properties": [
            "host": [
                "description":
                    "The public host name the trace file, its Archive-Update-in-Progress- and Archive-Update-Required- markers and its _hierarchy line are named after (ftpsync's MIRRORNAME). Without it: the agent's --trace-host, else the machine's fully qualified name.",
                "type": "string", "pattern": .string(TraceValue.hostPattern), "examples": ["ftp1.example.org"],
            ],
            "maintainer": traceText(
                "Who runs the mirror: the trace's Maintainer (ftpsync's INFO_MAINTAINER).",
                example: "Mirror admins <mirror@example.org>"),
            "sponsor": traceText(
                "Who pays for it: the trace's Sponsor (INFO_SPONSOR).",
                example: "Example University <https://example.org>"),
            "country": [
                "description":
                    "Where it stands, as ISO 3166's two capital letters: the trace's Country (INFO_COUNTRY).",
                "type": "string", "pattern": .string(TraceValue.countryPattern), "examples": ["DE"],
            ],
            "location": traceText("The city or data centre: the trace's Location (INFO_LOCATION).", example: "Berlin"),
            "throughput": traceText("Its uplink: the trace's Throughput (INFO_THROUGHPUT).", example: "10Gb"),
            "upstreamWait": ref(
                "duration",
                "How long a sync waits when its upstream's top holds an Archive-Update-in-Progress-* file of another host, before it looks again (ftpsync's UIPSLEEP). Checked only in traced trees.",
                default: "20m"),
            "upstreamRetries": [
                "description":
                    "How many times it looks again before the run fails (ftpsync's UIPRETRIES; 0: it fails at once; 0-100, a plain integer).",
                "type": "integer", "minimum": 0, "maximum": 100, "default": 3,
            ],
        ],
        "additionalProperties": false,
    ]

    static func traceText(_ description: String, example: String) -> JSONValue {
        [
            "description": .string(description), "type": "string", "pattern": .string(TraceValue.pattern),
            "examples": [.string(example)],
        ]
    }
}
