#!/usr/bin/env python3
"""Writes schemas/mirrors.schema.json from the Swift constants: python3 scripts/gen-schema.py schemas/mirrors.schema.json"""
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from swiftconsts import C

V = "checked by mirrorsync validate"
DNS_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

def ref(name, description, **extra):
    d = {"$ref": f"#/$defs/{name}", "description": description}
    d.update(extra)
    return d

defs = {}
defs["name"] = {
    "title": "Name",
    "description": "A name of a project, upstream, slave or interval: 1 to 63 characters, lowercase letters, digits, '.', '_' and '-', starting with a letter or a digit.",
    "type": "string",
    "pattern": C["ObjectName"],
    "examples": ["debian", "kernel-org", "ftp1"],
}
defs["duration"] = {
    "title": "Duration",
    "description": "A length of time: numbers with units d, h, m, s in that order, such as 90s, 15m, 1h30m or 1d; longer than zero, at most 8 digits for each unit.",
    "type": "string",
    "pattern": C["TimeSpan"],
    "examples": ["15m", "1h", "1h30m", "6h", "1d"],
}
defs["size"] = {
    "title": "Size",
    "description": "A rate or size: a number and a unit B, K, M, G (KiB, MiB, GiB: powers of 1024) or KB, MB, GB (powers of 1000), such as 500K, 20MiB or 1.5GB. It must come to at least 1 byte and less than 10^15 bytes (" + V + ").",
    "type": "string",
    "pattern": C["ByteSize"],
    "examples": ["500K", "20MiB", "1.5GB"],
}
defs["mirrorPath"] = {
    "title": "Path in the mirror",
    "description": "A relative path: segments of letters, digits and . _ + ~ @ , = % - joined by '/', an optional trailing '/'; no leading '/' or '-', no '.', '..' or empty segments.",
    "type": "string",
    "pattern": C["MirrorPath"],
    "examples": ["debian", "linux/kernel/", "fedora/linux"],
}
defs["absolutePath"] = {
    "title": "Absolute path",
    "description": "An absolute local path: starts with '/', no '.', '..' or empty ('//') segments, no control characters; one trailing '/' is dropped.",
    "type": "string",
    "pattern": C["AbsolutePath"],
    "examples": ["/srv/mirror", "/etc/mirrorsync/token"],
}
defs["agentURL"] = {
    "title": "Agent API URL",
    "description": "An agent's API address: http(s)://HOST[:PORT][/BASE], where HOST is a DNS name, an IPv4 address or an [IPv6] address; no credentials, query or fragment; port 1-65535.",
    "type": "string",
    "allOf": [
        {"pattern": C["AgentURL"]},
        {"$comment": "AgentURL.normalize also refuses host names over 253 characters.",
         "not": {"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]{254}"}},
    ],
    "examples": ["http://mirror-master.example.org:7070", "https://ftp1.example.org:7071", "http://[2001:db8::10]:7071"],
}
defs["upstreamURL"] = {
    "title": "Upstream location",
    "description": "rsync://[USER@]HOST[:PORT]/MODULE/[PATH/] (an rsync daemon; no password in the URL, use passwordFile) or an absolute path on the master. Remote shells (ssh) and the HOST::MODULE form are not accepted.",
    "type": "string",
    "allOf": [
        {"pattern": C["UpstreamLocation"]},
        {"$comment": "UpstreamLocation.parse also refuses host names over 253 characters.",
         "not": {"pattern": "^rsync://([^/]*@)?(?![^/]*@)[A-Za-z0-9.-]{254}"}},
    ],
    "examples": ["rsync://rsync.kernel.org/pub/", "rsync://mirror@rsync.partner.example/pub/", "/srv/upstream"],
}
defs["cron"] = {
    "title": "Cron expression",
    "description": "Five fields 'minute hour day-of-month month day-of-week' separated by spaces, with *, numbers, ranges a-b, steps */n and a-b/n, lists, and jan-dec / sun-sat; or @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually. The values' ranges (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7) are " + V + ".",
    "type": "string",
    "allOf": [
        {"pattern": C["CronExpression"]},
        {"$comment": "CronExpression.parse takes only digits, names, '*', '-', '/' and ',' in a field.",
         "pattern": "^ *(@[A-Za-z]+|[0-9A-Za-z*/,-]+( +[0-9A-Za-z*/,-]+){4}) *$"},
    ],
    "examples": ["30 2 * * *", "15 */6 * * mon-fri", "@daily"],
}
defs["filterPattern"] = {
    "title": "rsync pattern",
    "description": "An rsync pattern (wildcards *, **, ?, [...]; a leading '/' anchors it, a trailing '/' matches directories only). It stays a pattern: it may not start with '-', '+' or '!', nor like a merge rule ('. ', ': ', ', '), nor hold control characters; 1 to 1024 characters.",
    "type": "string",
    "pattern": C["filterPatternSchema"],
    "examples": ["*.tmp", ".~tmp~/", "Packages*", "dists/"],
}
option_alternatives = [{"enum": C["allowedFlags"], "description": "An allowed rsync option without a value."}]
for name, value in C["allowedValueOptions"]:
    option_alternatives.append({"pattern": f"^{name}=({value})$", "description": f"{name}=VALUE"})
rsync_option = {
    "title": "rsync option",
    "description": "One rsync option in its long form, from mirrorsync's allowlist: one of the flags listed, or --chmod=, --compress-level=, --contimeout=, --modify-window=, --max-size= or --min-size= with a value. Options that run commands, read or write files outside the tree, or override mirrorsync's own choices (-e, --rsh, --rsync-path, --delete*, --exclude, --bwlimit, --timeout, ...) are refused.",
    "type": "string",
    "anyOf": option_alternatives,
    "examples": ["--no-owner", "--chmod=D755,F644", "--contimeout=30"],
}
defs["hostAddress"] = {
    "title": "Listen address",
    "description": "An IPv4 address, an IPv6 address (without brackets) or a host name.",
    "type": "string",
    "anyOf": [
        {"pattern": "^[0-9A-Fa-f.:]*:[0-9A-Fa-f.:]*$"},
        {"pattern": "^(?=.{1,253}$)" + DNS_LABEL + "(\\." + DNS_LABEL + ")*$"},
    ],
    "examples": ["0.0.0.0", "::", "192.0.2.10"],
}
defs["deletionLimit"] = {
    "title": "Deletion limit",
    "description": "How much one sync may delete before it is stopped with nothing deleted: a number of files (a plain, unquoted integer such as 5000) or a share of the files the tree held after its last sync (0% to 100%, such as 10% or 2.5%).",
    "oneOf": [
        {"type": "integer", "minimum": 0, "maximum": 9223372036854775807, "description": "A number of files."},
        {"type": "string", "pattern": C["DeletionLimit.percent"], "description": "A share in percent, from 0% to 100%."},
    ],
    "examples": ["10%", "2.5%", 5000],
}
defs["displayText"] = {
    "title": "Text",
    "description": "Words shown to people as written: 1 to 1024 characters on one line, without control characters.",
    "type": "string",
    "pattern": C["DisplayText"],
}
defs["webLink"] = {
    "title": "Link",
    "description": "A path on the site, starting with '/' (such as /help/debian/), or a whole http(s):// URL; no spaces or control characters, at most 2048 bytes (" + V + ").",
    "type": "string",
    "pattern": C["WebLink"],
    "examples": ["/help/debian/", "https://wiki.example.org/debian"],
}

defs["tls"] = {
    "title": "TLS",
    "description": "How the agents' https:// APIs are verified, for the whole site (top-level tls:) or for one agent (its own tls:, which wins). Without it an https:// api is verified against the system's trust store.",
    "type": "object",
    "properties": {
        "caFile": ref("absolutePath", "A PEM file of one or more CA certificates that sign the agents' certificates, at this path on every host that calls an agent: the reconciler's, the master's (its triggers to the slaves) and the slaves' (their reports to the master).", examples=["/etc/mirrorsync/ca.pem"]),
    },
    "required": ["caFile"],
    "additionalProperties": False,
}
TLS_REF = lambda who: ref("tls", f"The CA that verifies {who}'s https:// api, instead of the site's tls. Refused with an http:// api (" + V + ").")
INSECURE = lambda who: {"description": f"Allows an http:// api to a host that is not loopback: the bearer token then crosses the network in clear, where it can be read and replayed. Without it such an api is refused; refused with an https:// api, which is always verified (" + V + ").", "type": "boolean", "default": False}

defs["master"] = {
    "title": "Master",
    "description": "The master node: it pulls every project from its upstream and serves the slaves from its rsync daemon.",
    "type": "object",
    "properties": {
        "api": ref("agentURL", "The master agent's API address: https:// (the agent started with --tls-cert and --tls-key), or http:// on loopback or with insecure: true (" + V + ").", examples=["https://mirror-master.example.org:7070"]),
        "tokenFile": ref("absolutePath", "The file that holds the operator's bearer token, which the reconciler and the CLI send (mode 0600); the token itself never goes in mirrors.d. Each agent has a credential of its own (docs/security.md).", examples=["/etc/mirrorsync/token"]),
        "root": ref("absolutePath", "The master's tree: each project lives at ROOT/PATH.", examples=["/srv/mirror"]),
        "rsyncd": {
            "description": "Where the master's rsync daemon listens for its slaves.",
            "type": "object",
            "properties": {
                "address": ref("hostAddress", "The address the rsync daemon listens on: an IP address or a host name.", default="0.0.0.0"),
                "port": {"description": "The TCP port the rsync daemon listens on (1-65535; a plain integer).", "type": "integer", "minimum": 1, "maximum": 65535, "default": 873},
                "slavesOnly": {"description": "Whether the daemon takes connections only from the slaves' hosts (rsyncd's 'hosts allow', built from the hosts of the slaves' API addresses; true or false).", "type": "boolean", "default": False},
            },
            "additionalProperties": False,
            "default": {"address": "0.0.0.0", "port": 873, "slavesOnly": False},
        },
        "maxConcurrentSyncs": {"description": "How many upstream syncs may run at once (1-256; a plain integer).", "type": "integer", "minimum": 1, "maximum": 256, "default": 4},
        "publicStatus": {"description": "Whether GET /v1/status answers without a token (true or false).", "type": "boolean", "default": False},
        "tls": TLS_REF("the master"),
        "insecure": INSECURE("the master"),
    },
    "required": ["api", "tokenFile", "root"],
    "additionalProperties": False,
}
defs["interval"] = {
    "title": "Interval",
    "description": "A named schedule: either 'every' (with an optional 'jitter') or 'cron' (with an optional 'timezone').",
    "type": "object",
    "properties": {
        "every": ref("duration", "Run this often, such as 15m, 1h or 1d.", examples=["15m", "1h", "6h"]),
        "jitter": ref("duration", "A random delay of up to this long before each run, so that mirrors do not all call at once. Goes with 'every', and must be shorter than it (" + V + ").", examples=["1m", "10m"]),
        "cron": ref("cron", "Run at the times this cron expression names.", examples=["30 2 * * *"]),
        "timezone": {"description": "The IANA time zone the cron expression is read in, such as UTC or Europe/Berlin. Goes with 'cron'. Whether the zone exists is " + V + ".", "type": "string", "minLength": 1, "default": "UTC", "examples": ["UTC", "Europe/Berlin", "America/New_York"]},
    },
    "oneOf": [
        {"required": ["every"], "description": "a schedule by period"},
        {"required": ["cron"], "description": "a schedule by cron expression"},
    ],
    "dependentRequired": {"jitter": ["every"], "timezone": ["cron"]},
    "additionalProperties": False,
}
defs["upstream"] = {
    "title": "Upstream",
    "description": "A place projects come from: an rsync daemon or a directory on the master.",
    "type": "object",
    "properties": {
        "url": ref("upstreamURL", "Where the trees come from: rsync://[USER@]HOST[:PORT]/MODULE/ or an absolute path on the master.", examples=["rsync://rsync.kernel.org/pub/"]),
        "passwordFile": ref("absolutePath", "The file that holds the rsync password of the USER in url (mode 0600); never the password itself. It needs an rsync:// url with a user (" + V + ").", examples=["/etc/mirrorsync/partner.secret"]),
        "pushTokenFile": ref("absolutePath", "A file on the master (mode 0600) holding the token with which this upstream announces a new tree: POST /v1/projects/NAME/trigger with Authorization: Bearer TOKEN starts the sync at once. For every project from this upstream that names no pushTokenFile of its own.", examples=["/etc/mirrorsync/debian.push"]),
        "timeout": ref("duration", "The longest one sync from this upstream may run before it is stopped.", default="6h"),
        "ioTimeout": ref("duration", "How long a transfer may sit without I/O before rsync gives up (rsync's --timeout).", default="10m"),
        "bandwidthLimit": ref("size", "The most bandwidth one sync from this upstream may use, per second; no limit when absent.", examples=["20MiB", "500K"]),
    },
    "required": ["url"],
    "additionalProperties": False,
}
defs["slave"] = {
    "title": "Slave",
    "description": "A public host that pulls the projects it serves from the master.",
    "type": "object",
    "properties": {
        "api": ref("agentURL", "The slave agent's API address; no two agents may share one. https://, or http:// on loopback or with insecure: true (" + V + ").", examples=["https://ftp1.example.org:7071"]),
        "publicDir": ref("absolutePath", "The slave's public tree: each project it serves lives at PUBLICDIR/PATH.", examples=["/srv/ftp/pub"]),
        "tls": TLS_REF("the slave"),
        "insecure": INSECURE("the slave"),
    },
    "required": ["api", "publicDir"],
    "additionalProperties": False,
}
defs["hookArgv"] = {"description": "A program's absolute path, then its arguments, run directly (never through a shell).", "type": "array", "items": {"type": "string"}, "minItems": 1, "prefixItems": [{"type": "string", "pattern": "^/"}], "examples": [["/usr/local/bin/update-index", "--quiet"]]}

defs["hooks"] = {
    "description": "Programs run after each sync on the host that ran it, as argv arrays (never through a shell), with MIRRORSYNC_PROJECT, MIRRORSYNC_HOST, MIRRORSYNC_RESULT, MIRRORSYNC_EXIT_CODE, MIRRORSYNC_REVISION, MIRRORSYNC_DIR and MIRRORSYNC_LOG in their environment. A hook's outcome is recorded with the run; a failing or hanging hook never fails the sync.",
    "type": "object",
    "properties": {
        "onSuccess": ref("hookArgv", "Run after a successful sync (or one with a warning)."),
        "onFailure": ref("hookArgv", "Run after a failed sync."),
        "timeout": ref("duration", "How long a hook may run before it is stopped (SIGTERM to its process group, then SIGKILL).", default="5m"),
    },
    "additionalProperties": False,
}

defs["project"] = {
    "title": "Project",
    "description": "One mirrored tree.",
    "type": "object",
    "properties": {
        "upstream": ref("name", "The name of the upstream it comes from, defined in some file of mirrors.d (" + V + ")."),
        "source": ref("mirrorPath", "The path inside the upstream. When absent, the upstream's whole tree; an explicit empty string is refused."),
        "path": ref("mirrorPath", "The path under the master's root and each slave's publicDir; the project's name when absent. No two projects may share a path or nest one inside the other (" + V + ")."),
        "interval": ref("name", "The name of the interval it syncs on, defined in some file of mirrors.d (" + V + ")."),
        "slaves": {
            "description": "Which slaves serve it: all or a list of slave names, each defined in some file of mirrors.d (" + V + "). An empty list means the master alone holds it.",
            "oneOf": [
                {"const": "all", "description": "every slave"},
                {"type": "array", "items": {"$ref": "#/$defs/name"}, "uniqueItems": True, "description": "the slaves named"},
            ],
            "default": "all",
            "examples": ["all", ["ftp1", "ftp2"]],
        },
        "exclude": {"description": "rsync patterns of files the project leaves out.", "type": "array", "items": {"$ref": "#/$defs/filterPattern"}, "default": [], "examples": [["*.tmp", ".~tmp~/"]]},
        "twoStage": {"description": "rsync patterns of files synced, with deletions, in a second pass after everything else, such as index files (Packages*, Release*, dists/), so that clients never see an index before the files it names.", "type": "array", "items": {"$ref": "#/$defs/filterPattern"}, "default": [], "examples": [["Packages*", "Sources*", "Release*", "InRelease"]]},
        "rsyncOptions": {"description": "Extra rsync options, from mirrorsync's allowlist only.", "type": "array", "items": rsync_option, "default": [], "examples": [["--no-owner", "--no-group", "--chmod=D755,F644"]]},
        "suspended": {"description": "Paused: the project keeps its files and runs no sync (true or false).", "type": "boolean", "default": False},
        "timeout": ref("duration", "The longest one sync of this project may run; the upstream's timeout when absent.", examples=["12h"]),
        "maxDelete": ref("deletionLimit", "How much one sync may delete before it is stopped with nothing deleted: a number of files (5000) or a share of the tree (10%, 2.5%).", default="10%"),
        "cname": ref("displayText", "How mirror lists name the project (mirrorz's cname); the project's name when absent. Only the master holds it.", examples=["Debian", "AOSP"]),
        "desc": ref("displayText", "A line about the project for mirror lists (mirrorz's desc). Only the master holds it.", examples=["The universal operating system"]),
        "help": ref("webLink", "Where the project's help page is, for mirror lists (mirrorz's help): a path on the site or a whole URL. Only the master holds it.", examples=["/help/debian/"]),
        "publish": {"description": "How a sync makes the tree public: inPlace (rsync updates the served tree where it stands, index files last with twoStage) or atomic (each sync builds a new revision beside the served one, unchanged files hard-linked, and publishes it with one rename of a symbolic link at the project's path, so a reader sees one whole revision at every moment; on the master and every slave).", "enum": ["inPlace", "atomic"], "default": "inPlace"},
        "stage": {"description": "With twoStage: host (each host runs its second stage right after its first) or site (ftpsync's staged mode: every slave pulls the first stage, everything but the index files; once every reachable slave has finished it, or the master's --stage-timeout has passed, the master tells them all to run the second, so the public hosts switch their indices within seconds of each other). site needs twoStage and publish: inPlace.", "enum": ["host", "site"], "default": "host"},
        "trace": {"description": "Debian trace files: after each successful sync the master and each slave write project/trace/HOST (as Debian's ftpsync does) and project/trace/_traces, and hold Archive-Update-in-Progress-HOST at the top of the tree while a sync runs. true or false; when absent, on for a tree that has a project/trace/ directory (brought by its upstream).", "type": "boolean"},
        "hooks": ref("hooks", "Programs run after each sync on the host that ran it; see the definition."),
        "pushTokenFile": ref("absolutePath", "A file on the master (mode 0600) holding the token with which the upstream announces a new tree (POST /v1/projects/NAME/trigger); overrides the upstream's pushTokenFile. Only the master holds it.", examples=["/etc/mirrorsync/debian.push"]),
        "logRetention": {"description": "How many run logs (rsync's statistics, its standard error and, with --itemize-changes or --verbose, the file list of each run) the master and each slave keep for the project under their state directory; older ones are deleted as each run ends.", "type": "integer", "minimum": 1, "maximum": 10000, "default": 20},
    },
    "required": ["upstream", "interval"],
    "additionalProperties": False,
}

defs["site"] = {
    "title": "Site",
    "description": "The mirror site as mirror lists show it: the 'site' object of mirrorz's mirrorz.json (data format 1.7), which the master serves at GET /mirrorz.json. Defined in one file at most (" + V + ").",
    "type": "object",
    "properties": {
        "url": ref("agentURL", "The site's address, such as https://mirrors.example.org; a trailing '/' is dropped. Every project's url in mirrorz.json is a path under it.", examples=["https://mirrors.example.org"]),
        "abbr": ref("displayText", "A short name of the site, such as EXAMPLE.", examples=["EXAMPLE"]),
        "name": ref("displayText", "The site's full name."),
        "logo": ref("webLink", "The site's logo (not an .ico; at least 64x64)."),
        "logoDarkmode": ref("webLink", "The logo for dark mode (mirrorz's logo_darkmode); set it only with 'logo'."),
        "homepage": ref("webLink", "The site's home page or blog."),
        "issue": ref("webLink", "Where to report problems."),
        "request": ref("webLink", "Where to ask for a new mirror."),
        "email": ref("displayText", "The site's contact address."),
        "group": ref("displayText", "Where its users talk, such as a chat group."),
        "disk": ref("displayText", "Any words on the disk's use."),
        "note": ref("displayText", "Any words, such as a speed or connection limit."),
        "big": ref("webLink", "A big file for speed tests, such as /speedtest/1000mb.bin."),
        "disable": {"description": "The site is out of service: mirrorz marks it disabled and sends nobody to it (true or false).", "type": "boolean", "default": False},
    },
    "required": ["url", "abbr"],
    "additionalProperties": False,
}

def section(kind, plural, item, blurb):
    return {
        "description": blurb + f" A mapping from {kind} names to their specs; empty (null) is allowed. A name is defined once across all files (" + V + ").",
        "type": ["object", "null"],
        "propertyNames": {"pattern": C["ObjectName"]},
        "additionalProperties": {"$ref": f"#/$defs/{item}"},
    }

schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://mirrorsync.example/schemas/mirrors.schema.json",
    "$comment": "Kept in step with Sources/MirrorCore: each 'pattern' that stands alone or first in an allOf is copied verbatim from a Swift constant (ObjectName.pattern, TimeSpan.pattern, ByteSize.pattern, MirrorPath.pattern, AbsolutePath.pattern, AgentURL.pattern, UpstreamLocation.pattern, CronExpression.pattern, DeletionLimit.percentPattern, DisplayText.pattern, WebLink.pattern, RsyncPolicy.filterPatternSchema, RsyncPolicy.allowedFlags and allowedValueOptions); the clauses beside them add what the Swift parsers refuse and those patterns let through. Generated by scripts/gen-schema.py; the tests check the copies.",
    "title": "mirrorsync: one file of mirrors.d",
    "description": "One file of mirrorsync's desired state. Every *.yaml and *.yml file of mirrors.d is read in lexical order and merged. This schema checks one file; what spans objects or files (references, duplicate names, path nesting, agent addresses) is " + V + ".",
    "type": "object",
    "properties": {
        "master": ref("master", "The master node. Exactly one file of mirrors.d defines it (" + V + ")."),
        "tls": ref("tls", "The CA that verifies every agent's https:// api, unless the agent names its own. At most one file of mirrors.d defines it (" + V + ")."),
        "intervals": section("interval", "intervals", "interval", "Named schedules that projects refer to."),
        "upstreams": section("upstream", "upstreams", "upstream", "Where projects come from."),
        "slaves": section("slave", "slaves", "slave", "The public hosts that pull from the master."),
        "projects": section("project", "projects", "project", "The mirrored trees."),
        "site": ref("site", "The site as mirror lists (mirrorz, mirror-web) show it."),
        "defaults": {
            "description": "The site's defaults for project fields: a project that leaves one of these out takes it from here. At most one file of mirrors.d defines it (" + V + ").",
            "type": "object",
            "properties": {key: defs["project"]["properties"][key] for key in ["hooks", "trace", "logRetention"]},
            "additionalProperties": False,
        },
    },
    "patternProperties": {
        "^x-": {"description": "Free for YAML anchors that '<<' merges reuse; mirrorsync ignores the key itself."},
    },
    "additionalProperties": False,
    "$defs": defs,
}
def fmt(v, ind=0):
    pad = "  " * ind
    if isinstance(v, dict):
        if not v: return "{}"
        items = [f'{pad}  {json.dumps(k, ensure_ascii=False)}: {fmt(x, ind + 1)}' for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, list):
        one = json.dumps(v, ensure_ascii=False)
        if all(not isinstance(x, (dict, list)) for x in v) and len(one) + len(pad) <= 110:
            return one
        return "[\n" + ",\n".join(pad + "  " + fmt(x, ind + 1) for x in v) + "\n" + pad + "]"
    return json.dumps(v, ensure_ascii=False)
open(sys.argv[1], "w").write(fmt(schema) + "\n")
assert json.load(open(sys.argv[1])) == schema
