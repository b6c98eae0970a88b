// The field table: every field of a project, one row each. A new field is a property (of `TreeSpec`, or of
// `UpstreamSpec` for a field of the upstream), its row here (with `hashing: .whenSet`, at the end of the table, and
// its schema text in `.described`), and its use; its test is a row of `ProjectFieldTableTests`.

private typealias S = ConfigSchema

extension AgentProjectSpec {
    /// Every field of a project, in the order the generation walks them.
    public static let fields: [ProjectField] = [
        .upstream(
            "url", { $0.url }, { $0.url = $1 }, scope: .upstreamLeg, value: { .text($0.description) },
            text: { $0.description }, decode: nil
        ).described(
            [
                "description":
                    "Where the trees come from: rsync://[USER@]HOST[:PORT]/MODULE/ or an absolute path on the master; with command, any address the program reads (TUNASYNC_UPSTREAM_URL).",
                "type": "string", "examples": ["rsync://rsync.kernel.org/pub/", "https://pypi.org/"],
            ]),
        .upstreamFile("passwordFile", { $0.passwordFile }) { $0.passwordFile = $1 }.described(
            S.ref(
                "absolutePath",
                "The file that holds the rsync password of the USER in url (mode 0600); never the password itself. It needs an rsync:// url with a user (\(S.checked)).",
                examples: ["/etc/mirrorsync/partner.secret"])),
        // The reconciler names the site's credential in every slave's pull; the pull gets it from there, not from
        // the master's spec.
        .upstream(
            "credential", { $0.credential }, { $0.credential = $1 }, scope: .upstreamLeg, agentOnly: true,
            value: { Canonical.text($0?.rawValue) }, text: { $0?.rawValue },
            decode: { d, f in
                d.optional(f, "credential") { text, _ throws(ValueError) in
                    guard let credential = UpstreamCredential(rawValue: text) else {
                        throw ValueError("'\(text)' is not a credential; the one there is is 'site'")
                    }
                    return credential
                }
            }),
        // A slave's pull from the master's module may take as long as the master's run of the project.
        .upstream(
            "timeout", { $0.timeout }, { $0.timeout = $1 }, scope: .everyHost, value: Canonical.span,
            text: { $0.description }, carry: { pull, spec in pull.timeout = spec.runTimeout },
            decode: { d, f in d.optional(f, "timeout") { text, _ throws(ValueError) in try TimeSpan.parse(text) } }
        ).described(
            S.ref(
                "duration", "The longest one sync from this upstream may run before it is stopped.", default: "6h")),
        .upstream(
            "ioTimeout", { $0.ioTimeout }, { $0.ioTimeout = $1 }, scope: .everyHost, value: Canonical.span,
            text: { $0.description },
            decode: { d, f in d.optional(f, "ioTimeout") { text, _ throws(ValueError) in try TimeSpan.parse(text) } }
        ).described(
            S.ref(
                "duration", "How long a transfer may sit without I/O before rsync gives up (rsync's --timeout).",
                default: "10m")),
        .upstreamFile("pushTokenFile", { $0.pushTokenFile }) { $0.pushTokenFile = $1 }.described(
            S.ref(
                "absolutePath",
                "A file on the master (mode 0600) holding the token with which this upstream announces a new tree: POST /v1/projects/NAME/trigger with Authorization: Bearer TOKEN starts the sync at once. For every project from this upstream that names no pushTokenFile of its own.",
                examples: ["/etc/mirrorsync/debian.push"])),
        .upstream(
            "bandwidthLimit", { $0.bandwidthLimit }, { $0.bandwidthLimit = $1 }, scope: .upstreamLeg,
            value: { $0.map { .number($0.bytes) } ?? .absent }, text: { $0?.description },
            decode: { d, f in
                d.optional(f, "bandwidthLimit") { text, _ throws(ValueError) in try ByteSize.parse(text) }
            }
        ).described(
            S.ref(
                "size", "The most bandwidth one sync from this upstream may use, per second; no limit when absent.",
                examples: ["20MiB", "500K"])),
        .tree(
            "source", { $0.source }, { $0.source = $1 }, scope: .upstreamLeg, omit: { $0.isEmpty },
            value: { .text($0) }, text: { $0.isEmpty ? nil : $0 },
            decode: { d, f in d.optional(f, "source") { text, _ throws(ValueError) in try MirrorPath.normalize(text) } }
        ).described(
            S.ref(
                "mirrorPath",
                "The path inside the upstream. When absent, the upstream's whole tree; an explicit empty string is refused."
            )),
        // Left out, the project's name (the tree starts with it).
        .tree(
            "path", { $0.path }, { $0.path = $1 }, required: true, value: { .text($0) }, text: { $0 },
            decode: { d, f in d.optional(f, "path") { text, _ throws(ValueError) in try MirrorPath.normalize(text) } }
        ).described(
            S.ref(
                "mirrorPath",
                "The path under the master's root and each slave's publicDir; the project's name when absent. No two projects may share a path or nest one inside the other (\(S.checked))."
            )),
        .interval("every", { $0.every }, value: Canonical.span, text: { $0?.description }).described(
            S.ref("duration", "Run this often, such as 15m, 1h or 1d.", examples: ["15m", "1h", "6h"])),
        .interval("jitter", { $0.jitter }, value: Canonical.span, text: { $0?.description }).described(
            S.ref(
                "duration",
                "A random delay of up to this long before each run, so that mirrors do not all call at once. Goes with 'every', and must be shorter than it (\(S.checked)).",
                examples: ["1m", "10m"])),
        .interval("cron", { $0.cron?.text }, value: Canonical.text, text: { $0 }).described(
            S.ref("cron", "Run at the times this cron expression names.", examples: ["30 2 * * *"])),
        .interval("timezone", { $0.timezone }, value: Canonical.text, text: { $0 }).described(
            [
                "description":
                    "The IANA time zone the cron expression is read in, such as UTC or Europe/Berlin. Goes with 'cron'. Whether the zone exists is \(S.checked).",
                "type": "string", "minLength": 1, "default": "UTC",
                "examples": ["UTC", "Europe/Berlin", "America/New_York"],
            ]),
        .treeList("exclude", { $0.exclude }, { $0.exclude = $1 }, check: RsyncPolicy.checkPattern).described(
            [
                "description": "rsync patterns of files the project leaves out.", "type": "array",
                "items": ["$ref": "#/$defs/filterPattern"], "default": [], "examples": [["*.tmp", ".~tmp~/"]],
            ]),
        .treeList("twoStage", { $0.twoStage }, { $0.twoStage = $1 }, check: RsyncPolicy.checkPattern).described(
            [
                "description":
                    "rsync patterns of files synced, with deletions, in a second pass after everything else, such as index files (Packages*, Release*, dists/), so that clients never see an index before the files it names.",
                "type": "array", "items": ["$ref": "#/$defs/filterPattern"], "default": [],
                "examples": [["Packages*", "Sources*", "Release*", "InRelease"]],
            ]),
        .treeList("rsyncOptions", { $0.rsyncOptions }, { $0.rsyncOptions = $1 }, check: RsyncPolicy.checkOption)
            .described(
                [
                    "description": "Extra rsync options, from mirrorsync's allowlist only.", "type": "array",
                    "items": S.rsyncOption, "default": [],
                    "examples": [["--no-owner", "--no-group", "--chmod=D755,F644"]],
                ]),
        .tree(
            "suspended", { $0.suspended }, { $0.suspended = $1 }, value: { .flag($0) }, text: Canonical.flag,
            decode: { d, f in d.boolean(f, "suspended") }
        ).described(
            [
                "description": "Paused: the project keeps its files and runs no sync (true or false).",
                "type": "boolean", "default": false,
            ]),
        // A slave's pull takes the whole run's timeout as its upstream's (above).
        .treeSpan("timeout", { $0.timeout }, { $0.timeout = $1 }, scope: .upstreamLeg).described(
            S.ref(
                "duration", "The longest one sync of this project may run; the upstream's timeout when absent.",
                examples: ["12h"])),
        // "10%" and "10" differ: the text is canonical.
        .tree(
            "maxDelete", { $0.maxDelete }, { $0.maxDelete = $1 }, value: { .text($0.description) },
            text: { $0.description },
            decode: { d, f in
                d.optional(f, "maxDelete") { text, scalar throws(ValueError) in
                    try DeletionLimit.parse(text, plain: scalar.isPlain)
                }
            }
        ).described(
            S.ref(
                "deletionLimit",
                "How much one sync may delete before it is stopped with nothing deleted: a number of files (5000) or a share of the tree (10%, 2.5%).",
                default: "10%")),
        .treeChoice("publish", { $0.publish }, { $0.publish = $1 }, initial: .inPlace, parse: PublishMode.parse)
            .described(
                [
                    "description":
                        "How a sync makes the tree public: inPlace (rsync updates the served tree where it stands, index files last with twoStage) or atomic (each sync builds a new revision beside the served one, unchanged files hard-linked, and publishes it with one rename of a symbolic link at the project's path, so a reader sees one whole revision at every moment; on the master and every slave).",
                    "enum": ["inPlace", "atomic"], "default": "inPlace",
                ]),
        // The master tells a slave each stage in its trigger.
        .treeChoice(
            "stage", { $0.stage }, { $0.stage = $1 }, initial: .host, scope: .masterOnly, parse: StageMode.parse
        ).described(
            [
                "description":
                    "With twoStage: host (each host runs its second stage right after its first) or site (ftpsync's staged mode: every slave pulls the first stage, everything but the index files; once every reachable slave has finished it, or the master's --stage-timeout has passed, the master tells them all to run the second, so the public hosts switch their indices within seconds of each other). site needs twoStage and publish: inPlace.",
                "enum": ["host", "site"], "default": "host",
            ]),
        .tree(
            "trace", { $0.trace }, { $0.trace = $1 }, inDefaults: true, omit: { $0 == nil },
            value: { $0.map(FieldValue.flag) ?? .absent }, text: Canonical.flag,
            decode: { d, f in d.boolean(f, "trace") }
        ).described(
            [
                "description":
                    "Debian trace files: after each successful sync the master and each slave write project/trace/HOST (as Debian's ftpsync does) and project/trace/_traces, and hold Archive-Update-in-Progress-HOST at the top of the tree while a sync runs. true or false; when absent, on for a tree that has a project/trace/ directory (brought by its upstream).",
                "type": "boolean",
            ]),
        .hook("hooks.onSuccess", { $0.onSuccess }, whole: true).described(
            S.ref("hookArgv", "Run after a successful sync (or one with a warning)."),
            object: S.ref("hooks", "Programs run after each sync on the host that ran it; see the definition.")),
        .hook("hooks.onFailure", { $0.onFailure }).described(
            S.ref("hookArgv", "Run after a failed sync.")),
        ProjectField(
            "hooks.timeout", { Canonical.span($0.hooks?.timeout) }, text: { $0.hooks?.timeout?.description },
            scope: .everyHost, decoding: .withObject
        ).described(
            S.ref(
                "duration",
                "How long a hook may run before it is stopped (SIGTERM to its process group, then SIGKILL).",
                default: "5m")),
        .tree(
            "logRetention", { $0.logRetention }, { $0.logRetention = $1 }, inDefaults: true, omit: { $0 == nil },
            value: { $0.map { FieldValue.number(Int64($0)) } ?? .absent }, text: { $0.map(String.init) },
            decode: { d, f in d.integer(f, "logRetention", in: TreeSpec.logRetentionRange) }
        ).described(
            [
                "description":
                    "How many run logs (rsync's statistics, its standard error and, with --itemize-changes or --verbose, the file list of each run) the master and each slave keep for the project under their state directory; older ones are deleted as each run ends.",
                "type": "integer", "minimum": .integer(TreeSpec.logRetentionRange.lowerBound),
                "maximum": .integer(TreeSpec.logRetentionRange.upperBound),
                "default": .integer(TreeSpec.defaultLogRetention),
            ]),
        // mirrors.d names them, or `all`; the master's spec lists them.
        ProjectField(
            "slaves", { .list($0.slaves) }, text: { Canonical.listText($0.slaves) }, scope: .masterOnly,
            decoding: .withObject
        ).described(
            [
                "description":
                    "Which slaves serve it: all or a list of slave names, each defined in some file of mirrors.d (\(S.checked)). An empty list means the master alone holds it.",
                "oneOf": [
                    ["const": "all", "description": "every slave"],
                    [
                        "type": "array", "items": ["$ref": "#/$defs/name"], "uniqueItems": true,
                        "description": "the slaves named",
                    ],
                ],
                "default": "all",
                "examples": ["all", ["ftp1", "ftp2"]],
            ]),
        // What mirror lists show of the project (GET /mirrorz.json) is the master's to say.
        .treeText("cname", { $0.cname }, { $0.cname = $1 }, scope: .masterOnly, check: DisplayText.check).described(
            S.ref(
                "displayText",
                "How mirror lists name the project (mirrorz's cname); the project's name when absent. Only the master holds it.",
                examples: ["Debian", "AOSP"])),
        .treeText("desc", { $0.desc }, { $0.desc = $1 }, scope: .masterOnly, check: DisplayText.check).described(
            S.ref(
                "displayText", "A line about the project for mirror lists (mirrorz's desc). Only the master holds it.",
                examples: ["The universal operating system"])),
        .treeText("help", { $0.help }, { $0.help = $1 }, scope: .masterOnly, check: WebLink.check).described(
            S.ref(
                "webLink",
                "Where the project's help page is, for mirror lists (mirrorz's help): a path on the site or a whole URL. Only the master holds it.",
                examples: ["/help/debian/"])),
        // Who may announce a new tree is the master's to check.
        .treeText(
            "pushTokenFile", { $0.pushTokenFile }, { $0.pushTokenFile = $1 }, scope: .masterOnly,
            check: AbsolutePath.normalize
        ).described(
            S.ref(
                "absolutePath",
                "A file on the master (mode 0600) holding the token with which the upstream announces a new tree (POST /v1/projects/NAME/trigger); overrides the upstream's pushTokenFile. Only the master holds it.",
                examples: ["/etc/mirrorsync/debian.push"])),
        // Added since project/v2: hashed only when set, so a project that leaves them out keeps its generation.
        // An upstream that is a program (docs/providers.md): what the master runs, and how its output is read.
        .upstream(
            "command", { $0.command }, { $0.command = $1 }, scope: .upstreamLeg, hashing: .whenSet,
            value: { $0.map(FieldValue.list) ?? .absent }, text: { $0.map(Canonical.listText) },
            decode: { d, f in d.argv(f, "command", what: "command") }
        ).described(
            S.ref(
                "hookArgv",
                "A program that brings the tree instead of rsync: its absolute path, inside the master's --allow-exec, then its arguments; run directly (never through a shell) in the project's tree, in its own process group, with tunasync's TUNASYNC_* and mirrorsync's MIRRORSYNC_* variables (docs/providers.md). Its output is the run's log and its exit status the run's result. The url is then any address, handed to it as TUNASYNC_UPSTREAM_URL.",
                examples: [["/usr/share/mirrorsync/providers/git-mirror"]])),
        .upstream(
            "env", { $0.env }, { $0.env = $1 }, scope: .upstreamLeg, hashing: .whenSet,
            value: { $0.map { .list(Canonical.variables($0)) } ?? .absent },
            text: { $0.map { Canonical.listText(Canonical.variables($0)) } },
            decode: { d, f in d.variables(f, "env") }
        ).described([
            "description":
                "Variables added to the program's environment (which is otherwise clean: a minimal PATH and LANG, and the TUNASYNC_* and MIRRORSYNC_* ones, which env cannot replace). Goes with command.",
            "type": "object",
            "propertyNames": [
                "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "not": ["pattern": "^(TUNASYNC_|MIRRORSYNC_|PATH$|LANG$)"],
            ],
            "additionalProperties": ["type": "string"], "examples": [["BANDERSNATCH_WORKERS": "4"]],
        ]),
        .upstream(
            "sizePattern", { $0.sizePattern }, { $0.sizePattern = $1 }, scope: .upstreamLeg, hashing: .whenSet,
            value: Canonical.text, text: { $0 },
            decode: { d, f in
                d.optional(f, "sizePattern") { text, _ throws(ValueError) in
                    try ProgramUpstream.checkPattern(text, needsGroup: true)
                }
            }
        ).described([
            "description":
                "A regular expression over the program's output whose first group is the tree's size (1.2G, 345M, 12K or bytes), shown wherever a size is shown (tunasync's size_pattern). Goes with command.",
            "type": "string", "examples": ["Total size is ([0-9.]+[KMGTP]?)"],
        ]),
        .upstream(
            "failOnMatch", { $0.failOnMatch }, { $0.failOnMatch = $1 }, scope: .upstreamLeg, hashing: .whenSet,
            value: Canonical.text, text: { $0 },
            decode: { d, f in
                d.optional(f, "failOnMatch") { text, _ throws(ValueError) in
                    try ProgramUpstream.checkPattern(text, needsGroup: false)
                }
            }
        ).described([
            "description":
                "A regular expression over the program's output: a match fails the run, whatever its exit status (tunasync's fail_on_match). Goes with command.",
            "type": "string", "examples": ["^ERROR"],
        ]),
        .upstream(
            "successExitCodes", { $0.successExitCodes }, { $0.successExitCodes = $1 }, scope: .upstreamLeg,
            hashing: .whenSet, value: { $0.map { .list($0.map(String.init)) } ?? .absent },
            text: { $0.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" } },
            decode: { d, f in d.exitCodes(f, "successExitCodes") }
        ).described([
            "description": "The program's exit codes that mean success. Goes with command.", "type": "array",
            "items": ["type": "integer", "minimum": 0, "maximum": 255], "minItems": 1, "default": [0],
            "examples": [[0, 24]],
        ]),
        // Every host walks the whole tree at least this often, whatever a cheaper pull would do.
        .treeSpan("verifyEvery", { $0.verifyEvery }, { $0.verifyEvery = $1 }, hashing: .whenSet, inDefaults: true)
            .described(
                S.ref(
                    "duration",
                    "The longest a host goes between two full walks of the tree: a pull that would read only a change list, or a run the upstream's probe would skip, walks everything instead once this much has passed since the last full walk.",
                    examples: ["12h", "7d"], default: "1d")),
        .tree(
            "limits", { $0.limits }, { $0.limits = $1 }, hashing: .whenSet, omit: { $0 == nil },
            value: { $0.map { .text($0.canonical) } ?? .absent }, text: { $0?.canonical },
            decode: { d, f in d.limits(f) }
        ).described([
            "description":
                "What each run of the project may use, on the master and on every slave, applied to the run's whole process group (rsync's, or a command's program and all it starts): a cgroup where the agent can make one, else rlimits, nice and ionice; the run's log says which held. A run past its memory limit is stopped and fails with \"memory limit\".",
            "type": "object",
            "properties": [
                "memory": S.ref("size", "The most memory the run's processes may hold together; at least 16MiB."),
                "cpus": [
                    "description": "CPU time, in CPUs: 1.5 is one and a half CPUs.", "type": "number", "minimum": 0.01,
                ],
                "nice": [
                    "description": "The scheduling niceness, 0 to 19.", "type": "integer", "minimum": 0, "maximum": 19,
                ],
                "io": [
                    "description": "The I/O class: idle (disk time only when no one else wants it) or best-effort.",
                    "enum": ["idle", "best-effort"],
                ],
            ],
            "additionalProperties": false,
            "examples": [["memory": "2GiB", "cpus": 1.5, "nice": 10, "io": "idle"]],
        ]),
        // A probe is of the upstream: a slave's pull, from the master's module, does not hold it.
        .treeText("probe", { $0.probe }, { $0.probe = $1 }, scope: .upstreamLeg, hashing: .whenSet, check: Probe.check)
            .described(
                S.ref(
                    "mirrorPath",
                    "A small file inside the project's tree on the upstream, such as project/trace/master, which the master fetches alone (by rsync; by HTTP(S) for a command upstream whose url is http(s)) before each scheduled run: when its content is what it was at the last successful run, the run ends unchanged without walking the tree. A full run still happens at least every verifyEvery, and a push or a manual sync always runs in full. Overrides the upstream's probe.",
                    examples: ["project/trace/master"])),
        .upstream(
            "probe", { $0.probe }, { $0.probe = $1 }, scope: .upstreamLeg, hashing: .whenSet, value: Canonical.text,
            text: { $0 },
            decode: { d, f in d.optional(f, "probe") { text, _ throws(ValueError) in try Probe.check(text) } }
        ).described(
            S.ref(
                "mirrorPath",
                "The probe of every project from this upstream that names none of its own: a small file inside each project's tree on the upstream (see the project's probe).",
                examples: ["project/trace/master"])),
    ]

    /// The fields of the project's tree, which code themselves into its JSON object.
    static let treeCodings: [TreeCoding] = fields.compactMap(\.coding)

    /// The keys of a project's mapping, in the fields' order.
    public static let keys: [String] = fields.map(\.key).reduce(into: []) { keys, key in
        if !keys.contains(key) { keys.append(key) }
    }

    /// The keys of one of its objects (`upstream`, `interval`): as an agent reads them, or as mirrors.d writes them.
    public static func keys(of object: String, inMirrorsD: Bool = false) -> [String] {
        fields.filter { $0.key == object && !(inMirrorsD && $0.agentOnly) }.compactMap(\.subkey)
    }

    /// The keys the site's `defaults:` may set.
    public static let defaultsKeys: [String] = fields.filter(\.inDefaults).map(\.key)

    /// The fields that differ from `new`, sorted by path: what the plan shows for an update.
    public func changes(to new: AgentProjectSpec) -> [FieldChange] {
        Self.sortedFields.compactMap { field in
            field.value(self) == field.value(new)
                ? nil : FieldChange(path: field.path, old: field.text(self), new: field.text(new))
        }
    }

    static let sortedFields = fields.sorted { $0.path < $1.path }

    /// A slave's pull of this project, the master's copy: from the master's module `module`, with the site's
    /// credential, every `fallback` even without a trigger, and each field its row's scope gives every host
    /// (`FieldScope.everyHost`): the tree copied whole, less what it does not hold, and what the rows carry.
    public func pull(from module: UpstreamLocation, every fallback: TimeSpan) -> AgentProjectSpec {
        var tree = self.tree
        for leave in Self.pullLeaves { leave(&tree) }
        var upstream = UpstreamSpec(url: module, credential: .site)
        for carry in Self.pullCarries { carry(&upstream, self) }
        return AgentProjectSpec(upstream: upstream, interval: .every(fallback), tree: tree)
    }

    static let pullLeaves = fields.compactMap(\.leave)
    static let pullCarries = fields.compactMap(\.carry)

}
