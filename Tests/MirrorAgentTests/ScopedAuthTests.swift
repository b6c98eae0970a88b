import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// Each credential reaches only its role's calls: a real agent with an accept file, called on loopback.
@Suite("Scoped credentials on one agent: 401 for a token it does not accept, 403 outside its role")
struct ScopedAuthTests {
    static let operatorToken = "operator-\(UUID().uuidString)"
    static let masterToken = "master-\(UUID().uuidString)"
    static let wwwToken = "www-\(UUID().uuidString)"

    static func acceptFile(_ scratch: Scratch, _ roles: [(CredentialRole, String)]) throws -> String {
        let file = scratch.path + "/accepted-\(UUID().uuidString)"
        try (roles.map { CredentialVerifier(role: $0.0, token: $0.1).line }.joined(separator: "\n") + "\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        return file
    }

    @Test(
        "on the master: a slave's credential reports for itself and fetches its own rsync user, and nothing else; a removed line is refused at once"
    )
    func master() async throws {
        let scratch = Scratch("scoped-master")
        let file = try Self.acceptFile(
            scratch, [(.operator, Self.operatorToken), (.master, Self.masterToken), (.slave("www"), Self.wwwToken)])
        let agent = try await AgentHarness(acceptFile: file)
        let spec = try APICoding.encoder().encode(
            AgentProjectSpec(
                upstream: UpstreamSpec(url: try UpstreamLocation.parse(agent.scratch.path + "/up")), path: "p",
                interval: .every(TimeSpan(seconds: 3600))))
        let report = try APICoding.encoder().encode(
            SlaveReport(
                slave: "ftp", project: "p", revision: 1, result: .success, runID: 1,
                startedAt: nil, endedAt: Date(), durationSeconds: 1))
        // Its own token, which it sends, is not one it accepts.
        #expect(try await agent.request("GET", "/v1/state").status == 401)
        #expect(try await agent.request("GET", "/v1/state", token: Self.operatorToken).status == 200)
        for token in [Self.wwwToken, Self.masterToken] {
            for (method, path, body) in [
                ("PUT", "/v1/projects/p", spec), ("GET", "/v1/state", nil), ("POST", "/v1/projects/p/cancel", nil),
                ("DELETE", "/v1/projects/p", nil), ("GET", "/metrics", nil),
            ] as [(String, String, Data?)] {
                let reply = try await agent.request(method, path, body: body, token: token)
                #expect(
                    reply.status == 403 && reply.error?.code == "outside-role",
                    "\(method) \(path): \(reply.status) \(reply.text)")
            }
        }
        let forged = try await agent.request("POST", "/v1/reports", body: report, token: Self.wwwToken)
        #expect(
            forged.status == 403 && forged.error?.message.contains("report for slave 'ftp'") == true, "\(forged.text)")
        #expect(try await agent.request("POST", "/v1/reports", body: report, token: Self.masterToken).status == 403)
        #expect(try await agent.request("GET", "/v1/revisions", token: Self.wwwToken).status == 200)
        let own = try await agent.request("GET", "/v1/rsyncd/credential", token: Self.wwwToken).decode(
            RsyncCredential.self)
        #expect(own.user == "mirrorsync-www" && own.password.count == 64)
        #expect(try await agent.request("GET", "/v1/rsyncd/credential", token: Self.operatorToken).status == 403)
        #expect(
            try await agent.request("GET", "/v1/state", token: Self.operatorToken).decode(AgentState.self).sharedToken
                == nil)

        // www's line removed: its token is refused on the next call, with no restart.
        try (CredentialVerifier(role: .operator, token: Self.operatorToken).line + "\n").write(
            toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        #expect(try await agent.request("GET", "/v1/revisions", token: Self.wwwToken).status == 401)
        #expect(try await agent.request("GET", "/v1/state", token: Self.operatorToken).status == 200)
        // An accept file made invalid keeps the last good one in force.
        try "operator sha256:nothex\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await agent.request("GET", "/v1/state", token: Self.operatorToken).status == 200)
        await agent.stop()
    }

    @Test("on the master: a project's change lists are read by the operator and by the slaves that serve it only")
    func changes() async throws {
        let scratch = Scratch("scoped-changes")
        let file = try Self.acceptFile(
            scratch,
            [
                (.operator, Self.operatorToken), (.master, Self.masterToken), (.slave("www"), Self.wwwToken),
                (.slave("ftp"), "ftp-token"),
            ])
        let agent = try await AgentHarness(acceptFile: file)
        let spec = try APICoding.encoder().encode(
            AgentProjectSpec(
                upstream: UpstreamSpec(url: try UpstreamLocation.parse(agent.scratch.path + "/up")),
                interval: .every(TimeSpan(seconds: 3600)), tree: TreeSpec(path: "p"), slaves: ["www"]))
        #expect(try await agent.request("PUT", "/v1/projects/p", body: spec, token: Self.operatorToken).status == 201)
        let path = "/v1/projects/p/changes?from=1&to=2"
        // Reached, and no list kept yet: 404 changes-unavailable, for the operator and the slave that serves it.
        for token in [Self.operatorToken, Self.wwwToken] {
            let reply = try await agent.request("GET", path, token: token)
            #expect(reply.status == 404 && reply.error?.code == "changes-unavailable", "\(reply.text)")
        }
        for token in [Self.masterToken, "ftp-token"] {
            let reply = try await agent.request("GET", path, token: token)
            #expect(reply.status == 403 && reply.error?.code == "outside-role", "\(reply.text)")
        }
        #expect(try await agent.request("GET", path, token: .some(nil)).status == 401)
        let bad = try await agent.request("GET", "/v1/projects/p/changes?from=x&to=2", token: Self.wwwToken)
        #expect(bad.status == 400 && bad.error?.code == "invalid-revision", "\(bad.text)")
        await agent.stop()
    }

    @Test("on a slave: the master's credential triggers and does nothing else; another slave's does nothing")
    func slave() async throws {
        let scratch = Scratch("scoped-slave")
        let file = try Self.acceptFile(
            scratch, [(.operator, Self.operatorToken), (.master, Self.masterToken), (.slave("www"), Self.wwwToken)])
        let agent = try await AgentHarness(role: .slave, name: "ftp", acceptFile: file)
        let trigger = try APICoding.encoder().encode(TriggerRequest(revision: 1))
        // Past the role's check: no such project here.
        #expect(
            try await agent.request("POST", "/v1/projects/p/sync", body: trigger, token: Self.masterToken).status == 404
        )
        for (method, path) in [
            ("PUT", "/v1/settings"), ("GET", "/v1/state"), ("POST", "/v1/projects/p/cancel"),
            ("GET", "/v1/projects/p/runs/1"),
        ] {
            #expect(
                try await agent.request(
                    method, path, body: method == "PUT" ? Data("{}".utf8) : nil, token: Self.masterToken
                ).status == 403, "\(method) \(path)")
        }
        #expect(
            try await agent.request("POST", "/v1/projects/p/sync", body: trigger, token: Self.wwwToken).status == 403)
        #expect(try await agent.request("GET", "/v1/state", token: Self.operatorToken).status == 200)
        await agent.stop()
    }

    @Test(
        "without an accept file, the one token does everything and the state says it is shared; a bad accept file stops the start, saying where"
    )
    func sharedAndInvalid() async throws {
        let agent = try await AgentHarness()
        #expect(try await agent.state().sharedToken == true)
        #expect(
            try await agent.request("GET", "/v1/rsyncd/credential").decode(RsyncCredential.self).user == "mirrorsync")
        await agent.stop()

        let scratch = Scratch("scoped-invalid")
        let file = scratch.path + "/accepted"
        try "operator sha256:abc\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        do {
            _ = try await AgentHarness(acceptFile: file)
            Issue.record("an invalid accept file started an agent")
        } catch {
            #expect("\(error)".contains("\(file):1: a line is ROLE [NAME] sha256:HEX"), "\(error)")
        }
        chmod(file, 0o666)
        do {
            _ = try await AgentHarness(acceptFile: file)
            Issue.record("a world-writable accept file started an agent")
        } catch {
            #expect("\(error)".contains("may be written by others"), "\(error)")
        }
    }

    @Test(
        "each slave's rsync user: its own password, stable under one key, changed by a rotated credential; rsyncd.conf names each user, or nobody"
    )
    func slaveRsyncUsers() throws {
        let scratch = Scratch("rsync-users")
        let users = try SlaveRsyncUsers(keyFile: scratch.path + "/rsyncd.key")
        let again = try SlaveRsyncUsers(keyFile: scratch.path + "/rsyncd.key")
        let accepted = AcceptedCredentials([
            CredentialVerifier(role: .operator, token: "op"), CredentialVerifier(role: .slave("a"), token: "ta"),
            CredentialVerifier(role: .slave("b"), token: "tb"),
        ])
        let made = users.credentials(accepted)
        #expect(
            made.map(\.user) == ["mirrorsync-a", "mirrorsync-b"] && made[0].password != made[1].password
                && made[0].password.count == 64)
        #expect(again.credentials(accepted) == made)
        let rotated = AcceptedCredentials([
            CredentialVerifier(role: .slave("a"), token: "ta2"), CredentialVerifier(role: .slave("b"), token: "tb"),
        ])
        #expect(users.credentials(rotated)[0].password != made[0].password && users.credentials(rotated)[1] == made[1])
        var info = stat()
        stat(scratch.path + "/rsyncd.key", &info)
        #expect(info.st_mode & 0o777 == 0o600)
        let config = RsyncdConfig.render(
            modules: [], users: made.map(\.user), secretsFile: "s", logFile: "l", hostsAllow: nil)
        #expect(config.contains("auth users = mirrorsync-a:ro, mirrorsync-b:ro\n"))
        #expect(
            RsyncdConfig.render(modules: [], users: [], secretsFile: "s", logFile: "l", hostsAllow: nil).contains(
                "auth users = nobody-has-a-credential\n"))
    }
}
