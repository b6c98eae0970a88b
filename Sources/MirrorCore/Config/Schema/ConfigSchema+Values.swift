extension ConfigSchema {
    /// One DNS label, for the host names the Swift parsers check by hand.
    static let dnsLabel = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

    /// The definitions of the values the objects' fields refer to, in the order `$defs` lists them. Each `pattern`
    /// that stands alone or first in an `allOf` is the value type's own Swift constant; the clauses beside it add what
    /// its parser refuses and the pattern lets through.
    static let valueDefinitions: [(key: String, value: JSONValue)] = [
        (
            "name",
            [
                "title": "Name",
                "description":
                    "A name of a project, upstream, slave or interval: 1 to 63 characters, lowercase letters, digits, '.', '_' and '-', starting with a letter or a digit.",
                "type": "string", "pattern": .string(ObjectName.pattern), "examples": ["debian", "kernel-org", "ftp1"],
            ]
        ),
        (
            "duration",
            [
                "title": "Duration",
                "description":
                    "A length of time: numbers with units d, h, m, s in that order, such as 90s, 15m, 1h30m or 1d; longer than zero, at most 8 digits for each unit.",
                "type": "string", "pattern": .string(TimeSpan.pattern), "examples": ["15m", "1h", "1h30m", "6h", "1d"],
            ]
        ),
        (
            "size",
            [
                "title": "Size",
                "description":
                    "A rate or size: a number and a unit B, K, M, G (KiB, MiB, GiB: powers of 1024) or KB, MB, GB (powers of 1000), such as 500K, 20MiB or 1.5GB. It must come to at least 1 byte and less than 10^15 bytes (\(checked)).",
                "type": "string", "pattern": .string(ByteSize.pattern), "examples": ["500K", "20MiB", "1.5GB"],
            ]
        ),
        (
            "mirrorPath",
            [
                "title": "Path in the mirror",
                "description":
                    "A relative path: segments of letters, digits and . _ + ~ @ , = % - joined by '/', an optional trailing '/'; no leading '/' or '-', no '.', '..' or empty segments.",
                "type": "string", "pattern": .string(MirrorPath.pattern),
                "examples": ["debian", "linux/kernel/", "fedora/linux"],
            ]
        ),
        (
            "absolutePath",
            [
                "title": "Absolute path",
                "description":
                    "An absolute local path: starts with '/', no '.', '..' or empty ('//') segments, no control characters; one trailing '/' is dropped.",
                "type": "string", "pattern": .string(AbsolutePath.pattern),
                "examples": ["/srv/mirror", "/etc/mirrorsync/token"],
            ]
        ),
        (
            "agentURL",
            [
                "title": "Agent API URL",
                "description":
                    "An agent's API address: http(s)://HOST[:PORT][/BASE], where HOST is a DNS name, an IPv4 address or an [IPv6] address; no credentials, query or fragment; port 1-65535.",
                "type": "string",
                "allOf": [
                    ["pattern": .string(AgentURL.pattern)],
                    [
                        "$comment": "AgentURL.normalize also refuses host names over 253 characters.",
                        "not": ["pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]{254}"],
                    ],
                ],
                "examples": [
                    "http://mirror-master.example.org:7070", "https://ftp1.example.org:7071",
                    "http://[2001:db8::10]:7071",
                ],
            ]
        ),
        (
            "upstreamURL",
            [
                "title": "Upstream location",
                "description":
                    "rsync://[USER@]HOST[:PORT]/MODULE/[PATH/] (an rsync daemon; no password in the URL, use passwordFile) or an absolute path on the master. Remote shells (ssh) and the HOST::MODULE form are not accepted.",
                "type": "string",
                "allOf": [
                    ["pattern": .string(UpstreamLocation.pattern)],
                    [
                        "$comment": "UpstreamLocation.parse also refuses host names over 253 characters.",
                        "not": ["pattern": "^rsync://([^/]*@)?(?![^/]*@)[A-Za-z0-9.-]{254}"],
                    ],
                ],
                "examples": [
                    "rsync://rsync.kernel.org/pub/", "rsync://mirror@rsync.partner.example/pub/", "/srv/upstream",
                ],
            ]
        ),
        (
            "cron",
            [
                "title": "Cron expression",
                "description":
                    "Five fields 'minute hour day-of-month month day-of-week' separated by spaces, with *, numbers, ranges a-b, steps */n and a-b/n, lists, and jan-dec / sun-sat; or @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually. The values' ranges (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7) are \(checked).",
                "type": "string",
                "allOf": [
                    ["pattern": .string(CronExpression.pattern)],
                    [
                        "$comment":
                            "CronExpression.parse takes only digits, names, '*', '-', '/' and ',' in a field.",
                        "pattern": "^ *(@[A-Za-z]+|[0-9A-Za-z*/,-]+( +[0-9A-Za-z*/,-]+){4}) *$",
                    ],
                ],
                "examples": ["30 2 * * *", "15 */6 * * mon-fri", "@daily"],
            ]
        ),
        (
            "filterPattern",
            [
                "title": "rsync pattern",
                "description":
                    "An rsync pattern (wildcards *, **, ?, [...]; a leading '/' anchors it, a trailing '/' matches directories only). It stays a pattern: it may not start with '-', '+' or '!', nor like a merge rule ('. ', ': ', ', '), nor hold control characters; 1 to 1024 characters.",
                "type": "string", "pattern": .string(RsyncPolicy.filterPatternSchema),
                "examples": ["*.tmp", ".~tmp~/", "Packages*", "dists/"],
            ]
        ),
        (
            "hostAddress",
            [
                "title": "Listen address",
                "description": "An IPv4 address, an IPv6 address (without brackets) or a host name.",
                "type": "string",
                "anyOf": [
                    ["pattern": "^[0-9A-Fa-f.:]*:[0-9A-Fa-f.:]*$"],
                    ["pattern": .string("^(?=.{1,253}$)" + dnsLabel + "(\\." + dnsLabel + ")*$")],
                ],
                "examples": ["0.0.0.0", "::", "192.0.2.10"],
            ]
        ),
        (
            "deletionLimit",
            [
                "title": "Deletion limit",
                "description":
                    "How much one sync may delete before it is stopped with nothing deleted: a number of files (a plain, unquoted integer such as 5000) or a share of the files the tree held after its last sync (0% to 100%, such as 10% or 2.5%).",
                "oneOf": [
                    [
                        "type": "integer", "minimum": 0, "maximum": .integer(Int.max),
                        "description": "A number of files.",
                    ],
                    [
                        "type": "string", "pattern": .string(DeletionLimit.percentPattern),
                        "description": "A share in percent, from 0% to 100%.",
                    ],
                ],
                "examples": ["10%", "2.5%", 5000],
            ]
        ),
        (
            "displayText",
            [
                "title": "Text",
                "description":
                    "Words shown to people as written: 1 to 1024 characters on one line, without control characters.",
                "type": "string", "pattern": .string(DisplayText.pattern),
            ]
        ),
        (
            "webLink",
            [
                "title": "Link",
                "description":
                    "A path on the site, starting with '/' (such as /help/debian/), or a whole http(s):// URL; no spaces or control characters, at most 2048 bytes (\(checked)).",
                "type": "string", "pattern": .string(WebLink.pattern),
                "examples": ["/help/debian/", "https://wiki.example.org/debian"],
            ]
        ),
    ]

    /// One rsync option from the allowlist: `RsyncPolicy.allowedFlags`, or one of `allowedValueOptions` with a value
    /// its pattern takes.
    static let rsyncOption: JSONValue = [
        "title": "rsync option",
        "description":
            "One rsync option in its long form, from mirrorsync's allowlist: one of the flags listed, or --chmod=, --compress-level=, --contimeout=, --modify-window=, --max-size= or --min-size= with a value. Options that run commands, read or write files outside the tree, or override mirrorsync's own choices (-e, --rsh, --rsync-path, --delete*, --exclude, --bwlimit, --timeout, ...) are refused.",
        "type": "string",
        "anyOf": .array(
            [
                [
                    "enum": .array(RsyncPolicy.allowedFlags.map(JSONValue.string)),
                    "description": "An allowed rsync option without a value.",
                ]
            ]
                + RsyncPolicy.allowedValueOptions.map { option in
                    ["pattern": .string("^\(option.name)=(\(option.pattern))$"), "description": "\(option.name)=VALUE"]
                }),
        "examples": ["--no-owner", "--chmod=D755,F644", "--contimeout=30"],
    ]

    /// A hook: a program's argv.
    static let hookArgv: JSONValue = [
        "description": "A program's absolute path, then its arguments, run directly (never through a shell).",
        "type": "array", "items": ["type": "string"], "minItems": 1,
        "prefixItems": [["type": "string", "pattern": "^/"]],
        "examples": [["/usr/local/bin/update-index", "--quiet"]],
    ]
}
