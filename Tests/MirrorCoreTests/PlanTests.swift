import Foundation
import Testing
@testable import MirrorCore

@Suite("Desired state per agent, and the plan")
struct PlanTests {
    static let site = """
        master: { api: "http://127.0.0.1:7070", tokenFile: /etc/mirrorsync/token, root: /srv/mirror, rsyncd: { port: 8873 } }
        intervals: { hourly: { every: 1h }, frequent: { every: 15m } }
        upstreams: { kernel-org: { url: "rsync://rsync.kernel.org/pub/" }, local: { url: /srv/upstream } }
        slaves:
          ftp1: { api: "http://127.0.0.1:7071", publicDir: /srv/ftp }
          ftp2: { api: "http://127.0.0.1:7072", publicDir: /srv/www }

        """

    func desired(_ projects: String, site: String = PlanTests.site) throws -> [DesiredAgent] {
        let state = try DesiredStateLoader().load(
            files: [("a.yaml", Array((site + projects).utf8))], directory: "mirrors.d"
        ).state
        return DesiredAgent.all(from: state)
    }

    /// An agent's state as if it held exactly what `agent` should, all managed.
    func observed(_ agent: DesiredAgent) -> AgentState {
        AgentState(
            role: agent.role, name: agent.name, bootID: "b", version: "0", settings: agent.settings,
            settingsGeneration: Generation.of(agent.settings),
            projects: agent.projects.mapValues {
                ProjectState(
                    spec: $0, generation: Generation.of($0), status: ProjectStatus(activity: .idle, revision: 1),
                    managed: true)
            })
    }

    func inSync(_ agents: [DesiredAgent]) -> [String: Planner.Observation] {
        Dictionary(uniqueKeysWithValues: agents.map { ($0.name, .state(observed($0))) })
    }

    @Test("the master holds every project with its slaves; each slave holds its own, pulled from the master's module")
    func perAgent() throws {
        let agents = try desired(
            """
            projects:
              linux: { upstream: kernel-org, source: linux/kernel, interval: hourly, twoStage: ["Packages*"] }
              gnu: { upstream: local, interval: frequent, slaves: [ftp2], path: pub/gnu }
              quiet: { upstream: local, interval: hourly, slaves: [] }
            """)
        #expect(agents.map(\.name) == ["master", "ftp1", "ftp2"])
        let master = agents[0]
        #expect(
            master.settings
                == AgentSettings(
                    root: "/srv/mirror", rsyncd: RsyncdSpec(port: 8873),
                    slaves: ["ftp1": "http://127.0.0.1:7071", "ftp2": "http://127.0.0.1:7072"]))
        // Each slave knows the master's API: where it reports, catches up and gets the rsync credential.
        #expect(
            agents[1].settings.master == "http://127.0.0.1:7070" && agents[2].settings.master == "http://127.0.0.1:7070"
        )
        #expect(master.projects.keys.sorted() == ["gnu", "linux", "quiet"])
        #expect(master.projects["linux"]?.slaves == ["ftp1", "ftp2"])
        #expect(master.projects["linux"]?.upstream.url.description == "rsync://rsync.kernel.org/pub/")
        #expect(master.projects["gnu"]?.slaves == ["ftp2"])
        #expect(agents[1].projects.keys.sorted() == ["linux"])
        #expect(agents[2].projects.keys.sorted() == ["gnu", "linux"])
        let pull = try #require(agents[2].projects["gnu"])
        // The pull's source is the master's module, with the site's credential (user and password from the master).
        #expect(pull.upstream.url.description == "rsync://127.0.0.1:8873/gnu/" && pull.upstream.credential == .site)
        #expect(master.projects["gnu"]?.upstream.credential == nil)
        #expect(pull.path == "pub/gnu" && pull.interval.every == DesiredAgent.slaveFallbackInterval)
        #expect(agents[1].projects["linux"]?.twoStage == ["Packages*"])
        #expect(agents[2].settings.root == "/srv/www")
    }

    @Test("reformatted, reordered and defaults spelled out: an empty plan")
    func canonical() throws {
        let terse = try desired("projects:\n  linux: { upstream: kernel-org, interval: hourly }\n")
        let verbose = try desired(
            """
            projects:
              linux:
                maxDelete: 10%
                suspended: false
                exclude: []
                rsyncOptions: []
                slaves: all
                path: linux/
                interval: 'hourly'
                upstream: "kernel-org"
            """,
            site: """
                slaves:
                  ftp2: { publicDir: /srv/www/, api: "HTTP://127.0.0.1:7072/" }
                  ftp1: { api: "http://127.0.0.1:7071", publicDir: /srv/ftp }
                upstreams:
                  local: { url: /srv/upstream/ }
                  kernel-org: { url: "rsync://RSYNC.kernel.org/pub", timeout: 6h, ioTimeout: 10m }
                intervals: { frequent: { every: 900s }, hourly: { every: 60m } }
                master:
                  root: /srv/mirror
                  api: http://127.0.0.1:7070/
                  tokenFile: /etc/mirrorsync/token
                  maxConcurrentSyncs: 4
                  publicStatus: false
                  rsyncd: { address: 0.0.0.0, port: 8873 }

                """)
        let plan = Planner.plan(desired: verbose, observed: inSync(terse))
        #expect(plan.isEmpty, "\(plan)")
        #expect(plan.counts.unchanged == 2 + 2 + 2)  // settings and linux on each agent
        #expect(DesiredAgent.digest(terse) == DesiredAgent.digest(verbose))
    }

    @Test("create, update with field-level changes, remove, and objects put by hand, in a stable order")
    func actions() throws {
        let before = try desired(
            """
            projects:
              centos: { upstream: local, interval: hourly }
              debian: { upstream: kernel-org, interval: hourly }
            """)
        let after = try desired(
            """
            projects:
              debian: { upstream: kernel-org, interval: frequent, exclude: ["*.tmp"] }
              fedora: { upstream: local, interval: hourly }
            """)
        var observed = inSync(before)
        if case .state(var master)? = observed["master"] {
            master.projects["handmade"] = ProjectState(
                spec: after[0].projects["fedora"]!, generation: "x", status: ProjectStatus(activity: .idle, revision: 0)
            )
            observed["master"] = .state(master)
        }
        let plan = Planner.plan(desired: after, observed: observed)
        let master = plan.agents[0].actions.map { "\($0.change.rawValue) \($0.name)" }
        // What is unchanged (the settings here) is counted, not listed.
        #expect(master == ["remove centos", "update debian", "create fedora", "unmanaged handmade"])
        let debian = try #require(plan.agents[0].actions.first { $0.name == "debian" })
        #expect(
            debian.fields == [
                FieldChange(path: "exclude", old: "[]", new: #"["*.tmp"]"#),
                FieldChange(path: "interval.every", old: "1h", new: "15m"),
            ])
        // The slaves' copies of debian take its excludes too (they keep the slaves from deleting those files).
        #expect(plan.counts == Plan.Counts(create: 3, update: 3, remove: 3, unchanged: 3, unmanaged: 1))
        #expect(plan.refusal == nil)
        let centos = try #require(plan.agents[0].actions.first { $0.name == "centos" })
        #expect(!centos.purge)

        let pruned = Planner.plan(desired: after, observed: observed, options: .init(prune: true))
        #expect(pruned.agents[0].actions.filter { $0.change == .remove }.map(\.name) == ["centos", "handmade"])
        let removals = pruned.agents[0].actions.filter { $0.change == .remove }
        #expect(removals.allSatisfy { $0.purge })
    }

    @Test("a plan that removes more than half of the managed projects is refused unless allowed")
    func massRemoval() throws {
        let full = try desired(
            "projects:\n" + (0..<10).map { "  p\($0): { upstream: local, interval: hourly }\n" }.joined())
        let half = try desired(
            "projects:\n" + (0..<4).map { "  p\($0): { upstream: local, interval: hourly }\n" }.joined())
        let five = try desired(
            "projects:\n" + (0..<5).map { "  p\($0): { upstream: local, interval: hourly }\n" }.joined())
        let refused = Planner.plan(desired: half, observed: inSync(full))
        #expect(refused.refusal?.contains("remove 6 of the 10 projects") == true)
        #expect(
            Planner.plan(desired: half, observed: inSync(full), options: .init(allowMassRemoval: true)).refusal == nil)
        #expect(Planner.plan(desired: five, observed: inSync(full)).refusal == nil)
    }

    @Test("an unreachable agent is named, and the others are still planned")
    func unreachable() throws {
        let agents = try desired("projects:\n  linux: { upstream: kernel-org, interval: hourly }\n")
        var observed = inSync(agents)
        observed["ftp2"] = .unreachable("connection refused")
        let plan = Planner.plan(desired: agents, observed: observed)
        #expect(plan.unreachable.map(\.agent) == ["ftp2"])
        #expect(plan.agents.filter(\.reachable).count == 2)
    }

    @Test("the text plan, as people read it (golden)")
    func goldenText() throws {
        let before = try desired(
            "projects:\n  centos: { upstream: local, interval: hourly }\n  debian: { upstream: kernel-org, interval: hourly, slaves: [ftp1] }\n"
        )
        let after = try desired(
            "projects:\n  debian: { upstream: kernel-org, interval: frequent, slaves: [ftp1] }\n  fedora: { upstream: local, interval: hourly, slaves: [ftp1] }\n"
        )
        var observed = inSync(before)
        observed["ftp2"] = .unreachable("GET http://127.0.0.1:7072/v1/state: connection refused")
        let text = PlanText.render(Planner.plan(desired: after, observed: observed))
        #expect(
            text == """
                master  http://127.0.0.1:7070
                  - project centos      files kept (use --prune to delete them)
                  ~ project debian      interval.every: 1h -> 15m
                  + project fedora      upstream=local interval=hourly
                slave ftp1  http://127.0.0.1:7071
                  - project centos      files kept (use --prune to delete them)
                  + project fedora      from master
                slave ftp2  http://127.0.0.1:7072  unreachable: GET http://127.0.0.1:7072/v1/state: connection refused
                Plan: 2 to create, 1 to update, 2 to remove.

                """)
        #expect(
            PlanText.render(Planner.plan(desired: before, observed: inSync(before)))
                == "No changes: every agent matches mirrors.d.\n")
        // Each piece is marked with what it says, for the terminal to colour; the words stay the same.
        let marked = PlanText.render(Planner.plan(desired: after, observed: observed)) { text, tone in
            "<\(tone)>\(text)</>"
        }
        #expect(marked.contains("<heading>master  http://127.0.0.1:7070</>\n"))
        #expect(marked.contains("  <remove>- project centos      </>files kept"))
        #expect(marked.contains("  <update>~ project debian      </>interval.every"))
        #expect(marked.contains("  <create>+ project fedora      </>upstream=local"))
        #expect(marked.contains("<heading>slave ftp2  http://127.0.0.1:7072</>  <refusal>unreachable: GET"))
        #expect(marked.replacingOccurrences(of: "</>", with: "").replacing(/<[a-z]+>/, with: "") == text)
    }

    @Test("the JSON plan has a format version and stable field names (golden)")
    func goldenJSON() throws {
        let agents = try desired(
            "projects:\n  linux: { upstream: kernel-org, interval: hourly, slaves: [] }\n",
            site: """
                master: { api: "http://127.0.0.1:7070", tokenFile: /etc/mirrorsync/token, root: /srv/mirror }
                intervals: { hourly: { every: 1h } }
                upstreams: { kernel-org: { url: "rsync://rsync.kernel.org/pub/" } }

                """)
        var master = observed(agents[0])
        master.projects = [:]
        let plan = Planner.plan(desired: agents, observed: ["master": .state(master)])
        let encoder = APICoding.encoder()
        let json = String(decoding: try encoder.encode(plan), as: UTF8.self)
        #expect(
            json
                == #"{"agents":[{"actions":[{"change":"create","fields":[],"generation":"\#(Generation.of(agents[0].projects["linux"]!))","name":"linux","object":"project","purge":false,"summary":"upstream=kernel-org interval=hourly"}],"agent":"master","api":"http://127.0.0.1:7070","reachable":true,"role":"master"}],"configDigest":"\#(DesiredAgent.digest(agents))","counts":{"create":1,"remove":0,"unchanged":1,"unmanaged":0,"update":0},"formatVersion":1}"#
        )
    }
}

@Suite("Field-level changes")
struct FieldChangeTests {
    @Test("the spec's own comparison names the same fields, with the same texts, as the JSON diff")
    func sameAsJSON() throws {
        let a = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse("rsync://h/pub/")), source: "x", path: "p",
            interval: .every(TimeSpan(seconds: 3600)), exclude: ["*.tmp"], maxDelete: .percent(10), slaves: ["ftp1"])
        var b = a
        b.upstream = UpstreamSpec(
            url: try UpstreamLocation.parse("rsync://u@h2:8873/pub/"), passwordFile: "/etc/s",
            timeout: TimeSpan(seconds: 60),
            bandwidthLimit: ByteSize(bytes: 1024))
        b.source = ""
        b.path = "q"
        b.interval = .cron(try CronExpression.parse("@daily"), timezone: "Europe/Berlin")
        b.exclude = []
        b.twoStage = ["Packages*"]
        b.rsyncOptions = ["--no-owner"]
        b.suspended = true
        b.timeout = TimeSpan(seconds: 90)
        b.maxDelete = .files(5)
        b.slaves = []
        let fast = a.changes(to: b)
        #expect(fast == Planner.diff(a, b))
        #expect(fast.count == 16)  // all but interval.jitter and upstream.ioTimeout, equal on both sides
        #expect(a.changes(to: a).isEmpty)
    }
}
