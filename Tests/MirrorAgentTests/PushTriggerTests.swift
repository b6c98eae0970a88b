import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// An upstream's push, `POST /v1/projects/{name}/trigger`, against a live master and real rsync.
@Suite("Push triggers")
struct PushTriggerTests {
    /// A token file of mode 0600 in the harness's scratch directory.
    static func tokenFile(_ agent: AgentHarness, _ name: String, _ token: String, mode: mode_t = 0o600) throws -> String
    {
        let path = agent.scratch.path + "/" + name
        try token.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    /// A master with its settings put and a local upstream tree in its scratch directory.
    static func master(policy: SyncScheduler.Policy = .init(maxAttempts: 1), files: Int = 4, bytes: Int = 1024)
        async throws -> (AgentHarness, String)
    {
        let agent = try await AgentHarness(policy: policy)
        let upstream = agent.scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: files, bytes: bytes)
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        return (agent, upstream)
    }

    static func push(_ agent: AgentHarness, _ project: String, token: String?) async throws -> AgentHarness.Reply {
        try await agent.request("POST", "/v1/projects/\(project)/trigger", token: .some(token))
    }

    @Test(
        "a push with the project's token starts a run at once; ten pushes make one or two runs, the second after the gap"
    )
    func burst() async throws {
        // A gap well beyond the burst, however slow a loaded machine makes its ten requests.
        // (Ten requests took 7 s once, in a fresh clone's make test beside every other suite.)
        let (agent, upstream) = try await Self.master(
            policy: .init(maxAttempts: 1, pushGap: 20), files: 20, bytes: 4096)
        let pushToken = "push-\(UUID().uuidString)"
        let file = try Self.tokenFile(agent, "debian.push", pushToken)
        #expect(
            try await agent.put(
                "/v1/projects/debian", try AgentHarness.project(upstream, path: "debian") { $0.pushTokenFile = file }
            ).status == 201)
        let first = try await agent.waitForRun("debian", revision: 1)
        #expect(first.trigger == .schedule)

        // Ten pushes at once, as a burst of announcements arrives: one queues a run, the rest join it or wait for the gap.
        let burst = Date()
        let replies = try await withThrowingTaskGroup(of: AgentHarness.Reply.self) { group in
            for _ in 0..<10 { group.addTask { try await Self.push(agent, "debian", token: pushToken) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try #require(
            Date().timeIntervalSince(burst) < 20,
            "the burst outlasted the gap: this machine is too slow for the test's premise")
        #expect(replies.allSatisfy { $0.status == 202 }, "\(replies.map(\.text))")
        let answers = try replies.map { try $0.decode(PushResponse.self) }
        let queued = answers.filter { $0.outcome == .queued }
        #expect(queued.count == 1, "one push queues a run of its own: \(answers)")
        let pushed = try #require(queued.first?.runID)
        #expect(answers.allSatisfy { $0.runID == nil || $0.runID == pushed })

        // Every push answered: at most one more run, and it starts no earlier than the gap after the first.
        try await eventually("the pushes' runs finished", seconds: 60) {
            let status = try await agent.state().projects["debian"]?.status
            guard let last = status?.lastRun, status?.activity == .idle else { return false }
            // A deferred push leaves one run to come: wait for it.
            if answers.contains(where: { $0.outcome == .deferred }) {
                return last.id == pushed + 1 && last.state == .finished
            }
            return last.id == pushed && last.state == .finished
        }
        let runA = try await agent.request("GET", "/v1/projects/debian/runs/\(pushed)").decode(RunRecord.self)
        #expect(runA.trigger == .push && runA.result == .success)
        if let deferred = answers.first(where: { $0.outcome == .deferred }) {
            let runB = try await agent.request("GET", "/v1/projects/debian/runs/\(pushed + 1)").decode(RunRecord.self)
            let startA = try #require(runA.startedAt)
            let startB = try #require(runB.startedAt)
            #expect(runB.trigger == .push && runB.result == .success)
            #expect(startB.timeIntervalSince(startA) >= 20 - 0.001, "the second run waited for the gap")
            #expect(startB >= (deferred.notBefore ?? .distantFuture).addingTimeInterval(-0.001))
        }
        let later = try await agent.state().projects["debian"]?.status
        #expect(later?.lastRun?.id ?? 0 <= pushed + 1, "ten pushes made no more than two runs")
        #expect(
            (later?.nextRunAt ?? .distantPast) > Date().addingTimeInterval(3000),
            "nothing else pending: the next run is the interval's")
        await agent.stop()
    }

    @Test(
        "a wrong token, the agents' token or none gets 401 and starts nothing; a project without a push token gets 403")
    func refusals() async throws {
        let (agent, upstream) = try await Self.master()
        let pushToken = "push-\(UUID().uuidString)"
        // The upstream's token covers its projects; a project's own overrides it.
        let upstreamFile = try Self.tokenFile(agent, "upstream.push", "upstream-\(pushToken)")
        let projectFile = try Self.tokenFile(agent, "gnu.push", pushToken)
        _ = try await agent.put(
            "/v1/projects/gnu",
            try AgentHarness.project(upstream, path: "gnu") {
                $0.upstream.pushTokenFile = upstreamFile
                $0.pushTokenFile = projectFile
            })
        _ = try await agent.put(
            "/v1/projects/kde",
            try AgentHarness.project(upstream, path: "kde") { $0.upstream.pushTokenFile = upstreamFile })
        _ = try await agent.put("/v1/projects/plain", try AgentHarness.project(upstream, path: "plain"))
        for project in ["gnu", "kde", "plain"] { _ = try await agent.waitForRun(project, revision: 1) }
        let before = try await agent.state().projects.mapValues { $0.status.lastRun?.id }

        for token in [nil, "wrong", agent.token, "upstream-\(pushToken)"] {
            let reply = try await Self.push(agent, "gnu", token: token)
            #expect(reply.status == 401 && reply.error?.code == "unauthorized", "\(token ?? "no token"): \(reply.text)")
        }
        #expect(try await Self.push(agent, "plain", token: agent.token).error?.code == "push-not-enabled")
        #expect(try await Self.push(agent, "plain", token: pushToken).status == 403)
        #expect(try await Self.push(agent, "nothing", token: pushToken).status == 404)
        #expect(
            try await Self.push(agent, "kde", token: pushToken).status == 401,
            "the project's token is not its upstream's")
        let after = try await agent.state().projects
        #expect(
            after.mapValues { $0.status.lastRun?.id } == before
                && after.values.allSatisfy { $0.status.activity != .queued && $0.status.activity != .running },
            "a refused push starts nothing")

        // The right tokens: the project's for gnu, the upstream's for kde.
        #expect(try await Self.push(agent, "gnu", token: pushToken).status == 202)
        #expect(try await Self.push(agent, "kde", token: "upstream-\(pushToken)").status == 202)
        _ = try await agent.waitForRun("gnu", revision: 2)
        _ = try await agent.waitForRun("kde", revision: 2)
        await agent.stop()
    }

    @Test("a push token file the master cannot use is refused at PUT, naming the file, and nothing changes")
    func badTokenFiles() async throws {
        let (agent, upstream) = try await Self.master(files: 2, bytes: 100)
        let good = try AgentHarness.project(upstream, path: "gnu")
        #expect(try await agent.put("/v1/projects/gnu", good).status == 201)
        let cases: [(String, String)] = [
            // The file's own faults read alike (nothing is said of what is on the host); the log says which.
            (try Self.tokenFile(agent, "open.push", "t-\(UUID().uuidString)", mode: 0o644), "cannot be used"),
            (agent.scratch.path + "/missing.push", "cannot be used"),
            (try Self.tokenFile(agent, "empty.push", "\n"), "is empty"),
            (try Self.tokenFile(agent, "agents.push", agent.token), "holds a credential the agents accept"),
        ]
        for (file, why) in cases {
            var bad = good
            bad.pushTokenFile = file
            let reply = try await agent.put("/v1/projects/gnu", bad)
            #expect(
                reply.status == 422 && reply.error?.code == "invalid-push-token-file"
                    && reply.error?.field == "pushTokenFile", "\(reply.text)")
            #expect(reply.text.contains(why) && reply.text.contains(file), "\(reply.text)")
            #expect(
                try await agent.state().projects["gnu"]?.spec.pushTokenFile == nil, "the refused PUT changed nothing")
        }
        await agent.stop()
    }

    @Test("a slave takes no pushes")
    func slaveRefuses() async throws {
        let agent = try await AgentHarness(role: .slave, name: "ftp1")
        #expect(try await Self.push(agent, "debian", token: "anything").status == 404)
        await agent.stop()
    }
}
