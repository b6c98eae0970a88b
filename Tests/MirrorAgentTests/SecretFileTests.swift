import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// Secrets a spec names (`passwordFile`, `pushTokenFile`) are read only from the agent's own secret files, push tokens
/// carry 128 bits, a module's path holds no `%`, and `insecure: true` is said.
@Suite("Secret files, push tokens, module paths and insecure (real files and modes, a real agent)")
struct SecretFileTests {
    static func file(_ scratch: Scratch, _ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        let path = scratch.path + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    @Test(
        "a secret file is read only if nobody but its owner may read it, outside the trees, and not a credential; the file's own faults read alike"
    )
    func rules() throws {
        let scratch = Scratch("secrets")
        let credential = try Self.file(scratch, "token", "agents-token")
        let root = scratch.sub("root")
        let rules = SecretFileRules(credentials: [credential], trees: [.init(root, "the agent's root")])
        #expect(try rules.read(try Self.file(scratch, "good", " s3cret\n"), field: "passwordFile") == "s3cret")
        let link = scratch.path + "/to-token"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: credential)
        let intoRoot = scratch.path + "/to-root"
        try FileManager.default.createSymbolicLink(
            atPath: intoRoot, withDestinationPath: try Self.file(scratch, "root/inside", "x"))
        // Missing, group- or world-readable, a directory, a FIFO, a link to a credential or into the root: the same words.
        let fifo = scratch.path + "/fifo"
        mkfifo(fifo, 0o600)
        let faults = [
            scratch.path + "/missing", try Self.file(scratch, "group", "x", mode: 0o640),
            try Self.file(scratch, "world", "x", mode: 0o604),
            scratch.sub("dir"), fifo, link, intoRoot, "/etc/shadow",
        ]
        for path in faults {
            #expect { try rules.read(path, field: "passwordFile") } throws: { error in
                let refusal = error as? SecretRefusal
                return refusal?.message == "passwordFile '\(path)' is refused: \(SecretFileRules.unusable)"
                    && refusal?.detail != nil
            }
        }
        // The path as written: said as it is.
        #expect { try rules.read(credential, field: "pushTokenFile") } throws: {
            ($0 as? SecretRefusal)?.reason
                == "it is one of this agent's own credentials; give the secret a file of its own"
        }
        #expect { try rules.read(root + "/inside", field: "passwordFile") } throws: {
            ($0 as? SecretRefusal)?.reason.hasPrefix("it is inside the agent's root \(root)") == true
        }
    }

    @Test("a push token carries at least 128 bits, counted by its alphabet")
    func strength() {
        #expect(PushTokenStrength.bits("x") < 128)
        #expect(PushTokenStrength.bits(String(repeating: "a", count: 31)) < 128)
        #expect(PushTokenStrength.bits(String(repeating: "a", count: 32)) >= 128)
        #expect(PushTokenStrength.bits(String(repeating: "Z", count: 21)) < 128)
        #expect(PushTokenStrength.bits(String(repeating: "Z", count: 22)) >= 128)
        #expect(PushTokenStrength.bits(String(repeating: "7", count: 38)) < 128)
        #expect(PushTokenStrength.bits("q8Jk1s9dPw0xL3mN5bV7cQ==") >= 128)
    }

    @Test(
        "the agent refuses a weak or open push token file, and a passwordFile or pushTokenFile that is its credential or in its trees"
    )
    func api() async throws {
        let agent = try await AgentHarness()
        let upstream = agent.scratch.sub("upstream")
        let root = agent.scratch.path + "/root"
        #expect(try await agent.put("/v1/settings", AgentSettings(root: root)).status == 200)
        let good = try AgentHarness.project(upstream, path: "p")
        let weak: [(String, String)] = [
            (try Self.file(agent.scratch, "one.push", "x"), "at least 128 bits"),
            (try Self.file(agent.scratch, "hex.push", String(repeating: "ab", count: 15)), "at least 128 bits"),
            (
                try Self.file(agent.scratch, "group.push", "push-\(UUID().uuidString)", mode: 0o640),
                SecretFileRules.unusable
            ),
        ]
        for (file, why) in weak {
            var spec = good
            spec.pushTokenFile = file
            let reply = try await agent.put("/v1/projects/p", spec)
            #expect(
                reply.status == 422 && reply.error?.code == "invalid-push-token-file" && reply.text.contains(why),
                "\(why): \(reply.text)")
        }
        var password = try AgentHarness.project("rsync://user@127.0.0.1:1/mod/", path: "q")
        for (file, field) in [
            (agent.tokenFile, "upstream.passwordFile"), (root + "/q/secret", "upstream.passwordFile"),
            (agent.scratch.path + "/state/rsyncd/rsyncd.secrets", "upstream.passwordFile"),
        ] {
            password.upstream.passwordFile = file
            let reply = try await agent.put("/v1/projects/q", password)
            #expect(
                reply.status == 403 && reply.error?.code == "forbidden-secret" && reply.error?.field == field,
                "\(reply.text)")
        }
        var push = good
        push.pushTokenFile = agent.tokenFile
        #expect(try await agent.put("/v1/projects/p", push).error?.code == "forbidden-secret")
        #expect(try await agent.state().projects.isEmpty)
        await agent.stop()
    }

    @Test(
        "a run whose passwordFile is readable by others, or missing, fails before rsync starts, with the same words for both"
    )
    func passwordFileAtRunTime() async throws {
        let agent = try await AgentHarness()
        #expect(try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root")).status == 200)
        var messages: [String] = []
        for (name, file) in [
            ("open", try Self.file(agent.scratch, "open.secret", "pw", mode: 0o644)),
            ("missing", agent.scratch.path + "/missing.secret"),
        ] {
            let spec = try AgentHarness.project("rsync://user@127.0.0.1:1/mod/", path: name) {
                $0.upstream.passwordFile = file
            }
            #expect(try await agent.put("/v1/projects/\(name)", spec).status == 201)
            let run = try await agent.waitForRun(name)
            #expect(run.result == .failed && run.reason == "password-file", "\(run)")
            messages.append((run.message ?? "").replacingOccurrences(of: file, with: "FILE"))
        }
        #expect(messages.count == 2 && messages[0] == messages[1] && messages[0].contains("chmod 600"), "\(messages)")
        await agent.stop()
    }

    @Test(
        "validate: '%' in a project's path or the master's root is refused (rsyncd expands %VAR%); insecure: true is a warning naming the host"
    )
    func validator() throws {
        let scratch = Scratch("percent")
        let site = """
            master: { api: "http://127.0.0.1:7070", tokenFile: /etc/mirrorsync/token, root: /srv/mirror }
            intervals: { hourly: { every: 1h } }
            upstreams: { up: { url: "rsync://rsync.example.org/pub/" } }

            """
        try (site + "projects:\n  p: { upstream: up, interval: hourly, path: \"pub/%HOME%\" }\n")
            .write(toFile: scratch.path + "/a.yaml", atomically: true, encoding: .utf8)
        #expect { try DesiredStateLoader().load(directory: scratch.path) } throws: {
            ($0 as? ConfigError)?.errors.contains { $0.line == 5 && $0.message.contains("'%'") } == true
        }
        try site.replacingOccurrences(of: "root: /srv/mirror", with: "root: /srv/%HOME%/m")
            .write(toFile: scratch.path + "/a.yaml", atomically: true, encoding: .utf8)
        #expect { try DesiredStateLoader().load(directory: scratch.path) } throws: {
            ($0 as? ConfigError)?.errors.contains { $0.line == 1 && $0.message.contains("'%'") } == true
        }
        try (site + "slaves:\n  ftp9: { api: \"http://10.0.0.9:7071\", publicDir: /srv/ftp, insecure: true }\n")
            .write(toFile: scratch.path + "/a.yaml", atomically: true, encoding: .utf8)
        let loaded = try DesiredStateLoader().load(directory: scratch.path)
        #expect(
            loaded.warnings.contains { $0.code == "insecure" && $0.line == 5 && $0.message.contains("10.0.0.9") },
            "\(loaded.warnings.map(\.description))")
    }

    @Test("the master's rsyncd.conf never holds a module whose path has a '%'")
    func rsyncdConfig() {
        let text = RsyncdConfig.render(
            modules: [.init(name: "a", path: "/srv/%HOME%/a"), .init(name: "b", path: "/srv/b")], user: "u",
            secretsFile: "s", logFile: "l", hostsAllow: nil)
        #expect(!text.contains("%") && text.contains("[b]") && !text.contains("[a]"))
    }
}
