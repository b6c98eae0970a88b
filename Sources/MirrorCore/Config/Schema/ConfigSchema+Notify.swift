extension ConfigSchema {
    /// `notify:`, its webhooks, mail targets and routes, and a mail address.
    static let notifyDefinitions: [(key: String, value: JSONValue)] = [
        ("mailAddress", mailAddress), ("webhook", webhook), ("mailTarget", mailTarget), ("notify", notify),
    ]

    static let mailAddress: JSONValue = [
        "title": "Mail address",
        "description":
            "A mail address, name@example.org: ASCII, no spaces, quotes, comments or line breaks, at most 254 characters, so that nothing can add a header or a recipient.",
        "type": "string", "pattern": .string(MailAddress.pattern), "maxLength": .number(Double(MailAddress.maxLength)),
        "examples": ["mirror-admins@example.org"],
    ]

    static let severity: JSONValue = [
        "description":
            "The least severity this target is told of: warning (every change: also a project gone stale, a slave behind) or error (a project failing, a slave unreachable). A recovery goes wherever the trouble it ends went.",
        "enum": .array(NotifySeverity.allCases.map { .string($0.rawValue) }), "default": "warning",
    ]

    static let webhook: JSONValue = [
        "title": "Webhook",
        "description":
            "A JSON POST on each change, signed: the header X-Mirrorsync-Signature: sha256=HEX is HMAC-SHA256 of the body under the secret in secretFile. Retried with backoff until it is answered 2xx.",
        "type": "object",
        "properties": [
            "url": ref(
                "agentURL", "Where the POST goes: http:// or https:// (verified against the system's trust store).",
                examples: ["https://hooks.example.org/mirrorsync"]),
            "secretFile": ref(
                "absolutePath",
                "A file on the master, of mode 0600 and outside its trees, that holds the signing secret; read at each POST, so a new secret takes effect at once.",
                examples: ["/etc/mirrorsync/webhook.secret"]),
            "severity": severity,
            "timeout": ref("duration", "The longest one POST may take, answer included (at most 5m).", default: "10s"),
        ],
        "required": ["url", "secretFile"],
        "additionalProperties": false,
    ]

    static let mailTarget: JSONValue = [
        "title": "Mail target",
        "description": "Mail through the master's sendmail -t (mirrorsync master --sendmail).",
        "type": "object",
        "properties": [
            "to": [
                "description": "The recipients.", "type": "array", "minItems": 1,
                "items": ["$ref": "#/$defs/mailAddress"],
            ],
            "severity": severity,
        ],
        "required": ["to"],
        "additionalProperties": false,
    ]

    static let notify: JSONValue = [
        "title": "Notifications",
        "description":
            "Whom the master tells when the site's state changes: a project starts failing, recovers or goes stale; a slave becomes unreachable or falls behind, and recovers. Only changes are told, each once; sending never delays or fails a sync. At most one file of mirrors.d defines it (\(checked)).",
        "type": "object",
        "properties": [
            "webhooks": namedTargets("webhook", "Webhooks, by a name of your choosing."),
            "mail": namedTargets("mailTarget", "Mail targets, by a name of your choosing."),
            "routes": [
                "description":
                    "By project: its maintainers, who get mail on that project's changes alone. Each name is a project that a file of mirrors.d defines (\(checked)).",
                "type": "object",
                "propertyNames": ["pattern": .string(ObjectName.pattern)],
                "additionalProperties": ["$ref": "#/$defs/mailTarget"],
            ],
            "from": ref("mailAddress", "The mails' From:; without it sendmail writes the agent's user at the host."),
            "checkEvery": ref(
                "duration",
                "How often the master looks for what no run tells it: a project gone stale, a slave that stopped answering or fell behind.",
                default: .string(NotifySpec.defaultCheckEvery.description)),
            "unreachableAfter": ref(
                "duration", "How long a slave may go unanswered before it is told as unreachable.",
                default: .string(NotifySpec.defaultUnreachableAfter.description)),
            "behindAfter": ref(
                "duration",
                "How long a slave may lack the master's revision of a project before it is told as behind.",
                default: .string(NotifySpec.defaultBehindAfter.description)),
            "maxPerHour": [
                "description":
                    "The most messages one target (a webhook, a mail target, a route) gets in any 60 minutes; the changes beyond wait and go out together in one message when the hour allows (1-1000; a plain integer).",
                "type": "integer", "minimum": .number(Double(NotifySpec.maxPerHourRange.lowerBound)),
                "maximum": .number(Double(NotifySpec.maxPerHourRange.upperBound)),
                "default": .number(Double(NotifySpec.defaultMaxPerHour)),
            ],
        ],
        "additionalProperties": false,
    ]

    static func namedTargets(_ definition: String, _ blurb: String) -> JSONValue {
        [
            "description": .string(blurb),
            "type": "object",
            "propertyNames": ["pattern": .string(ObjectName.pattern)],
            "additionalProperties": ["$ref": .string("#/$defs/" + definition)],
        ]
    }
}
