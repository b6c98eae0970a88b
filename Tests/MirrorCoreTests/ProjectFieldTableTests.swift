import Foundation
import Testing
@testable import MirrorCore

/// Every field of a project, its upstream, its interval, a slave and the master, changed one at a time: the
/// generation of what an agent holds changes and the plan names the field. A field that is in a key list, a struct
/// or `AgentProjectSpec.fields` but not in this table fails `tableCoversEveryField`.
@Suite("Every field, one at a time")
struct ProjectFieldTableTests {
    /// `agent` (`master` or a slave's name) holds `object` (a project's name, or `settings`) whose `path` changes.
    struct Expect: Sendable, CustomStringConvertible {
        var agent: String
        var object: String
        var path: String
        var description: String { "\(agent) \(object) \(path)" }
    }

    struct Row: Sendable, CustomStringConvertible {
        /// `project.exclude`, `upstream.url`, `interval.cron`, `slave.api`, `master.rsyncd.port`, ...
        var field: String
        /// Nil for a field only the reconciler sets (mirrors.d cannot write it): the row's one `expect` names a spec
        /// that holds it, and the test changes it there.
        var change: (@Sendable (inout DesiredState) throws -> Void)?
        /// Empty for a field no agent holds; `why` says so.
        var expect: [Expect]
        var why: String? = nil
        var description: String { field }
    }

    static func e(_ agent: String, _ object: String, _ path: String) -> Expect {
        Expect(agent: agent, object: object, path: path)
    }

    static func base() throws -> DesiredState {
        DesiredState(
            master: MasterSpec(
                api: "http://127.0.0.1:7070", tokenFile: "/etc/mirrorsync/token", root: "/srv/mirror",
                rsyncd: RsyncdSpec(address: "127.0.0.1", port: 8873)),
            intervals: [
                "hourly": .every(TimeSpan(seconds: 3600), jitter: TimeSpan(seconds: 300)),
                "daily": .every(TimeSpan(seconds: 86400)),
                "nightly": .cron(try CronExpression.parse("0 3 * * *"), timezone: "UTC"),
            ],
            upstreams: [
                "kernel-org": UpstreamSpec(
                    url: try UpstreamLocation.parse("rsync://mirror@rsync.kernel.org/pub/"),
                    passwordFile: "/etc/mirrorsync/kernel.secret"),
                "local": UpstreamSpec(url: .local(path: "/srv/upstream")),
            ],
            slaves: [
                "ftp1": SlaveSpec(api: "http://127.0.0.1:7071", publicDir: "/srv/ftp"),
                "ftp2": SlaveSpec(api: "http://127.0.0.1:7072", publicDir: "/srv/www"),
            ],
            projects: [
                "linux": ProjectSpec(upstream: "kernel-org", source: "linux", path: "linux", interval: "hourly"),
                "gnu": ProjectSpec(upstream: "local", path: "gnu", interval: "nightly", slaves: .named(["ftp1"])),
            ],
            site: SiteSpec(url: "https://mirrors.example.org", abbr: "EXAMPLE"), notify: NotifySpec())
    }

    static let rows: [Row] =
        [
            Row(
                field: "project.upstream", change: { $0.projects["linux"]!.upstream = "local" },
                expect: [e("master", "linux", "upstream.url")]),
            Row(
                field: "project.source", change: { $0.projects["linux"]!.source = "linux/kernel" },
                expect: [e("master", "linux", "source")]),
            Row(
                field: "project.path", change: { $0.projects["linux"]!.path = "pub/linux" },
                expect: [e("master", "linux", "path"), e("ftp1", "linux", "path"), e("ftp2", "linux", "path")]),
            Row(
                field: "project.interval", change: { $0.projects["linux"]!.interval = "daily" },
                expect: [e("master", "linux", "interval.every")]),
            Row(
                field: "project.slaves", change: { $0.projects["linux"]!.slaves = .named(["ftp1"]) },
                expect: [e("master", "linux", "slaves")]),
            Row(
                field: "project.exclude", change: { $0.projects["linux"]!.exclude = ["*.iso"] },
                expect: [e("master", "linux", "exclude"), e("ftp1", "linux", "exclude")]),
            Row(
                field: "project.twoStage", change: { $0.projects["linux"]!.twoStage = ["Packages*"] },
                expect: [e("master", "linux", "twoStage"), e("ftp1", "linux", "twoStage")]),
            Row(
                field: "project.rsyncOptions", change: { $0.projects["linux"]!.rsyncOptions = ["--no-owner"] },
                expect: [e("master", "linux", "rsyncOptions"), e("ftp1", "linux", "rsyncOptions")]),
            Row(
                field: "project.suspended", change: { $0.projects["linux"]!.suspended = true },
                expect: [e("master", "linux", "suspended"), e("ftp1", "linux", "suspended")]),
            Row(
                field: "project.timeout", change: { $0.projects["linux"]!.timeout = TimeSpan(seconds: 600) },
                expect: [e("master", "linux", "timeout"), e("ftp1", "linux", "upstream.timeout")]),
            Row(
                field: "project.maxDelete", change: { $0.projects["linux"]!.maxDelete = .files(100) },
                expect: [e("master", "linux", "maxDelete"), e("ftp1", "linux", "maxDelete")]),
            // What mirror lists show is the master's alone (GET /mirrorz.json): the slaves' pulls leave it out.
            Row(
                field: "project.cname", change: { $0.projects["linux"]!.cname = "Linux" },
                expect: [e("master", "linux", "cname")],
                why: "not on the slaves"),
            Row(
                field: "project.desc", change: { $0.projects["linux"]!.desc = "The kernel" },
                expect: [e("master", "linux", "desc")],
                why: "not on the slaves"),
            Row(
                field: "project.help", change: { $0.projects["linux"]!.help = "/help/linux/" },
                expect: [e("master", "linux", "help")],
                why: "not on the slaves"),
            Row(
                field: "project.pushTokenFile",
                change: { $0.projects["linux"]!.pushTokenFile = "/etc/mirrorsync/linux.push" },
                expect: [e("master", "linux", "pushTokenFile")], why: "pushes are announced to the master alone"),
            Row(
                field: "project.publish", change: { $0.projects["linux"]!.publish = .atomic },
                expect: [e("master", "linux", "publish"), e("ftp1", "linux", "publish")]),
            Row(
                field: "project.stage",
                change: {
                    $0.projects["linux"]!.twoStage = ["dists/"]
                    $0.projects["linux"]!.stage = .site
                },
                expect: [
                    e("master", "linux", "twoStage"), e("master", "linux", "stage"), e("ftp1", "linux", "twoStage"),
                ],
                why: "the master tells each slave its stage in the trigger"),
            Row(
                field: "project.trace", change: { $0.projects["linux"]!.trace = false },
                expect: [e("master", "linux", "trace"), e("ftp1", "linux", "trace")]),
            Row(
                field: "project.hooks",
                change: {
                    $0.projects["linux"]!.hooks = HookSpec(
                        onSuccess: ["/usr/local/bin/reindex", "linux"], onFailure: ["/bin/false"],
                        timeout: TimeSpan(seconds: 60))
                },
                expect: [
                    e("master", "linux", "hooks.onSuccess"), e("master", "linux", "hooks.onFailure"),
                    e("master", "linux", "hooks.timeout"),
                    e("ftp1", "linux", "hooks.onSuccess"),
                ]),
            Row(
                field: "project.logRetention", change: { $0.projects["linux"]!.logRetention = 5 },
                expect: [e("master", "linux", "logRetention"), e("ftp1", "linux", "logRetention")]),

            Row(
                field: "project.probe", change: { $0.projects["linux"]!.probe = "project/trace/master" },
                expect: [e("master", "linux", "probe")], why: "a probe is of the upstream: the master's alone"),
            Row(
                field: "project.verifyEvery",
                change: { $0.projects["linux"]!.verifyEvery = TimeSpan(seconds: 7200) },
                expect: [e("master", "linux", "verifyEvery"), e("ftp1", "linux", "verifyEvery")]),
            Row(
                field: "project.limits",
                change: { $0.projects["linux"]!.limits = ResourceLimits(memory: ByteSize(bytes: 1 << 30), nice: 10) },
                expect: [e("master", "linux", "limits"), e("ftp1", "linux", "limits")]),

            Row(
                field: "upstream.url",
                change: {
                    $0.upstreams["kernel-org"]!.url = try UpstreamLocation.parse(
                        "rsync://mirror@mirrors.kernel.org/pub/")
                },
                expect: [e("master", "linux", "upstream.url")]),
            Row(
                field: "upstream.passwordFile",
                change: { $0.upstreams["kernel-org"]!.passwordFile = "/etc/mirrorsync/other.secret" },
                expect: [e("master", "linux", "upstream.passwordFile")]),
            Row(
                field: "upstream.pushTokenFile",
                change: { $0.upstreams["kernel-org"]!.pushTokenFile = "/etc/mirrorsync/kernel.push" },
                expect: [e("master", "linux", "upstream.pushTokenFile")]),
            Row(
                field: "upstream.timeout", change: { $0.upstreams["kernel-org"]!.timeout = TimeSpan(seconds: 3600) },
                expect: [e("master", "linux", "upstream.timeout"), e("ftp1", "linux", "upstream.timeout")]),
            Row(
                field: "upstream.ioTimeout", change: { $0.upstreams["kernel-org"]!.ioTimeout = TimeSpan(seconds: 60) },
                expect: [e("master", "linux", "upstream.ioTimeout"), e("ftp1", "linux", "upstream.ioTimeout")]),
            Row(
                field: "upstream.credential", change: nil, expect: [e("ftp1", "linux", "upstream.credential")],
                why: "the reconciler names the site's credential in every slave's pull"),
            Row(
                field: "upstream.probe", change: { $0.upstreams["kernel-org"]!.probe = "project/trace/master" },
                expect: [e("master", "linux", "upstream.probe")]),
            Row(
                field: "upstream.bandwidthLimit",
                change: { $0.upstreams["kernel-org"]!.bandwidthLimit = ByteSize(bytes: 1 << 20) },
                expect: [e("master", "linux", "upstream.bandwidthLimit")]),

            // A program upstream: its url is the program's (written as it was), and the pulls of the slaves, which come
            // from the master's module, stay as they were.
            Row(
                field: "upstream.command", change: { Self.program(&$0) },
                expect: [e("master", "gnu", "upstream.command")], why: "the upstream leg alone"),
            Row(
                field: "upstream.env",
                change: {
                    Self.program(&$0)
                    $0.upstreams["local"]!.env = ["WORKERS": "4"]
                },
                expect: [e("master", "gnu", "upstream.command"), e("master", "gnu", "upstream.env")]),
            Row(
                field: "upstream.sizePattern",
                change: {
                    Self.program(&$0)
                    $0.upstreams["local"]!.sizePattern = "size: ([0-9.]+[KMG]?)"
                },
                expect: [e("master", "gnu", "upstream.command"), e("master", "gnu", "upstream.sizePattern")]),
            Row(
                field: "upstream.failOnMatch",
                change: {
                    Self.program(&$0)
                    $0.upstreams["local"]!.failOnMatch = "^ERROR"
                },
                expect: [e("master", "gnu", "upstream.command"), e("master", "gnu", "upstream.failOnMatch")]),
            Row(
                field: "upstream.successExitCodes",
                change: {
                    Self.program(&$0)
                    $0.upstreams["local"]!.successExitCodes = [0, 24]
                },
                expect: [e("master", "gnu", "upstream.command"), e("master", "gnu", "upstream.successExitCodes")]),

            Row(
                field: "interval.every", change: { $0.intervals["hourly"]!.every = TimeSpan(seconds: 7200) },
                expect: [e("master", "linux", "interval.every")]),
            Row(
                field: "interval.jitter", change: { $0.intervals["hourly"]!.jitter = TimeSpan(seconds: 600) },
                expect: [e("master", "linux", "interval.jitter")]),
            Row(
                field: "interval.cron",
                change: { $0.intervals["nightly"]!.cron = try CronExpression.parse("0 4 * * *") },
                expect: [e("master", "gnu", "interval.cron")]),
            Row(
                field: "interval.timezone", change: { $0.intervals["nightly"]!.timezone = "Europe/Berlin" },
                expect: [e("master", "gnu", "interval.timezone")]),

            Row(
                field: "slave.api", change: { $0.slaves["ftp1"]!.api = "http://127.0.0.1:7079" },
                expect: [e("master", "settings", "slaves.ftp1")]),
            Row(
                field: "slave.publicDir", change: { $0.slaves["ftp1"]!.publicDir = "/srv/pub" },
                expect: [e("ftp1", "settings", "root")]),
            Row(
                field: "slave.tls", change: { $0.slaves["ftp1"]!.tls = TLSSpec(caFile: "/etc/mirrorsync/ca.pem") },
                expect: [e("master", "settings", "peers.http://127.0.0.1:7071.caFile")]),
            Row(
                field: "slave.insecure", change: { $0.slaves["ftp1"]!.insecure = true },
                expect: [e("master", "settings", "peers.http://127.0.0.1:7071.insecure")]),
            Row(
                field: "slave.trace", change: { $0.slaves["ftp1"]!.trace = TraceSettings(host: "ftp1.example.org") },
                expect: [e("ftp1", "settings", "trace.host")]),
            // A tier: ftp2 pulls from ftp1's daemon, which ftp1 now runs and triggers; the master relays for ftp2.
            Row(
                field: "slave.from", change: { $0.slaves["ftp2"]!.from = "ftp1" },
                expect: [
                    e("master", "settings", "tiers.ftp2"), e("ftp2", "settings", "master"),
                    e("ftp2", "settings", "chain"),
                    e("ftp2", "linux", "upstream.url"), e("ftp1", "linux", "slaves"),
                ]),
            Row(
                field: "slave.rsyncd",
                change: { $0.slaves["ftp1"]!.rsyncd = RsyncdSpec(address: "127.0.0.1", port: 8874) }, expect: [],
                why: "a slave's rsync daemon runs only when another slave pulls from it (from:)"),

            Row(
                field: "master.api", change: { $0.master.api = "http://localhost:7070" },
                expect: [
                    e("ftp1", "settings", "master"), e("ftp1", "linux", "upstream.url"),
                    e("ftp2", "settings", "master"),
                ]),
            Row(
                field: "master.tls", change: { $0.master.tls = TLSSpec(caFile: "/etc/mirrorsync/ca.pem") },
                expect: [
                    e("ftp1", "settings", "peers.http://127.0.0.1:7070.caFile"),
                    e("ftp2", "settings", "peers.http://127.0.0.1:7070.caFile"),
                ]),
            Row(
                field: "master.insecure", change: { $0.master.insecure = true },
                expect: [e("ftp1", "settings", "peers.http://127.0.0.1:7070.insecure")]),
            Row(
                field: "master.trace", change: { $0.master.trace = TraceSettings(country: "DE") },
                expect: [e("master", "settings", "trace.country")]),
            Row(
                field: "master.tokenFile", change: { $0.master.tokenFile = "/etc/mirrorsync/other-token" }, expect: [],
                why: "the reconciler reads the token file itself; no agent holds its name"),
            Row(
                field: "master.root", change: { $0.master.root = "/srv/other" },
                expect: [e("master", "settings", "root")]),
            Row(
                field: "master.maxConcurrentSyncs", change: { $0.master.maxConcurrentSyncs = 8 },
                expect: [e("master", "settings", "maxConcurrentSyncs")]),
            Row(
                field: "master.publicStatus", change: { $0.master.publicStatus = true },
                expect: [e("master", "settings", "publicStatus")]),
            Row(
                field: "master.rsyncd.address", change: { $0.master.rsyncd.address = "0.0.0.0" },
                expect: [e("master", "settings", "rsyncd.address")]),
            Row(
                field: "master.rsyncd.port", change: { $0.master.rsyncd.port = 8874 },
                expect: [
                    e("master", "settings", "rsyncd.port"), e("ftp1", "linux", "upstream.url"),
                    e("ftp1", "gnu", "upstream.url"),
                ]),
            Row(
                field: "master.rsyncd.slavesOnly", change: { $0.master.rsyncd.slavesOnly = true },
                expect: [e("master", "settings", "rsyncd.slavesOnly")]),
            Row(
                field: "master.rsyncd.maxConnections", change: { $0.master.rsyncd.maxConnections = 50 },
                expect: [e("master", "settings", "rsyncd.maxConnections")]),
            // rsyncd cannot count per host: each slave holds its own pulls to the bound.
            Row(
                field: "master.rsyncd.maxPerSlave", change: { $0.master.rsyncd.maxPerSlave = 2 },
                expect: [
                    e("master", "settings", "rsyncd.maxPerSlave"), e("ftp1", "settings", "maxConcurrentSyncs"),
                    e("ftp2", "settings", "maxConcurrentSyncs"),
                ]),
        ] + siteRows + notifyRows

    /// Each key of `notify:` reaches the master's settings alone.
    static let notifyRows: [Row] = NotifySpec.keys.map { key in
        Row(
            field: "notify." + key,
            change: { state in
                switch key {
                case "webhooks":
                    state.notify!.webhooks["ops"] = WebhookTarget(url: "https://h.example.org", secretFile: "/s")
                case "mail": state.notify!.mail["ops"] = MailTarget(to: ["ops@example.org"])
                case "routes": state.notify!.routes["linux"] = MailTarget(to: ["linux@example.org"])
                case "from": state.notify!.from = "mirrors@example.org"
                case "maxPerHour": state.notify!.maxPerHour = 5
                default:
                    let path: WritableKeyPath<NotifySpec, TimeSpan> =
                        key == "checkEvery"
                        ? \.checkEvery : key == "unreachableAfter" ? \.unreachableAfter : \.behindAfter
                    state.notify![keyPath: path] = TimeSpan(seconds: 7)
                }
            },
            expect: [
                e(
                    "master", "settings",
                    "notify." + key
                        + ["webhooks": ".ops.url", "mail": ".ops.severity", "routes": ".linux.severity"][
                            key, default: ""])
            ])
    }

    /// Each key of `site:` reaches the master's settings alone.
    static let siteRows: [Row] = SiteSpec.keys.map { key in
        Row(
            field: "site." + key,
            change: { state in
                switch key {
                case "url": state.site!.url = "https://other.example.org"
                case "abbr": state.site!.abbr = "OTHER"
                case "disable": state.site!.disable = true
                default: state.site![keyPath: SiteSpec.optionalFields.first { $0.key == key }!.path] = "/x"
                }
            }, expect: [e("master", "settings", "site." + key)])
    }

    /// Makes the upstream `local` a program, its url the same text.
    static func program(_ state: inout DesiredState) {
        state.upstreams["local"]!.command = ["/usr/local/bin/fetch-gnu", "--quiet"]
        state.upstreams["local"]!.url = .program(url: "/srv/upstream")
    }

    /// An agent's state as if it held exactly what `agent` should, all managed.
    static func observed(_ agents: [DesiredAgent]) -> [String: Planner.Observation] {
        Dictionary(
            uniqueKeysWithValues: agents.map { agent in
                (
                    agent.name,
                    .state(
                        AgentState(
                            role: agent.role, name: agent.name, bootID: "b", version: "0", settings: agent.settings,
                            settingsGeneration: Generation.of(agent.settings),
                            projects: agent.projects.mapValues {
                                ProjectState(
                                    spec: $0, generation: Generation.of($0),
                                    status: ProjectStatus(activity: .idle, revision: 1), managed: true)
                            },
                            projectsDigest: agent.projectsDigest))
                )
            })
    }

    @Test("a change to one field changes a generation, and the plan names the field", arguments: rows)
    func oneField(_ row: Row) throws {
        let before = DesiredAgent.all(from: try Self.base())
        guard let change = row.change else {
            let expected = try #require(row.expect.first)
            let spec = try #require(before.first { $0.name == expected.agent }?.spec(expected.object))
            let field = try #require(AgentProjectSpec.fields.first { $0.path == expected.path })
            #expect(field.agentOnly && field.value(spec) != .absent, "the reconciler sets \(expected)")
            var other = spec
            other.upstream.credential = nil
            #expect(field.value(other) != field.value(spec), "the row's change must change \(expected.path)")
            #expect(Generation.of(other) != Generation.of(spec))
            #expect(other.changes(to: spec).map(\.path) == [expected.path])
            return
        }
        var state = try Self.base()
        try change(&state)
        #expect(state != (try Self.base()), "the row changes nothing")
        let after = DesiredAgent.all(from: state)
        let plan = Planner.plan(desired: after, observed: Self.observed(before))
        guard !row.expect.isEmpty else {
            #expect(plan.isEmpty && row.why != nil)
            #expect(DesiredAgent.digest(after) == DesiredAgent.digest(before))
            return
        }
        #expect(DesiredAgent.digest(after) != DesiredAgent.digest(before))
        // Every agent's generation of every spec it holds is the table's walk of it: the frozen fields fed straight
        // from the spec give what their rows give.
        for agent in after {
            for (name, generation) in zip(agent.order, agent.generations) {
                let spec = try #require(agent.spec(name))
                #expect(
                    generation == Generation.of(spec, fields: AgentProjectSpec.fields),
                    "\(agent.label) \(name) with \(row.field) changed")
            }
        }
        // The changed spec goes through the validator's rule for the field as a PUT carries it, and comes out equal:
        // a field with no rule in `SpecDecoder` would come back with its default.
        for expected in row.expect where expected.object != "settings" {
            let spec = try #require(after.first { $0.name == expected.agent }?.spec(expected.object))
            let body = Array(try APICoding.encoder().encode(spec))
            #expect(try AgentRequest.project(body, name: expected.object) == spec, "\(expected) read back")
        }
        for expected in row.expect {
            let agent = try #require(plan.agents.first { $0.agent == expected.agent }, "\(expected)")
            let action = try #require(
                agent.actions.first { $0.name == expected.object && $0.change == .update }, "no update of \(expected)")
            #expect(action.generation != nil && action.generation != action.observedGeneration, "\(expected)")
            #expect(action.fields.contains { $0.path == expected.path }, "\(expected): \(action.fields.map(\.path))")
        }
    }

    @Test("the table covers every key, every stored field and every field an agent holds")
    func tableCoversEveryField() throws {
        let covered = Set(Self.rows.map(\.field))
        var wanted =
            SpecDecoder.projectKeys.map { "project." + $0 } + SpecDecoder.upstreamKeys.map { "upstream." + $0 }
            + SpecDecoder.intervalKeys.map { "interval." + $0 } + SpecDecoder.slaveKeys.map { "slave." + $0 }
            + SpecDecoder.masterKeys.filter { $0 != "rsyncd" }.map { "master." + $0 }
            + SpecDecoder.rsyncdKeys.map { "master.rsyncd." + $0 }
        // The structs' own stored fields, so that a field added to a struct but to no key list is caught too.
        let base = try Self.base()
        // A project's tree reads as its own fields, so its fields are listed in its place.
        func labels(_ value: Any) -> [String] {
            Mirror(reflecting: value).children.flatMap { child -> [String] in
                child.value is TreeSpec ? labels(child.value) : [child.label].compactMap { $0 }
            }
        }
        wanted +=
            labels(base.projects["linux"]!).map { "project." + $0 }
            + labels(base.upstreams["local"]!).map { "upstream." + $0 }
            + labels(base.intervals["hourly"]!).map { "interval." + $0 }
            + labels(base.slaves["ftp1"]!).map { "slave." + $0 }
            + labels(base.master).filter { $0 != "rsyncd" }.map { "master." + $0 }
            + labels(base.master.rsyncd).map { "master.rsyncd." + $0 }
            + SiteSpec.keys.map { "site." + $0 } + labels(base.site!).map { "site." + $0 }
            + NotifySpec.keys.map { "notify." + $0 } + labels(base.notify!).map { "notify." + $0 }
        for field in wanted { #expect(covered.contains(field), "no row changes \(field)") }
        #expect(covered.subtracting(wanted).isEmpty, "rows for unknown fields: \(covered.subtracting(wanted))")

        // Every field an agent holds is named by some row's plan.
        let named = Set(Self.rows.flatMap(\.expect).filter { $0.object != "settings" }.map(\.path))
        for field in AgentProjectSpec.fields {
            #expect(named.contains(field.path), "no row shows \(field.path) in a plan")
        }
        let spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: .local(path: "/x")), path: "x", interval: .every(TimeSpan(seconds: 60)))
        for label in labels(spec) {
            #expect(AgentProjectSpec.keys.contains(label), "AgentProjectSpec.\(label) is in no ProjectField")
        }
        let settingsNamed = Set(
            Self.rows.flatMap(\.expect).filter { $0.object == "settings" }.map { String($0.path.prefix { $0 != "." }) })
        for label in labels(AgentSettings(root: "/")) {
            #expect(settingsNamed.contains(label), "no row changes the settings' \(label)")
        }
    }

    @Test("the always rows are project/v2's, frozen, in their order: a new field is a whenSet row")
    func frozenFields() {
        #expect(
            AgentProjectSpec.fields.filter { $0.hashing == .always }.map(\.path) == Generation.frozenFields,
            "a row hashed always moves every generation of every site; make it hashing: .whenSet")
    }

    @Test("cname, desc and help reach the master alone: every slave's pull stays as it was")
    func listFieldsStayOnMaster() throws {
        let before = DesiredAgent.all(from: try Self.base())
        var state = try Self.base()
        state.projects["linux"]!.cname = "Linux"
        state.projects["linux"]!.desc = "The kernel"
        state.projects["linux"]!.help = "https://wiki.example.org/linux"
        let after = DesiredAgent.all(from: state)
        for (old, new) in zip(before, after) where old.role == .slave {
            #expect(old.generations == new.generations && old.projectsDigest == new.projectsDigest, "\(old.label)")
            #expect(new.spec("linux")?.desc == nil && new.spec("linux")?.help == nil && new.spec("linux")?.cname == nil)
        }
        #expect(after.first { $0.role == .master }?.spec("linux")?.desc == "The kernel")
    }

    @Test("the JSON the API and the store carry has exactly the fields of the description")
    func jsonMatchesFields() throws {
        var spec = AgentProjectSpec(
            upstream: UpstreamSpec(
                url: try UpstreamLocation.parse("rsync://u@h/pub/"), passwordFile: "/etc/s",
                bandwidthLimit: ByteSize(bytes: 1)),
            source: "s", path: "p", interval: .every(TimeSpan(seconds: 60), jitter: TimeSpan(seconds: 1)),
            exclude: ["a"], twoStage: ["b"],
            rsyncOptions: ["--no-owner"], suspended: true, timeout: TimeSpan(seconds: 5), maxDelete: .files(1),
            slaves: ["ftp1"])
        spec.cname = "C"
        spec.desc = "d"
        spec.help = "/h/"
        spec.upstream.credential = .site
        spec.upstream.pushTokenFile = "/etc/u.push"
        spec.pushTokenFile = "/etc/p.push"
        spec.trace = true
        spec.publish = .atomic
        spec.stage = .site
        spec.logRetention = 3
        spec.hooks = HookSpec(onSuccess: ["/bin/true"], onFailure: ["/bin/false"], timeout: TimeSpan(seconds: 9))
        spec.interval.cron = try CronExpression.parse("@daily")
        spec.interval.timezone = "UTC"
        spec.upstream.command = ["/usr/local/bin/fetch"]
        spec.upstream.env = ["A": "b"]
        spec.upstream.sizePattern = "([0-9]+)"
        spec.upstream.failOnMatch = "^E"
        spec.upstream.successExitCodes = [0, 24]
        spec.limits = ResourceLimits(cpus: 1.5, io: .idle)
        spec.verifyEvery = TimeSpan(seconds: 3600)
        spec.probe = "project/trace/master"
        spec.upstream.probe = "project/trace/ftp-master"
        // A field whose value is a mapping (`upstream.env`, `limits`) is one row: its keys count as the row.
        let paths = Set(AgentProjectSpec.fields.map(\.path))
        let flattened = Set(
            Planner.flatten(spec).keys.map { key in paths.first { key.hasPrefix($0 + ".") } ?? key })
        #expect(flattened == paths)
    }

    @Test("the generation's hash spreads a one-bit change over the whole result")
    func avalanche() {
        var total = 0
        for i in 0..<256 {
            var a = CanonicalHash()
            var b = CanonicalHash()
            // 16 bytes: the last one is the top byte of a word, where FNV's multiply alone moved only the top bits.
            let text = "p" + String(repeating: "0", count: 6 - String(i).count) + String(i) + "-abcdefgh"
            a.add(text)
            b.add(String(text.dropLast()) + "(")  // 'h' with bit 6 flipped
            total += (a.value ^ b.value).nonzeroBitCount
        }
        let mean = Double(total) / 256
        #expect(mean > 28 && mean < 36, "mean of \(mean) bits changed")
    }
}
