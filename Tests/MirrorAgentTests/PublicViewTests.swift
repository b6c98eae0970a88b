import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// With `publicStatus: true`, every route that answers without the token shows state, times, sizes, revisions and a
/// failure's class, and none of what runs the site: after real runs from a password-protected rsync daemon, with
/// hooks that have a secret argument and print secret output.
@Suite("Public views: nothing secret without the token (live master and slave, real rsync daemon with auth)")
struct PublicViewTests {
    /// Every route of `agent`'s API, its parameters filled in: `:name` with `project`, `:id` with `run`.
    static func everyRoute(_ agent: AgentHarness, project: String, run: Int64) -> [(method: String, path: String)] {
        agent.daemon.api.router().routes.map { route in
            let path = "\(route.path)".split(separator: "/", omittingEmptySubsequences: false).map { part -> String in
                if part == ":name" || part == "{name}" { return project }
                if part == ":id" || part == "{id}" { return String(run) }
                return String(part)
            }.joined(separator: "/")
            return (route.method.rawValue, path.isEmpty ? "/" : path)
        }
    }

    @Test(
        "after a good and a refused run with secret hooks, no public body holds the user, a password file's path, a hook's argv or output, stderr or a log line"
    )
    func nothingSecretWithoutToken() async throws {
        let scratch = Scratch("public-view")
        let marker = UUID().uuidString.prefix(8).lowercased()
        let user = "user\(marker)"
        let password = "pw-\(marker)"
        let upstream = scratch.sub("upstream")
        try Tree.generate(at: upstream, files: 5)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch, user: user, password: password)
        let goodPasswordFile = scratch.path + "/good-password-\(marker)"
        let badPasswordFile = scratch.path + "/bad-password-\(marker)"
        try password.write(toFile: goodPasswordFile, atomically: true, encoding: .utf8)
        try "wrong-\(marker)".write(toFile: badPasswordFile, atomically: true, encoding: .utf8)
        chmod(goodPasswordFile, 0o600)
        chmod(badPasswordFile, 0o600)
        let argvSecret = "argv-secret-\(marker)"
        let outputSecret = "output-secret-\(marker)"
        let hooks = HookSpec(
            onSuccess: [
                "/bin/sh", "-c", "echo \(outputSecret)-ok; echo \(outputSecret)-err >&2", "hook",
                "Authorization: Bearer \(argvSecret)",
            ],
            onFailure: ["/bin/sh", "-c", "echo \(outputSecret)-failed", "hook", argvSecret])
        func spec(_ path: String, passwordFile: String) throws -> AgentProjectSpec {
            try AgentHarness.project(daemon.url(user: user), path: path) {
                $0.upstream.passwordFile = passwordFile
                $0.hooks = hooks
                $0.slaves = ["ftp1"]
            }
        }

        let master = try await AgentHarness(allowExec: ["/bin"])
        let slave = try await AgentHarness(role: .slave, name: "ftp1", allowExec: ["/bin"])
        #expect(
            try await master.put(
                "/v1/settings",
                AgentSettings(
                    root: master.scratch.path + "/root", publicStatus: true, slaves: ["ftp1": slave.base],
                    site: SiteSpec(url: "https://mirror.example.org", abbr: "EX"))
            ).status == 200)
        #expect(
            try await slave.put(
                "/v1/settings",
                AgentSettings(root: slave.scratch.path + "/root", publicStatus: true, master: master.base)
            ).status == 200)
        #expect(
            try await master.put("/v1/projects/good", try spec("good", passwordFile: goodPasswordFile)).status == 201)
        #expect(try await master.put("/v1/projects/bad", try spec("bad", passwordFile: badPasswordFile)).status == 201)
        // The slave pulls the refused project itself, so that its report and its own status carry the same failure.
        #expect(try await slave.put("/v1/projects/bad", try spec("bad", passwordFile: badPasswordFile)).status == 201)
        let good = try await master.waitForRun("good")
        let bad = try await master.waitForRun("bad")
        // A slave pulls when asked (the master's trigger, or by hand), not on a schedule.
        #expect(try await slave.request("POST", "/v1/projects/bad/sync").status == 202)
        let slaveRun = try await slave.waitForRun("bad")
        #expect(
            good.result == .success && bad.result == .failed && slaveRun.result == .failed, "\(good) \(bad) \(slaveRun)"
        )
        // The harnesses hold tokens of their own, so the slave's courier cannot report: its report goes in with the master's.
        let report = try APICoding.encoder().encode(SlaveReport(slave: "ftp1", run: slaveRun, revision: 0))
        #expect(try await master.request("POST", "/v1/reports", body: report).status == 202)
        try await eventually("both runs' hooks ended", seconds: 30) {
            let runs = try await master.state().projects
            return runs["good"]?.status.lastRun?.hook != nil && runs["bad"]?.status.lastRun?.hook != nil
        }

        // The operator's views, with the token, are as they were: the secrets are there to be found.
        let operatorStatus = try await master.request("GET", "/v1/status").text
        #expect(
            operatorStatus.contains(argvSecret) && operatorStatus.contains(outputSecret)
                && operatorStatus.contains("auth failed"))
        let operatorPage = try await master.request("GET", "/projects/bad").text
        #expect(
            operatorPage.contains("auth failed") && operatorPage.contains("mirrorsync: run \(bad.id) "),
            "\(operatorPage)")

        let secrets = [
            user, goodPasswordFile, badPasswordFile, "password-\(marker)", argvSecret, outputSecret, "auth failed",
            "@ERROR",
            "mirrorsync: run ", master.token, slave.token, master.scratch.path, slave.scratch.path, scratch.path,
        ]
        var publicBodies = 0
        for (agent, run) in [(master, bad.id), (slave, slaveRun.id)] {
            var routes = Self.everyRoute(agent, project: "bad", run: run)
            routes += Self.everyRoute(agent, project: "good", run: good.id)
            routes += [
                ("GET", "/v1/projects/bad/runs/latest/log"), ("GET", "/v1/projects/bad/runs/\(run)/log?follow=true"),
                ("GET", "/v1/projects/bad/runs/\(run)?wait=1"), ("GET", "/projects/nope"), ("GET", "/v1/nothing-here"),
            ]
            for (method, path) in routes {
                let reply = try await agent.request(
                    method, path, body: method == "GET" ? nil : Data("{}".utf8), token: .some(nil))
                if reply.status != 401 { publicBodies += 1 }
                for secret in secrets {
                    #expect(
                        !reply.text.contains(secret),
                        "\(method) \(path) without the token (\(reply.status)) shows '\(secret)': \(reply.text.prefix(2000))"
                    )
                }
            }
        }
        // What answers without the token: health, the status, the formats and the pages (and a push's refusal).
        #expect(publicBodies >= 10, "\(publicBodies)")
        let shown = try await master.request("GET", "/v1/status", token: .some(nil)).decode(SiteStatus.self)
        #expect(
            shown.projects["bad"]?.lastRun?.message == "upstream refused the login",
            "\(String(describing: shown.projects["bad"]?.lastRun))")
        #expect(shown.projects["bad"]?.slaves["ftp1"]?.message == "upstream refused the login")
        #expect(shown.projects["good"]?.lastRun?.revision == 1 && shown.projects["good"]?.sizeBytes != nil)
        let slaveShown = try await slave.request("GET", "/v1/status", token: .some(nil)).decode(SiteStatus.self)
        #expect(slaveShown.role == .slave && slaveShown.projects["bad"]?.lastRun?.result == .failed)
        let page = try await master.request("GET", "/projects/bad", token: .some(nil))
        #expect(page.status == 200 && page.text.contains("upstream refused the login"), "\(page.text)")
        await slave.stop()
        await master.stop()
        daemon.stop()
    }
}
