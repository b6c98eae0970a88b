import Foundation
import MirrorCore
import MirrorTestSupport
import Testing

/// Every file of one slave's host, as an attacker who took the host has them: its token, its accept file, and
/// everything in its state directory.
struct SlaveHostFiles {
    let texts: [String]

    init(_ slave: AgentProcess, acceptFile: String) throws {
        var paths = [slave.tokenFile, acceptFile]
        let enumerator = FileManager.default.enumerator(atPath: slave.stateDirectory)
        while let relative = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = slave.stateDirectory + "/" + relative
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                paths.append(path)
            }
        }
        texts = paths.map {
            (try? Data(contentsOf: URL(fileURLWithPath: $0))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
    }

    /// Whether `secret` is written in any of the files.
    func contain(_ secret: String) -> Bool { texts.contains { $0.contains(secret) } }
}

@Suite("Scoped credentials: each role reaches only its own calls (separate processes, real rsync)", .serialized)
struct ScopedCredentialTests {
    static func report(_ slave: String, revision: Int) -> SlaveReport {
        SlaveReport(
            slave: slave, project: "linux", revision: revision, result: .success, runID: 999, startedAt: Date(),
            endedAt: Date(),
            durationSeconds: 1)
    }

    @Test(
        "with every file of slave a, nothing on the master or on b changes and b's report cannot be forged, while the site converges; a's credential rotated and then revoked touches nothing else"
    )
    func compromisedSlave() async throws {
        let site = try Site("scoped", scoped: true)
        for agent in [site.master, site.a, site.b] { try await agent.start() }
        try await site.reconcile()
        try await site.wait("served revision 1 everywhere", site.atRevision(1))
        let operatorToken = try TokenFile.read(site.operatorTokenFile)

        // What the attacker holds: a's own token, and nothing of the operator's, the master's or b's.
        let stolen = try SlaveHostFiles(site.a, acceptFile: site.scratch.path + "/a.accepted")
        #expect(stolen.contain(site.a.token))
        for secret in [operatorToken, site.master.token, site.b.token] { #expect(!stolen.contain(secret)) }
        let token = site.a.token

        // Against the master: every operator call is 403, and a's report for b too; b's revision there stays.
        let spec = try projectSpec(site.daemon.url + "linux", path: "evil")
        var refused: [(String, Int)] = []
        for (method, path) in [
            ("PUT", "/v1/projects/evil"), ("PUT", "/v1/settings"), ("DELETE", "/v1/projects/linux"),
            ("POST", "/v1/projects/linux/sync"), ("POST", "/v1/projects/linux/cancel"), ("GET", "/v1/state"),
            ("GET", "/v1/projects/linux/runs/1/log"),
        ] {
            let reply = try await site.master.request(method, path, json: method == "PUT" ? spec : nil, token: token)
            refused.append(("master \(method) \(path)", reply.status))
        }
        let forged = try await site.master.request(
            "POST", "/v1/reports", json: Self.report("b", revision: 7), token: token)
        refused.append(("master POST /v1/reports for b", forged.status))
        for (call, status) in refused { #expect(status == 403, "\(call) answered \(status)") }
        // Against b, which accepts no credential of a's: neither the operator's calls nor the master's trigger.
        for (method, path) in [
            ("PUT", "/v1/projects/evil"), ("PUT", "/v1/settings"), ("POST", "/v1/projects/linux/sync"),
            ("DELETE", "/v1/projects/linux"), ("GET", "/v1/state"),
        ] {
            let reply = try await site.b.request(method, path, json: method == "PUT" ? spec : nil, token: token)
            #expect(reply.status == 401, "b \(method) \(path) answered \(reply.status)")
        }
        #expect(String(decoding: forged.body, as: UTF8.self).contains("outside-role"))
        #expect(try await site.master.state().projects["evil"] == nil)
        #expect(try await site.b.state().projects["evil"] == nil)
        #expect(try await site.status().projects["linux"]?.slaves["b"]?.revision == 1)

        // What a's credential may do: report for a, and fetch a's own rsync user, not b's, not the shared one.
        let own = try await site.master.request("GET", "/v1/rsyncd/credential", token: token).decode(
            RsyncCredential.self)
        #expect(own.user == "mirrorsync-a")
        let bs = try await site.master.request("GET", "/v1/rsyncd/credential", token: site.b.token).decode(
            RsyncCredential.self)
        #expect(bs.user == "mirrorsync-b" && bs.password != own.password)
        #expect(
            try await site.master.request("GET", "/v1/rsyncd/credential").status == 403,
            "the operator's is no rsync user")

        // The site converges meanwhile: the reconciler (the operator's token) and a new revision on both slaves.
        try await site.reconcile()
        try await site.changeUpstream("second")
        try await site.wait("served revision 2 everywhere", site.atRevision(2))

        // Rotation: a new token for a, its line in the master's accept file alone, a restarted; b and the master's
        // own files are untouched.
        let untouched = [
            site.b.tokenFile, site.scratch.path + "/b.accepted", site.master.tokenFile, site.operatorTokenFile,
        ]
        let before = try untouched.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let (rotated, line) = await run(
            Binary.path, ["credential", "token", site.a.tokenFile, "--for", "slave:a", "--rotate"])
        #expect(rotated == 0 && line.hasPrefix("slave a sha256:"), "\(line)")
        let (accepted, acceptOutput) = await run(
            Binary.path,
            [
                "credential", "accept", site.scratch.path + "/master.accepted",
                line.trimmingCharacters(in: .whitespacesAndNewlines),
            ])
        #expect(accepted == 0, "\(acceptOutput)")
        await site.a.stop()
        try await site.a.start()
        try await site.changeUpstream("third")
        try await site.wait("served revision 3 everywhere after a's rotation", site.atRevision(3))
        #expect(
            try await site.master.request("POST", "/v1/reports", json: Self.report("a", revision: 3), token: token)
                .status == 401,
            "the old token is refused")
        #expect(try untouched.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } == before)

        // Revocation: a's line removed on the master; b goes on, a's pulls are refused by the master's daemon.
        let file = site.scratch.path + "/master.accepted"
        let kept = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").filter {
            !$0.hasPrefix("slave a ")
        }
        try (kept.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        // The daemon's users are read again within a few seconds: a's is gone once its secrets no longer name it.
        let secrets = site.master.stateDirectory + "/rsyncd/rsyncd.secrets"
        try await eventually("the master's rsync daemon dropped a's user", seconds: 30) {
            let text = try String(contentsOfFile: secrets, encoding: .utf8)
            return text.contains("mirrorsync-b:") && !text.contains("mirrorsync-a:")
        }
        try await site.changeUpstream("fourth")
        let status = try await site.wait("served b and not a") { status in
            status.projects["linux"]?.slaves["b"]?.revision == 4 && status.projects["linux"]?.revision == 4
        }
        #expect(status.projects["linux"]?.slaves["a"]?.revision == 3)
        let aState = try await site.a.wait("failed its pull") {
            $0.projects["linux"]?.status.lastRun?.result == .failed
        }
        #expect(aState.projects["linux"]?.status.revision == 3)
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }

    @Test("a site whose agents share one token keeps working, and status says what to do about it")
    func sharedTokenWarning() async throws {
        let site = try Site("shared-token")
        for agent in [site.master, site.a, site.b] { try await agent.start() }
        try await site.reconcile()
        try await site.wait("served revision 1 everywhere", site.atRevision(1))
        #expect(try await site.master.state().sharedToken == true)
        let (status, output) = await run(Binary.path, ["status", site.directory])
        #expect(status == 0, "\(output)")
        #expect(output.contains("warning: master, slave a, slave b accept one token shared by every role"), "\(output)")
        #expect(output.contains("mirrorsync credential"))
        await site.master.stop()
        #expect(
            try String(contentsOfFile: site.master.log, encoding: .utf8).contains(
                "this agent accepts a token shared by every role"))
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }
}
