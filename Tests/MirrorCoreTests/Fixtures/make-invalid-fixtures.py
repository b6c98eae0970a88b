# Writes the single-file negative fixtures into invalid/ (python3 make-invalid-fixtures.py); edit here, not there.
# Writes the single-file negative fixtures. Each entry: name, schema verdict, [(line, col, keywords)], content.
# Lines are counted in the content; the header lines are added.
import os
F = []
def fx(name, schema, expects, content):
    F.append((name, schema, expects, content))

P = "projects:\n  linux:\n    upstream: kernel-org\n    interval: hourly\n"
def proj(extra, name="linux"):
    return f"projects:\n  {name}:\n    upstream: kernel-org\n    interval: hourly\n" + extra

# --- YAML level
fx("yaml-syntax-indentation", "reject", [(5, 12, "mapping values are not allowed")],
   "projects:\n  linux:\n    upstream: kernel-org\n    interval: hourly\n    path: a: b\n")
fx("yaml-duplicate-key", "exempt PyYAML keeps the last of duplicate keys; a schema never sees the first",
   [(6, 5, "duplicate key 'path' | first given at line 7, column 5")], proj("    path: a\n    path: b\n").replace("    path: a\n    path: b\n", "    path: a\n    path: b\n"))
fx("yaml-multiple-documents", "reject", [(3, 1, "second YAML document | one document")],
   "projects: {}\n...\n---\nslaves: {}\n")
fx("yaml-tag-str", "exempt PyYAML resolves !!str; mirrorsync refuses every tag",
   [(5, 11, "tags are not supported | !!str")], proj("    path: !!str kernel\n"))
fx("yaml-tag-custom", "reject", [(5, 11, "tags are not supported | !include")], proj("    path: !include other.yaml\n"))
fx("yaml-non-utf8", "reject", [(5, 15, "not valid UTF-8 | 0xFF")], proj("    path: kern\xffel\n"))
fx("yaml-empty-file", "reject", [(None, None, "file is empty")], "\n")
fx("yaml-list-root", "reject", [(1, 1, "must be a mapping | a list")], "- linux\n- debian\n")
fx("yaml-scalar-root", "reject", [(1, 1, "must be a mapping | 'linux'")], "linux\n")
fx("yaml-unknown-alias", "reject", [(5, 11, "alias '*kernel' | no anchor")], proj("    path: *kernel\n"))
fx("yaml-complex-key", "reject", [(2, 5, "key must be a plain word | a list")], "projects:\n  ? [linux, debian]\n  : { upstream: kernel-org, interval: hourly }\n")
fx("yaml-merge-scalar", "reject", [(5, 9, "'<<' merges mappings | 'kernel'")], proj("    <<: kernel\n"))
fx("yaml-deep-nesting", "exempt the nesting limit protects the loader; the schema lets x- keys hold anything",
   [(1, 72, "nest deeper than 64")], "x-deep: " + "[" * 70 + "]" * 70 + "\n")
fx("yaml-billion-laughs", "skip expanding it is the attack; the schema check would expand it",
   [(6, 42, "aliases expand to more than | billion laughs")],
   "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
   + "".join(f"x-{chr(98+i)}: &{chr(98+i)} [" + ", ".join([f"*{chr(97+i)}"] * 10) + "]\n" for i in range(9))
   + "x-boom: [*j, *j, *j, *j, *j, *j, *j, *j, *j, *j]\nx-more: [*j, *j, *j, *j, *j, *j, *j, *j, *j, *j]\n")
# --- structure
fx("unknown-top-level-key", "reject", [(1, 1, "unknown top-level key 'project' | did you mean 'projects'")],
   "project:\n  linux:\n    upstream: kernel-org\n    interval: hourly\n")
fx("unknown-key-did-you-mean", "reject", [(4, 5, "unknown key 'intervall' in project 'linux' | did you mean 'interval'")],
   "projects:\n  linux:\n    upstream: kernel-org\n    intervall: hourly\n")
fx("section-not-mapping", "reject", [(1, 11, "'projects' must be a mapping | a list")], "projects: [linux, debian]\n")
fx("object-not-mapping", "reject", [(2, 10, "project 'linux' must be a mapping | 'kernel'")], "projects:\n  linux: kernel\n")
fx("object-null", "reject", [(2, 9, "project 'linux' must be a mapping | null")], "projects:\n  linux:\n")
fx("missing-upstream", "reject", [(2, 3, "project 'linux' has no 'upstream'")], "projects:\n  linux:\n    interval: hourly\n")
fx("misspelled-required-key", "reject", [(3, 5, "unknown key 'upstrem' | did you mean 'upstream'")], "projects:\n  linux:\n    upstrem: kernel-org\n    interval: hourly\n")
fx("duplicate-master", "exempt a second master is only a duplicate across files", [(1, 1, "master is defined twice | base.yaml:2:1")],
   "master:\n  api: http://127.0.0.1:7170\n  tokenFile: /etc/mirrorsync/token\n  root: /srv/mirror\n")
fx("duplicate-slave-across-files", "exempt duplicate names across files", [(2, 3, "slave 'ftp1' is defined twice | base.yaml:15:3")],
   "slaves:\n  ftp1: { api: http://127.0.0.1:7171, publicDir: /srv/ftp/pub }\n")
fx("name-uppercase", "reject", [(2, 3, "invalid project name | 'Linux' must start with a lowercase")], proj("", name="Linux"))
fx("name-too-long", "reject", [(2, 3, "invalid project name | longer than 63")], proj("", name="a" * 64))
fx("name-bad-character", "reject", [(2, 3, "invalid project name | only lowercase letters")], proj("", name="linux/x"))
fx("reference-upstream-typo", "exempt references cross files", [(3, 15, "refers to upstream 'kernel-orgg' | did you mean 'kernel-org'")],
   "projects:\n  linux:\n    upstream: kernel-orgg\n    interval: hourly\n")
fx("reference-interval-missing", "exempt references cross files", [(4, 15, "refers to interval 'weekly', which no file defines")],
   "projects:\n  linux:\n    upstream: kernel-org\n    interval: weekly\n")
fx("reference-slave-missing", "exempt references cross files", [(5, 20, "refers to slave 'ftp3' | did you mean 'ftp1'")], proj("    slaves: [ftp1, ftp3]\n"))
fx("slaves-listed-twice", "reject", [(5, 20, "slave 'ftp1' is listed twice | first at line 7, column 14")], proj("    slaves: [ftp1, ftp1]\n"))
fx("slaves-bad-word", "reject", [(5, 13, "expected 'all' or a list of slave names | 'everyone'")], proj("    slaves: everyone\n"))
# --- paths
fx("path-dotdot", "reject", [(5, 11, "'..' segment")], proj("    path: ../etc\n"))
fx("path-absolute", "reject", [(5, 11, "is absolute")], proj("    path: /etc\n"))
fx("path-empty-segment", "reject", [(5, 11, "empty segment")], proj("    path: pub//linux\n"))
fx("path-dot-segment", "reject", [(5, 11, "'.' segment")], proj("    path: pub/./linux\n"))
fx("path-space", "reject", [(5, 11, "a space")], proj("    path: \"my linux\"\n"))
fx("path-colon", "reject", [(5, 11, "':'")], proj("    path: host:linux\n"))
fx("path-same-as-other", "exempt path conflicts span projects and files", [(9, 11, "project 'mainline' has path 'kernel', the same as project 'linux'")],
   proj("    path: kernel\n") + "  mainline:\n    upstream: kernel-org\n    interval: hourly\n    path: kernel/\n")
fx("path-nested", "exempt path conflicts span projects and files", [(9, 11, "project 'security' has path 'debian/security', inside project 'debian'")],
   proj("    path: debian\n", name="debian") + "  security:\n    upstream: kernel-org\n    interval: hourly\n    path: debian/security\n")
fx("source-option-like", "reject", [(5, 13, "starts with '-' | option")], proj("    source: --delete\n"))
fx("source-wildcard", "reject", [(5, 13, "'*'")], proj("    source: pub/*\n"))
# --- rsync
fx("exclude-include-rule", "reject", [(5, 15, "starts with '+' | filter rule")], proj("    exclude: [\"+ secret/\"]\n"))
fx("exclude-minus-rule", "reject", [(6, 9, "starts with '-'")], proj("    exclude:\n      - \"- foo\"\n"))
fx("exclude-bang", "reject", [(5, 15, "starts with '!'")], proj("    exclude: [\"!\"]\n"))
fx("exclude-newline", "reject", [(5, 15, "a newline | split it into rsync rules")], proj("    exclude: [\"*.tmp\\n+ /etc\"]\n"))
fx("exclude-nul", "reject", [(5, 15, "a NUL byte")], proj("    exclude: [\"*.tmp\\0\"]\n"))
fx("exclude-merge-rule", "reject", [(5, 15, "merge rule")], proj("    exclude: [\". /etc/rsync-rules\"]\n"))
fx("two-stage-rule", "reject", [(5, 29, "starts with '+'")], proj("    twoStage: [\"Packages*\", \"+ *\"]\n"))
fx("rsync-option-rsh", "reject", [(5, 20, "'--rsh' is not allowed | remote shell")], proj("    rsyncOptions: [\"--rsh=ssh evil\"]\n"))
fx("rsync-option-e", "reject", [(5, 20, "'-e' is not allowed")], proj("    rsyncOptions: [-e, \"sh -c id\"]\n").replace("[-e, \"sh -c id\"]", "[-e]"))
fx("rsync-option-rsync-path", "reject", [(5, 20, "'--rsync-path' is not allowed")], proj("    rsyncOptions: [\"--rsync-path=sudo rsync\"]\n"))
fx("rsync-option-files-from", "reject", [(5, 20, "'--files-from' is not allowed")], proj("    rsyncOptions: [--files-from=/etc/shadow]\n"))
fx("rsync-option-write-batch", "reject", [(5, 20, "'--write-batch' is not allowed")], proj("    rsyncOptions: [--write-batch=/tmp/x]\n"))
fx("rsync-option-delete", "reject", [(5, 20, "'--delete' is not allowed | own safe order")], proj("    rsyncOptions: [--delete]\n"))
fx("rsync-option-typo", "reject", [(5, 20, "'--no-ownr' is not in the allowlist | did you mean '--no-owner'")], proj("    rsyncOptions: [--no-ownr]\n"))
fx("rsync-option-not-an-option", "reject", [(5, 20, "'daemon' is not an rsync option")], proj("    rsyncOptions: [daemon]\n"))
fx("rsync-option-chmod-injection", "reject", [(5, 20, "invalid value")], proj("    rsyncOptions: [\"--chmod=$(id)\"]\n"))
fx("rsync-option-short", "reject", [(5, 20, "short option")], proj("    rsyncOptions: [-z]\n"))
# --- values
fx("duration-no-unit", "reject", [(2, 22, "'60' has no unit")], "intervals:\n  minutely: { every: 60 }\n")
fx("duration-bad-unit", "reject", [(2, 22, "'1x' is not a duration")], "intervals:\n  minutely: { every: 1x }\n")
fx("duration-zero", "reject", [(2, 19, "longer than zero")], "intervals:\n  never: { every: 0m }\n")
fx("jitter-too-long", "exempt comparing two durations", [(2, 32, "jitter 2h must be shorter than every 1h")], "intervals:\n  wobbly: { every: 1h, jitter: 2h }\n")
fx("interval-every-and-cron", "reject", [(2, 22, "both 'every' and 'cron'")], "intervals:\n  both: { every: 1h, cron: \"0 * * * *\" }\n")
fx("interval-empty", "reject", [(2, 3, "needs 'every' | or 'cron'")], "intervals:\n  nothing: {}\n")
fx("interval-jitter-with-cron", "reject", [(2, 29, "'jitter' goes with 'every'")], "intervals:\n  odd: { cron: \"0 * * * *\", jitter: 1m }\n")
fx("cron-minute-range", "exempt cron field ranges", [(2, 16, "minute field | 61 is outside 0-59")], "intervals:\n  odd: { cron: \"61 * * * *\" }\n")
fx("cron-four-fields", "reject", [(2, 16, "has 4 fields")], "intervals:\n  odd: { cron: \"* * * *\" }\n")
fx("timezone-unknown", "exempt time zone names", [(2, 39, "'Mars/Olympus' is not a time zone")], "intervals:\n  odd: { cron: \"0 3 * * *\", timezone: Mars/Olympus }\n")
fx("size-bad-unit", "reject", [(4, 21, "unknown unit 'XB'")], "upstreams:\n  slow:\n    url: rsync://slow.example.org/pub/\n    bandwidthLimit: 20XB\n")
fx("bool-yes", "exempt YAML 1.1 reads yes as a boolean; mirrorsync takes only true and false", [(5, 16, "expected true or false | YAML 1.1")], proj("    suspended: yes\n"))
fx("bool-quoted", "reject", [(5, 16, "expected true or false | quoted")], proj("    suspended: \"true\"\n"))
fx("int-quoted", "reject alone", [(6, 11, "expected a whole number | quoted")], "master:\n  api: http://127.0.0.1:7070\n  tokenFile: /etc/mirrorsync/token\n  root: /srv/mirror\n  rsyncd:\n    port: \"873\"\n")
fx("int-out-of-range", "reject alone", [(5, 19, "70000 is outside 1...65535")], "master:\n  api: http://127.0.0.1:7070\n  tokenFile: /etc/mirrorsync/token\n  root: /srv/mirror\n  rsyncd: { port: 70000 }\n")
fx("int-leading-zero", "exempt alone YAML 1.1 reads 010 as octal 8", [(5, 23, "expected a whole number | '010'")], "master:\n  api: http://127.0.0.1:7070\n  tokenFile: /etc/mirrorsync/token\n  root: /srv/mirror\n  maxConcurrentSyncs: 010\n")
fx("max-delete-over-100", "reject", [(5, 16, "'150%' is not a share")], proj("    maxDelete: 150%\n"))
fx("max-delete-negative", "reject", [(5, 16, "'-5' is not a deletion limit")], proj("    maxDelete: -5\n"))
fx("stage-unknown", "reject", [(5, 12, "'staged' is not a stage | host or site")], proj("    twoStage: [dists/]\n    stage: staged\n".replace("    twoStage: [dists/]\n", "") + "    twoStage: [dists/]\n"))
fx("stage-site-without-two-stage", "exempt one field's rule on another's", [(5, 12, "stage: site needs twoStage")], proj("    stage: site\n"))
fx("stage-site-with-atomic", "exempt one field's rule on another's", [(6, 12, "stage: site works with publish: inPlace")],
   proj("    twoStage: [dists/]\n    stage: site\n    publish: atomic\n"))
# --- urls and secrets
fx("upstream-password-in-url", "reject", [(3, 10, "holds a password | passwordFile")], "upstreams:\n  partner:\n    url: rsync://mirror:hunter2@rsync.partner.example/pub/\n")
fx("upstream-inline-password", "reject", [(4, 5, "'password' in upstream 'partner' is not allowed | secrets never go inline | passwordFile")],
   "upstreams:\n  partner:\n    url: rsync://mirror@rsync.partner.example/pub/\n    password: hunter2\n")
fx("upstream-ssh", "reject", [(3, 10, "neither an rsync:// URL nor an absolute path")], "upstreams:\n  box:\n    url: mirror@box.example.org:/srv/pub\n")
fx("upstream-double-colon", "reject", [(3, 10, "HOST::MODULE")], "upstreams:\n  box:\n    url: box.example.org::pub\n")
fx("upstream-http", "reject", [(3, 10, "not an rsync URL")], "upstreams:\n  box:\n    url: https://box.example.org/pub/\n")
fx("upstream-no-module", "reject", [(3, 10, "names no module")], "upstreams:\n  box:\n    url: rsync://box.example.org\n")
fx("password-file-without-user", "exempt passwordFile needs a user in url", [(4, 5, "passwordFile needs a user")],
   "upstreams:\n  box:\n    url: rsync://box.example.org/pub/\n    passwordFile: /etc/mirrorsync/box.secret\n")
fx("password-file-relative", "reject", [(4, 19, "not an absolute path")],
   "upstreams:\n  box:\n    url: rsync://mirror@box.example.org/pub/\n    passwordFile: box.secret\n")
fx("slave-api-ftp", "reject", [(2, 16, "http:// or https://")], "slaves:\n  ftp3: { api: \"ftp://ftp3.example.org\", publicDir: /srv/ftp }\n")
fx("slave-api-credentials", "reject", [(2, 16, "holds credentials")], "slaves:\n  ftp3: { api: \"http://admin:pw@ftp3.example.org:7071\", publicDir: /srv/ftp }\n")
fx("slave-public-dir-relative", "reject", [(2, 60, "not an absolute path")], "slaves:\n  ftp3: { api: \"https://ftp3.example.org:7071\", publicDir: srv/ftp }\n")
fx("slave-api-plain-http", "exempt whether a host is loopback is not a pattern the schema can say plainly; insecure is a separate key",
   [(2, 16, "plain HTTP to a host that is not loopback | in clear | https:// | insecure: true")],
   "slaves:\n  ftp3: { api: \"http://ftp3.example.org:7071\", publicDir: /srv/ftp }\n")
fx("slave-insecure-https", "exempt insecure depends on the api's scheme, which the schema does not relate",
   [(2, 70, "insecure: true allows plain http:// | always verified")],
   "slaves:\n  ftp3: { api: \"https://ftp3.example.org:7071\", publicDir: /srv/ftp, insecure: true }\n")
fx("slave-tls-plain-http", "exempt tls depends on the api's scheme, which the schema does not relate",
   [(2, 62, "tls verifies an https:// api | plain http://")],
   "slaves:\n  ftp3: { api: \"http://127.0.0.1:7079\", publicDir: /srv/ftp, tls: { caFile: /etc/mirrorsync/ca.pem } }\n")
fx("tls-without-ca-file", "reject", [(1, 1, "the site's tls has no 'caFile'")], "tls: {}\n")
fx("tls-ca-file-relative", "reject", [(1, 16, "caFile | not an absolute path")], "tls: { caFile: ca.pem }\n")
fx("slave-same-api-as-master", "exempt agent addresses span objects", [(2, 3, "has api http://127.0.0.1:7070, the same as master")],
   "slaves:\n  ftp3: { api: \"http://127.0.0.1:7070/\", publicDir: /srv/ftp }\n")
fx("many-errors-one-run", "reject",
   [(2, 3, "project 'linux' has no 'upstream'"), (3, 5, "unknown key 'upstrem-url' in project 'linux'"), (4, 5, "unknown key 'intervall' | did you mean 'interval'"), (5, 11, "'..' segment"), (6, 15, "starts with '+'"), (7, 16, "expected true or false")],
   "projects:\n  linux:\n    upstrem-url: kernel-org\n    intervall: hourly\n    path: ../etc\n    exclude: [\"+ x\"]\n    suspended: on\n")

# --- site: and what mirror lists show of a project
fx("site-missing-abbr", "reject", [(1, 1, "site has no 'abbr'")], "site:\n  url: https://mirrors.example.org\n")
fx("site-url-ftp", "reject", [(2, 8, "http:// or https://")], "site:\n  url: ftp://mirrors.example.org\n  abbr: EXAMPLE\n")
fx("site-unknown-key", "reject", [(3, 3, "unknown key 'logo_darkmode' in site | did you mean 'logoDarkmode'")],
   "site:\n  url: https://mirrors.example.org\n  logo_darkmode: /img/logo-white.svg\n  abbr: EXAMPLE\n")
# --- notify: webhooks, mail, routes
fx("notify-unknown-key", "reject", [(2, 3, "unknown key 'webhook' in notify | did you mean 'webhooks'")],
   "notify:\n  webhook:\n    ops: { url: \"https://hooks.example.org/m\", secretFile: /etc/mirrorsync/webhook.secret }\n")
fx("notify-bad-severity", "reject", [(5, 17, "'critical' is not a severity | warning or error")],
   "notify:\n  mail:\n    ops:\n      to: [ops@example.org]\n      severity: critical\n")
fx("notify-mail-header-injection", "reject", [(4, 12, "holds a newline | a mail address is ASCII")],
   "notify:\n  mail:\n    ops:\n      to: [\"ops@example.org\\nBcc: all@example.org\"]\n")
fx("notify-route-unknown-project", "exempt references cross files",
   [(7, 5, "notify's routes name project 'linxu', which no file defines | did you mean 'linux'")],
   proj("notify:\n  routes:\n    linxu: { to: [linux@example.org] }\n"))
fx("notify-inline-secret", "reject",
   [(3, 5, "notify's webhook 'ops' has no 'secretFile'"), (5, 7, "'secret' in notify's webhook 'ops' is not allowed | secretFile")],
   "notify:\n  webhooks:\n    ops:\n      url: https://hooks.example.org/mirrorsync\n      secret: hunter2\n")
fx("notify-max-per-hour-zero", "reject", [(2, 15, "0 is outside 1...1000")], "notify:\n  maxPerHour: 0\n")
fx("project-help-not-a-link", "reject", [(5, 11, "neither a path nor a URL")], proj("    help: help/linux\n"))
fx("project-desc-tab", "reject", [(5, 11, "a tab | one line")], proj("    desc: \"Linux\\tkernel\"\n"))

# --- a host's trace: (one line of printable text for each value, a host name, a country code)
def traced(line):
    return "slaves:\n  ftp3:\n    api: \"https://ftp3.example.org:7071\"\n    publicDir: /srv/ftp\n    trace:\n      host: ftp3.example.org\n" + line
fx("slave-trace-newline", "reject", [(7, 19, "a control character or line break | one line of printable text")],
   traced("      maintainer: \"Admins <mirror@example.org>\\nX-Injected: yes\"\n"))
fx("slave-trace-line-separator", "reject", [(7, 17, "U+2028 | one line of printable text")],
   traced("      location: \"Berlin\\u2028Mitte\"\n"))
fx("slave-trace-country", "reject", [(7, 16, "'Germany' is not a country code | ISO 3166")], traced("      country: Germany\n"))
fx("slave-trace-host", "reject", [(6, 13, "is not a host name")],
   traced("").replace("host: ftp3.example.org", "host: ftp3.example.org/x"))
fx("slave-trace-unknown-key", "reject", [(7, 7, "unknown key 'sponser' in trace of slave 'ftp3' | did you mean 'sponsor'")],
   traced("      sponser: Example University\n"))
fx("slave-trace-retries", "reject", [(7, 24, "1000 is outside 0...100")], traced("      upstreamRetries: 1000\n"))
# --- tiers: a slave that pulls from another (from:)
fx("tier-from-unknown", "exempt references cross objects", [(2, 68, "slave 'ftp3' pulls from slave 'ftp9', which no file defines")],
   "slaves:\n  ftp3: { api: \"http://127.0.0.1:7173\", publicDir: /srv/ftp, from: ftp9 }\n")
fx("tier-from-itself", "exempt the schema does not relate a key to its object's name", [(2, 68, "a slave cannot pull from itself")],
   "slaves:\n  ftp3: { api: \"http://127.0.0.1:7173\", publicDir: /srv/ftp, from: ftp3 }\n")
fx("tier-cycle", "exempt references cross objects",
   [(2, 68, "slave 'ftp3' pulls from itself through ftp3 <- ftp4 <- ftp3"), (3, 68, "slave 'ftp4' pulls from itself through ftp4 <- ftp3 <- ftp4")],
   "slaves:\n  ftp3: { api: \"http://127.0.0.1:7173\", publicDir: /srv/ftp, from: ftp4 }\n  ftp4: { api: \"http://127.0.0.1:7174\", publicDir: /srv/ftp, from: ftp3 }\nprojects:\n  linux: { upstream: kernel-org, interval: hourly, slaves: [ftp3, ftp4] }\n")
fx("tier-not-served", "exempt references cross objects",
   [(4, 67, "project 'linux' is served by slave 'ftp3', which pulls from slave 'ftp1', but 'ftp1' does not serve it")],
   "slaves:\n  ftp3: { api: \"http://127.0.0.1:7173\", publicDir: /srv/ftp, from: ftp1 }\nprojects:\n  linux: { upstream: kernel-org, interval: hourly, slaves: [ftp2, ftp3] }\n")
# --- probes and the master's daemon's bounds
fx("probe-dotdot", "reject", [(5, 12, "'..' segment")], proj("    probe: ../trace/master\n"))
fx("probe-option-like", "reject", [(5, 12, "starts with '-' | option")], proj("    probe: --delete\n"))
fx("probe-directory", "exempt the schema's mirrorPath allows a trailing '/'; that a probe is one file is the validator's rule", [(5, 12, "ends in '/' | one file")], proj("    probe: project/trace/\n"))
fx("probe-absolute", "reject", [(2, 57, "is absolute")],
   "upstreams:\n  mirror: { url: \"rsync://ftp.example.org/pub/\", probe: /project/trace/master }\n")
fx("rsyncd-max-connections-zero", "reject alone", [(5, 29, "0 is outside 1...100000")],
   "master:\n  api: http://127.0.0.1:7070\n  tokenFile: /etc/mirrorsync/token\n  root: /srv/mirror\n  rsyncd: { maxConnections: 0 }\n")
fx("rsyncd-max-per-slave-quoted", "reject alone", [(5, 26, "expected a whole number | quoted")],
   "master:\n  api: http://127.0.0.1:7070\n  tokenFile: /etc/mirrorsync/token\n  root: /srv/mirror\n  rsyncd: { maxPerSlave: \"4\" }\n")

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "invalid")
os.makedirs(out, exist_ok=True)
for name, schema, expects, content in F:
    header = []
    alone = " alone" in schema
    schema = schema.replace(" alone", "")
    for (l, c, words) in expects:
        where = "-" if l is None else f"{l + len(expects) + 1 + alone}:{c}"
        header.append(f"# expect: {where}: {words}")
    header.append(f"# schema: {schema}")
    if alone:
        header.append("# load: alone")
    data = ("\n".join(header) + "\n").encode() + content.encode("latin-1" if "\xff" in content else "utf-8")
    open(f"{out}/{name}.yaml", "wb").write(data)
print(len(F), "fixtures")
