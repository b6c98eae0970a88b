extension ConfigSchema {
    /// How an agent's https:// API is verified: the site's, or one agent's own.
    static let tls: JSONValue = [
        "title": "TLS",
        "description":
            "How the agents' https:// APIs are verified, for the whole site (top-level tls:) or for one agent (its own tls:, which wins). Without it an https:// api is verified against the system's trust store.",
        "type": "object",
        "properties": [
            "caFile": ref(
                "absolutePath",
                "A PEM file of one or more CA certificates that sign the agents' certificates, at this path on every host that calls an agent: the reconciler's, the master's (its triggers to the slaves) and the slaves' (their reports to the master).",
                examples: ["/etc/mirrorsync/ca.pem"])
        ],
        "required": ["caFile"],
        "additionalProperties": false,
    ]

    /// An agent's own `tls`, which wins over the site's.
    static func agentTLS(_ who: String) -> JSONValue {
        ref(
            "tls",
            "The CA that verifies \(who)'s https:// api, instead of the site's tls. Refused with an http:// api (\(checked))."
        )
    }

    /// An agent's `insecure`.
    static let insecure: JSONValue = [
        "description":
            "Allows an http:// api to a host that is not loopback: the bearer token then crosses the network in clear, where it can be read and replayed. Without it such an api is refused; refused with an https:// api, which is always verified (\(checked)).",
        "type": "boolean", "default": false,
    ]

    static let master: JSONValue = [
        "title": "Master",
        "description":
            "The master node: it pulls every project from its upstream and serves the slaves from its rsync daemon.",
        "type": "object",
        "properties": [
            "api": ref(
                "agentURL",
                "The master agent's API address: https:// (the agent started with --tls-cert and --tls-key), or http:// on loopback or with insecure: true (\(checked)).",
                examples: ["https://mirror-master.example.org:7070"]),
            "tokenFile": ref(
                "absolutePath",
                "The file that holds the operator's bearer token, which the reconciler and the CLI send (mode 0600); the token itself never goes in mirrors.d. Each agent has a credential of its own (docs/security.md).",
                examples: ["/etc/mirrorsync/token"]),
            "root": ref(
                "absolutePath", "The master's tree: each project lives at ROOT/PATH.", examples: ["/srv/mirror"]),
            "rsyncd": rsyncd(
                "Where the master's rsync daemon listens for its slaves.",
                default: ["address": "0.0.0.0", "port": 873, "slavesOnly": false]),
            "maxConcurrentSyncs": [
                "description": "How many upstream syncs may run at once (1-256; a plain integer).",
                "type": "integer", "minimum": 1, "maximum": 256, "default": 4,
            ],
            "publicStatus": [
                "description": "Whether GET /v1/status answers without a token (true or false).",
                "type": "boolean", "default": false,
            ],
            "tls": agentTLS("the master"),
            "insecure": insecure,
            "trace": ref("trace", "How the master names and describes itself in its Debian trace files."),
        ],
        "required": ["api", "tokenFile", "root"],
        "additionalProperties": false,
    ]

    static let slave: JSONValue = [
        "title": "Slave",
        "description": "A public host that pulls the projects it serves from the master.",
        "type": "object",
        "properties": [
            "api": ref(
                "agentURL",
                "The slave agent's API address; no two agents may share one. https://, or http:// on loopback or with insecure: true (\(checked)).",
                examples: ["https://ftp1.example.org:7071"]),
            "publicDir": ref(
                "absolutePath", "The slave's public tree: each project it serves lives at PUBLICDIR/PATH.",
                examples: ["/srv/ftp/pub"]),
            "tls": agentTLS("the slave"),
            "insecure": insecure,
            "trace": ref("trace", "How the slave names and describes itself in its Debian trace files."),
            "from": [
                "$ref": "#/$defs/name",
                "description":
                    "A tier (as ftpsync's mhop): the slave this one pulls from, rather than the master. That slave runs an rsync daemon for it (its rsyncd), triggers it after its own pull and relays its reports to the master; this slave's credential reaches that slave alone (docs/security.md). It must name a defined slave, the chain must end at the master, and every project this slave serves must be served by that one too (\(checked)).",
                "examples": ["ftp1"],
            ],
            "rsyncd": rsyncd(
                "Where this slave's rsync daemon listens for the slaves that pull from it (from:); it runs only when one does. Absent: port 873 on every address.",
                default: nil),
        ],
        "required": ["api", "publicDir"],
        "additionalProperties": false,
    ]

    /// The site as mirror lists show it: mirrorz's `site`.
    static let site: JSONValue = [
        "title": "Site",
        "description":
            "The mirror site as mirror lists show it: the 'site' object of mirrorz's mirrorz.json (data format 1.7), which the master serves at GET /mirrorz.json. Defined in one file at most (\(checked)).",
        "type": "object",
        "properties": [
            "url": ref(
                "agentURL",
                "The site's address, such as https://mirrors.example.org; a trailing '/' is dropped. Every project's url in mirrorz.json is a path under it.",
                examples: ["https://mirrors.example.org"]),
            "abbr": ref("displayText", "A short name of the site, such as EXAMPLE.", examples: ["EXAMPLE"]),
            "name": ref("displayText", "The site's full name."),
            "logo": ref("webLink", "The site's logo (not an .ico; at least 64x64)."),
            "logoDarkmode": ref(
                "webLink", "The logo for dark mode (mirrorz's logo_darkmode); set it only with 'logo'."),
            "homepage": ref("webLink", "The site's home page or blog."),
            "issue": ref("webLink", "Where to report problems."),
            "request": ref("webLink", "Where to ask for a new mirror."),
            "email": ref("displayText", "The site's contact address."),
            "group": ref("displayText", "Where its users talk, such as a chat group."),
            "disk": ref("displayText", "Any words on the disk's use."),
            "note": ref("displayText", "Any words, such as a speed or connection limit."),
            "big": ref("webLink", "A big file for speed tests, such as /speedtest/1000mb.bin."),
            "disable": [
                "description":
                    "The site is out of service: mirrorz marks it disabled and sends nobody to it (true or false).",
                "type": "boolean", "default": false,
            ],
        ],
        "required": ["url", "abbr"],
        "additionalProperties": false,
    ]

    /// An rsync daemon's address, port and `slavesOnly`: the master's, or a slave's for the slaves in tiers below it.
    static func rsyncd(_ description: String, default value: JSONValue?) -> JSONValue {
        let properties: JSONValue = [
            "address": ref(
                "hostAddress", "The address the rsync daemon listens on: an IP address or a host name.",
                default: "0.0.0.0"),
            "port": [
                "description": "The TCP port the rsync daemon listens on (1-65535; a plain integer).",
                "type": "integer", "minimum": 1, "maximum": 65535, "default": 873,
            ],
            "slavesOnly": [
                "description":
                    "Whether the daemon takes connections only from the slaves' hosts (rsyncd's 'hosts allow', built from the hosts of the slaves' API addresses; true or false).",
                "type": "boolean", "default": false,
            ],
            "maxConnections": [
                "description":
                    "The most pulls the daemon serves at once, over all its modules (rsyncd's 'max connections', counted in one lock file; 1-100000, a plain integer). A slave refused with 'max connections reached' tries again after a short random wait, and is not failed unless it stays refused for 30 minutes. No bound when absent.",
                "type": "integer", "minimum": .integer(RsyncdSpec.connectionRange.lowerBound),
                "maximum": .integer(RsyncdSpec.connectionRange.upperBound),
            ],
            "maxPerSlave": [
                "description":
                    "The most pulls each slave makes from the daemon at once (1-256, a plain integer): rsyncd cannot count connections per host, so each slave holds its own pulls to it (its maxConcurrentSyncs). When absent, each slave's default, 4. The master's alone: a tier's slaves keep their own.",
                "type": "integer", "minimum": 1, "maximum": 256,
            ],
        ]
        var pairs: [(key: String, value: JSONValue)] = [
            ("description", .string(description)), ("type", "object"), ("properties", properties),
            ("additionalProperties", false),
        ]
        if let value { pairs.append(("default", value)) }
        return .object(pairs)
    }
}
