import Foundation
import Testing
import MirrorAgent
@testable import MirrorCLI
import MirrorReconciler
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

@Suite("mirrorsync reconcile, status and sync (the binary against live agents)", .serialized)
struct ReconcileCommandTests {
    @Test(
        "dry-run exits 2 with changes pending, apply converges with 0, then dry-run exits 0; an agent down or an invalid config: 1"
    )
    func exitCodes() async throws {
        let scratch = Scratch("cli-site")
        let token = try cliToken(in: scratch)
        try Tree.generate(at: scratch.path + "/upstream/linux", files: 5)
        var daemons: [AgentDaemon] = []
        var tasks: [Task<Void, Never>] = []
        var ports: [Int] = []
        for (role, name) in [(AgentRole.master, "master"), (.slave, "ftp1")] {
            let daemon = try AgentDaemon(
                options: AgentOptions(
                    role: role, name: name, host: "127.0.0.1", port: 0, tokenFile: token,
                    stateDirectory: scratch.path + "/\(name)", policy: .init(maxAttempts: 1),
                    handleSignals: false, allowLocalUpstreams: [scratch.path + "/upstream"]),
                logger: testLogger)
            daemons.append(daemon)
            tasks.append(Task { try? await daemon.run() })
            ports.append(await daemon.listeningPort() ?? 0)
        }
        let dir = scratch.sub("mirrors.d")
        try """
        master: { api: "http://127.0.0.1:\(ports[0])", tokenFile: \(token), root: \(scratch.path)/root, rsyncd: { address: 127.0.0.1, port: \(freePort()) } }
        intervals: { hourly: { every: 1h } }
        upstreams: { local: { url: \(scratch.path)/upstream } }
        slaves: { ftp1: { api: "http://127.0.0.1:\(ports[1])", publicDir: \(scratch.path)/pub } }
        projects: { linux: { upstream: local, source: linux, interval: hourly } }
        """.write(toFile: dir + "/site.yaml", atomically: true, encoding: .utf8)

        // The agents answer from this test process, which every suite of the run shares: a generous --agent-timeout
        // where they are up, so that a slow answer is not taken for an agent that is down.
        func live(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await Binary.run(arguments + ["--agent-timeout", "30"])
        }
        let pending = try await live(["reconcile", dir, "--dry-run"])
        #expect(pending.status == 2, "\(pending.stderr)")
        #expect(
            pending.stdout.contains("+ project linux")
                && pending.stdout.hasSuffix("Plan: 4 to create, 0 to update, 0 to remove.\n"))
        let markdown = try await live(["reconcile", dir, "--dry-run", "--output", "markdown"])
        #expect(markdown.status == 2, "\(markdown.stderr)")
        #expect(
            markdown.stdout.hasPrefix(
                PlanMarkdown.marker + "\n### mirrorsync plan: 4 to create, 0 to update, 0 to remove\n"),
            "\(markdown.stdout)")
        #expect(
            markdown.stdout.contains("| create | project `linux` | upstream=local interval=hourly |"),
            "\(markdown.stdout)")
        let applied = try await live(["reconcile", dir])
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect(applied.stdout.hasSuffix("Applied 4 changes; every agent has converged.\n"))
        let clean = try await live(["reconcile", dir, "--dry-run", "--output", "json"])
        #expect(clean.status == 0, "\(clean.stderr)")
        let plan = try APICoding.decoder().decode(Plan.self, from: Data(clean.stdout.utf8))
        #expect(plan.formatVersion == 1 && plan.isEmpty && plan.counts.unchanged == 4)

        let sync = try await live(["sync", "linux", dir, "--wait"])
        #expect(sync.status == 0, "\(sync.stderr)")
        #expect(sync.stdout.contains(": success"))
        let status = try await live(["status", dir])
        #expect(status.status == 0)
        #expect(status.stdout.contains("master") && status.stdout.contains("linux"))
        #expect(try await Binary.run(["sync", "linx", dir]).stderr.contains("did you mean 'linux'"))

        await daemons[1].shutdown()
        await tasks[1].value
        let down = try await Binary.run(["reconcile", dir, "--dry-run"])
        #expect(down.status == 1)
        #expect(down.stdout.contains("slave ftp1  http://127.0.0.1:\(ports[1])  unreachable:"))
        let downMarkdown = try await Binary.run(["reconcile", dir, "--dry-run", "--output", "markdown"])
        #expect(downMarkdown.status == 1)
        #expect(
            downMarkdown.stdout.contains("| slave `ftp1` | `http://127.0.0.1:\(ports[1])` | `"),
            "\(downMarkdown.stdout)")
        #expect(try await Binary.run(["status", dir]).status == 1)

        try "projects: { linux: { upstream: nowhere, interval: hourly } }\n".write(
            toFile: dir + "/zz-broken.yaml", atomically: true, encoding: .utf8)
        let invalid = try await Binary.run(["reconcile", dir])
        #expect(invalid.status == 1 && invalid.stderr.contains("project 'linux' is defined twice"))
        try FileManager.default.removeItem(atPath: dir + "/zz-broken.yaml")

        let badToken = try await Binary.run(["reconcile", dir, "--dry-run", "--token-file", scratch.path + "/missing"])
        #expect(badToken.status == 1 && badToken.stderr.contains("cannot read the token file"))
        await daemons[0].shutdown()
        await tasks[0].value
    }

    @Test(
        "an agent's 403 for a path out of its bounds is shown as the agent said it, naming the agent and the project; exit 1"
    )
    func forbiddenPath() async throws {
        let scratch = Scratch("cli-bounds")
        let token = try cliToken(in: scratch)
        try Tree.generate(at: scratch.path + "/upstream/linux", files: 2)
        // The master may read no local upstream at all.
        let master = try AgentDaemon(
            options: AgentOptions(
                role: .master, name: "master", host: "127.0.0.1", port: 0, tokenFile: token,
                stateDirectory: scratch.path + "/master", handleSignals: false), logger: testLogger)
        let task = Task { try? await master.run() }
        let port = await master.listeningPort() ?? 0
        let dir = scratch.sub("mirrors.d")
        try """
        master: { api: "http://127.0.0.1:\(port)", tokenFile: \(token), root: \(scratch.path)/root, rsyncd: { address: 127.0.0.1, port: \(freePort()) } }
        intervals: { hourly: { every: 1h } }
        upstreams: { local: { url: \(scratch.path)/upstream } }
        projects: { linux: { upstream: local, source: linux, interval: hourly } }
        """.write(toFile: dir + "/site.yaml", atomically: true, encoding: .utf8)
        let applied = try await Binary.run(["reconcile", dir, "--timeout", "1"])
        #expect(applied.status == 1)
        #expect(
            applied.stdout.contains(
                "error: master: linux: PUT /v1/projects/linux?managed=true answered 403: upstream.url '\(scratch.path)/upstream' "
                    + "is refused: this agent reads no local directory (no --allow-local-upstream); start the agent with --allow-local-upstream"
            ),
            "\(applied.stdout)")
        #expect(
            try await HTTPAgentClient(base: "http://127.0.0.1:\(port)", token: "cli-token").state().projects.isEmpty)
        await master.shutdown()
        await task.value
    }
}

@Suite("mirrorsync status: the table")
struct StatusTableTests {
    @Test("a slave's row says how many revisions it is behind the master")
    func behind() throws {
        let yaml = """
            master: { api: "http://127.0.0.1:7070", tokenFile: /etc/token, root: /srv/mirror }
            intervals: { hourly: { every: 1h } }
            upstreams: { up: { url: "rsync://example.org/pub/" } }
            slaves: { ftp1: { api: "http://127.0.0.1:7071", publicDir: /srv/ftp }, ftp2: { api: "http://127.0.0.1:7072", publicDir: /srv/www } }
            projects: { linux: { upstream: up, interval: hourly } }
            """
        let desired = DesiredAgent.all(
            from: try DesiredStateLoader().load(files: [("a.yaml", Array(yaml.utf8))], directory: "mirrors.d").state)
        func state(_ agent: DesiredAgent, revision: Int) -> Planner.Observation {
            let projects = agent.projects.mapValues { spec in
                ProjectState(
                    spec: spec, generation: Generation.of(spec),
                    status: ProjectStatus(activity: .idle, revision: revision), managed: true)
            }
            return .state(
                AgentState(
                    role: agent.role, name: agent.name, bootID: "b", version: "v", settings: agent.settings,
                    settingsGeneration: nil, projects: projects))
        }
        let observed: [String: Planner.Observation] = [
            "master": state(desired[0], revision: 5), "ftp1": state(desired[1], revision: 3),
            "ftp2": state(desired[2], revision: 5),
        ]
        let report = StatusCommand.report(desired: desired, observed: observed, now: Date())
        #expect(report.rows.map(\.behind) == [nil, 2, 0])
        let table = StatusCommand.table(report, now: Date())
        #expect(table.contains("slave ftp1  linux    3 (2 behind)"), "\(table)")
        #expect(!table.contains("slave ftp2  linux    5 ("))
    }

    @Test("a slave in a tier names the hops it pulls through")
    func chain() throws {
        let yaml = """
            master: { api: "http://127.0.0.1:7070", tokenFile: /etc/token, root: /srv/mirror }
            intervals: { hourly: { every: 1h } }
            upstreams: { up: { url: "rsync://example.org/pub/" } }
            slaves: { ftp1: { api: "http://127.0.0.1:7071", publicDir: /srv/ftp }, ftp2: { api: "http://127.0.0.1:7072", publicDir: /srv/www, from: ftp1 } }
            projects: { linux: { upstream: up, interval: hourly } }
            """
        let desired = DesiredAgent.all(
            from: try DesiredStateLoader().load(files: [("a.yaml", Array(yaml.utf8))], directory: "mirrors.d").state)
        let observed = Dictionary(
            uniqueKeysWithValues: desired.map { agent in
                (
                    agent.name,
                    Planner.Observation.state(
                        AgentState(
                            role: agent.role, name: agent.name, bootID: "b", version: "v", settings: agent.settings,
                            settingsGeneration: nil,
                            projects: agent.projects.mapValues {
                                ProjectState(
                                    spec: $0, generation: Generation.of($0),
                                    status: ProjectStatus(activity: .idle, revision: 1), managed: true)
                            }))
                )
            })
        let report = StatusCommand.report(desired: desired, observed: observed, now: Date())
        #expect(report.rows.map(\.chain) == [nil, nil, ["master", "ftp1"]])
        let table = StatusCommand.table(report, now: Date())
        #expect(table.contains("slave ftp2 (via ftp1)  linux"), "\(table)")
        #expect(!table.contains("slave ftp1 (via"), "\(table)")
    }

    @Test("a run waiting to retry: its state retrying, its next run the retry's, its size as every surface writes it")
    func retrying() throws {
        let yaml = """
            master: { api: "http://127.0.0.1:7070", tokenFile: /etc/token, root: /srv/mirror }
            intervals: { hourly: { every: 1h } }
            upstreams: { up: { url: "rsync://example.org/pub/" } }
            projects: { linux: { upstream: up, interval: hourly } }
            """
        let desired = DesiredAgent.all(
            from: try DesiredStateLoader().load(files: [("a.yaml", Array(yaml.utf8))], directory: "mirrors.d").state)
        let now = Date(timeIntervalSince1970: floor(Date().timeIntervalSince1970))  // as the wire carries times
        let retry = RetryWait(at: now.addingTimeInterval(90), failedAt: now, attempts: 1, reason: "rsync-exit-10")
        let projects = desired[0].projects.mapValues { spec in
            ProjectState(
                spec: spec, generation: Generation.of(spec),
                status: ProjectStatus(activity: .retrying, revision: 2, sizeBytes: 1_635_778, retry: retry),
                managed: true)
        }
        // Through the wire, as the reconciler reads it: written running with retry, read back as retrying.
        let state = try APICoding.decoder().decode(
            AgentState.self,
            from: try APICoding.encoder().encode(
                AgentState(
                    role: .master, name: "master", bootID: "b", version: "v", settings: desired[0].settings,
                    settingsGeneration: nil, projects: projects)))
        let report = StatusCommand.report(desired: desired, observed: ["master": .state(state)], now: now)
        #expect(report.rows.map(\.activity) == [.retrying] && report.rows.first?.retry == retry)
        let table = StatusCommand.table(report, now: now)
        #expect(table.contains("  retrying  ") && table.contains("1.56 MiB  retry in 1m"), "\(table)")
    }
}

/// `scratch/token`, holding `cli-token` with mode 0600: the token of the agents these tests run.
func cliToken(in scratch: Scratch) throws -> String {
    let token = scratch.path + "/token"
    try "cli-token".write(toFile: token, atomically: true, encoding: .utf8)
    chmod(token, 0o600)
    return token
}
