extension ConfigSchema {
    /// The schema of one field of a project, by its path as `AgentProjectSpec.fields` names it (`exclude`,
    /// `upstream.url`, `interval.every`, `hooks.onSuccess`); `hooks` is the project's whole `hooks` object, and
    /// `project.upstream` and `project.interval` are the project's references by name, which mirrors.d writes where an
    /// agent's spec spells the upstream and the interval out.
    ///
    /// A flat table, one case per field, so that each text can move into its field's row; `fieldPaths` orders them.
    public static func fieldSchema(_ path: String) -> JSONValue {
        switch path {
        // The project's own keys.
        case "project.upstream":
            return ref(
                "name", "The name of the upstream it comes from, defined in some file of mirrors.d (\(checked)).")
        case "source":
            return ref(
                "mirrorPath",
                "The path inside the upstream. When absent, the upstream's whole tree; an explicit empty string is refused."
            )
        case "path":
            return ref(
                "mirrorPath",
                "The path under the master's root and each slave's publicDir; the project's name when absent. No two projects may share a path or nest one inside the other (\(checked))."
            )
        case "project.interval":
            return ref("name", "The name of the interval it syncs on, defined in some file of mirrors.d (\(checked)).")
        case "slaves":
            return [
                "description":
                    "Which slaves serve it: all or a list of slave names, each defined in some file of mirrors.d (\(checked)). An empty list means the master alone holds it.",
                "oneOf": [
                    ["const": "all", "description": "every slave"],
                    [
                        "type": "array", "items": ["$ref": "#/$defs/name"], "uniqueItems": true,
                        "description": "the slaves named",
                    ],
                ],
                "default": "all",
                "examples": ["all", ["ftp1", "ftp2"]],
            ]
        case "exclude":
            return [
                "description": "rsync patterns of files the project leaves out.", "type": "array",
                "items": ["$ref": "#/$defs/filterPattern"], "default": [], "examples": [["*.tmp", ".~tmp~/"]],
            ]
        case "twoStage":
            return [
                "description":
                    "rsync patterns of files synced, with deletions, in a second pass after everything else, such as index files (Packages*, Release*, dists/), so that clients never see an index before the files it names.",
                "type": "array", "items": ["$ref": "#/$defs/filterPattern"], "default": [],
                "examples": [["Packages*", "Sources*", "Release*", "InRelease"]],
            ]
        case "rsyncOptions":
            return [
                "description": "Extra rsync options, from mirrorsync's allowlist only.", "type": "array",
                "items": rsyncOption, "default": [], "examples": [["--no-owner", "--no-group", "--chmod=D755,F644"]],
            ]
        case "suspended":
            return [
                "description": "Paused: the project keeps its files and runs no sync (true or false).",
                "type": "boolean", "default": false,
            ]
        case "timeout":
            return ref(
                "duration", "The longest one sync of this project may run; the upstream's timeout when absent.",
                examples: ["12h"])
        case "maxDelete":
            return ref(
                "deletionLimit",
                "How much one sync may delete before it is stopped with nothing deleted: a number of files (5000) or a share of the tree (10%, 2.5%).",
                default: "10%")
        case "cname":
            return ref(
                "displayText",
                "How mirror lists name the project (mirrorz's cname); the project's name when absent. Only the master holds it.",
                examples: ["Debian", "AOSP"])
        case "desc":
            return ref(
                "displayText", "A line about the project for mirror lists (mirrorz's desc). Only the master holds it.",
                examples: ["The universal operating system"])
        case "help":
            return ref(
                "webLink",
                "Where the project's help page is, for mirror lists (mirrorz's help): a path on the site or a whole URL. Only the master holds it.",
                examples: ["/help/debian/"])
        case "publish":
            return [
                "description":
                    "How a sync makes the tree public: inPlace (rsync updates the served tree where it stands, index files last with twoStage) or atomic (each sync builds a new revision beside the served one, unchanged files hard-linked, and publishes it with one rename of a symbolic link at the project's path, so a reader sees one whole revision at every moment; on the master and every slave).",
                "enum": ["inPlace", "atomic"], "default": "inPlace",
            ]
        case "stage":
            return [
                "description":
                    "With twoStage: host (each host runs its second stage right after its first) or site (ftpsync's staged mode: every slave pulls the first stage, everything but the index files; once every reachable slave has finished it, or the master's --stage-timeout has passed, the master tells them all to run the second, so the public hosts switch their indices within seconds of each other). site needs twoStage and publish: inPlace.",
                "enum": ["host", "site"], "default": "host",
            ]
        case "trace":
            return [
                "description":
                    "Debian trace files: after each successful sync the master and each slave write project/trace/HOST (as Debian's ftpsync does) and project/trace/_traces, and hold Archive-Update-in-Progress-HOST at the top of the tree while a sync runs. true or false; when absent, on for a tree that has a project/trace/ directory (brought by its upstream).",
                "type": "boolean",
            ]
        case "hooks":
            return ref("hooks", "Programs run after each sync on the host that ran it; see the definition.")
        case "pushTokenFile":
            return ref(
                "absolutePath",
                "A file on the master (mode 0600) holding the token with which the upstream announces a new tree (POST /v1/projects/NAME/trigger); overrides the upstream's pushTokenFile. Only the master holds it.",
                examples: ["/etc/mirrorsync/debian.push"])
        case "logRetention":
            return [
                "description":
                    "How many run logs (rsync's statistics, its standard error and, with --itemize-changes or --verbose, the file list of each run) the master and each slave keep for the project under their state directory; older ones are deleted as each run ends.",
                "type": "integer", "minimum": .integer(TreeSpec.logRetentionRange.lowerBound),
                "maximum": .integer(TreeSpec.logRetentionRange.upperBound),
                "default": .integer(TreeSpec.defaultLogRetention),
            ]

        // The upstream's.
        case "upstream.url":
            return ref(
                "upstreamURL",
                "Where the trees come from: rsync://[USER@]HOST[:PORT]/MODULE/ or an absolute path on the master.",
                examples: ["rsync://rsync.kernel.org/pub/"])
        case "upstream.passwordFile":
            return ref(
                "absolutePath",
                "The file that holds the rsync password of the USER in url (mode 0600); never the password itself. It needs an rsync:// url with a user (\(checked)).",
                examples: ["/etc/mirrorsync/partner.secret"])
        case "upstream.pushTokenFile":
            return ref(
                "absolutePath",
                "A file on the master (mode 0600) holding the token with which this upstream announces a new tree: POST /v1/projects/NAME/trigger with Authorization: Bearer TOKEN starts the sync at once. For every project from this upstream that names no pushTokenFile of its own.",
                examples: ["/etc/mirrorsync/debian.push"])
        case "upstream.timeout":
            return ref(
                "duration", "The longest one sync from this upstream may run before it is stopped.", default: "6h")
        case "upstream.ioTimeout":
            return ref(
                "duration", "How long a transfer may sit without I/O before rsync gives up (rsync's --timeout).",
                default: "10m")
        case "upstream.bandwidthLimit":
            return ref(
                "size", "The most bandwidth one sync from this upstream may use, per second; no limit when absent.",
                examples: ["20MiB", "500K"])

        // The interval's.
        case "interval.every":
            return ref("duration", "Run this often, such as 15m, 1h or 1d.", examples: ["15m", "1h", "6h"])
        case "interval.jitter":
            return ref(
                "duration",
                "A random delay of up to this long before each run, so that mirrors do not all call at once. Goes with 'every', and must be shorter than it (\(checked)).",
                examples: ["1m", "10m"])
        case "interval.cron":
            return ref("cron", "Run at the times this cron expression names.", examples: ["30 2 * * *"])
        case "interval.timezone":
            return [
                "description":
                    "The IANA time zone the cron expression is read in, such as UTC or Europe/Berlin. Goes with 'cron'. Whether the zone exists is \(checked).",
                "type": "string", "minLength": 1, "default": "UTC",
                "examples": ["UTC", "Europe/Berlin", "America/New_York"],
            ]

        // The hooks'.
        case "hooks.onSuccess":
            return ref("hookArgv", "Run after a successful sync (or one with a warning).")
        case "hooks.onFailure":
            return ref("hookArgv", "Run after a failed sync.")
        case "hooks.timeout":
            return ref(
                "duration",
                "How long a hook may run before it is stopped (SIGTERM to its process group, then SIGKILL).",
                default: "5m")

        default:
            preconditionFailure("the configuration schema has no field '\(path)'")
        }
    }
}
