import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorHTTP
@testable import MirrorReconciler
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// Agents in this process serving their API over TLS on loopback (a `LiveSite`), with certificates a CA made for the
/// test signs.
final class TLSSite: Sendable {
    let live: LiveSite
    let pki: TestPKI
    var scratch: Scratch { live.scratch }
    var ports: [String: Int] { live.ports }
    var token: String { live.token }
    var tokenFile: String { live.tokenFile }

    init(slaves: [String]) throws {
        live = try LiveSite(slaves: slaves)
        pki = try TestPKI(in: live.scratch.path + "/pki")
    }

    /// Starts an agent with `certificate` (by default one for 127.0.0.1 from the site's CA); nil serves plain HTTP.
    func start(_ name: String, certificate: TestPKI.Issued?? = .none) async throws {
        let issued = try certificate ?? pki.issue(name, addresses: ["127.0.0.1"])
        try await live.start(name) { options in
            options.catchUpInterval = 1
            options.peerRetryBase = 0.1
            options.tlsCertificateFile = issued?.certificate
            options.tlsKeyFile = issued?.key
        }
    }

    func stopAll() async { await live.stopAll() }

    func api(_ name: String, scheme: String = "https") -> String { "\(scheme)://127.0.0.1:\(ports[name]!)" }

    /// mirrors.d for these agents over https://, verified against `caFile` (the site's CA unless given).
    func desired(caFile: String? = nil, _ projects: String) throws -> [DesiredAgent] {
        let slaves = ports.keys.filter { $0 != "master" }.sorted()
            .map { "  \($0): { api: \"\(api($0))\", publicDir: \(scratch.path)/\($0) }" }.joined(separator: "\n")
        let yaml = """
            tls: { caFile: \(caFile ?? pki.caFile) }
            master: { api: "\(api("master"))", tokenFile: \(tokenFile), root: \(scratch.path)/master, rsyncd: { address: 127.0.0.1, port: \(live.rsyncdPort) } }
            intervals: { hourly: { every: 1h } }
            upstreams: { local: { url: \(scratch.path)/upstream } }
            slaves:
            \(slaves)
            projects:
            \(projects)
            """
        return DesiredAgent.all(
            from: try DesiredStateLoader().load(files: [("site.yaml", Array(yaml.utf8))], directory: "mirrors.d").state)
    }

    func reconciler(_ agents: [DesiredAgent]) -> Reconciler {
        let clients = Dictionary(
            uniqueKeysWithValues: agents.map {
                (
                    $0.name,
                    HTTPAgentClient(base: $0.api, token: token, timeout: 2, transport: $0.transport) as any AgentClient
                )
            })
        return Reconciler(clients: clients, logger: testLogger, retryBase: 0.05, retryMax: 0.3)
    }

    /// Why reading the state of the agent at `base` with this CA fails (nil if it does not).
    func refusal(_ base: String, caFile: String?) async -> String? {
        do throws(ClientError) {
            _ = try await HTTPAgentClient(base: base, token: token, transport: AgentTransport(caFile: caFile)).state()
            return nil
        } catch {
            return error.message
        }
    }
}

@Suite("TLS between the reconciler and the agents, and between the agents", .serialized)
struct TLSTests {
    @Test(
        "over https:// the reconciler verifies and applies; the master triggers its slave and the slave reports back, each verifying the other"
    )
    func verifiedSite() async throws {
        let site = try TLSSite(slaves: ["a"])
        try Tree.generate(at: site.scratch.path + "/upstream/linux", files: 5)
        try await site.start("master")
        try await site.start("a")
        let desired = try site.desired("  linux: { upstream: local, source: linux, interval: hourly, slaves: all }")
        let report = await site.reconciler(desired).reconcile(desired, timeout: 20)
        #expect(report.converged, "\(report.plan.agents.compactMap(\.error)) \(report.applied.compactMap(\.error))")
        #expect(report.applied.allSatisfy { $0.error == nil }, "\(report.applied.compactMap(\.error))")
        // The master was told how to reach its slave, and the slave its master: the same CA file.
        let master = HTTPAgentClient(
            base: site.api("master"), token: site.token, transport: AgentTransport(caFile: site.pki.caFile))
        #expect(try await master.state().settings?.peers == [site.api("a"): AgentTransport(caFile: site.pki.caFile)])
        // The master's trigger reached the slave over TLS, and the slave's report the master.
        try await eventually("slave a reports revision 1 of linux to the master", seconds: 30) {
            guard let linux = try await master.state().projects["linux"], linux.status.revision == 1 else {
                return false
            }
            let status = try APIClient.decode(
                SiteStatus.self,
                try await APIClient(token: site.token, timeout: 5, transport: AgentTransport(caFile: site.pki.caFile))
                    .call("GET", site.api("master") + "/v1/status"))
            return status.projects["linux"]?.slaves["a"]?.revision == 1
                && status.projects["linux"]?.slaves["a"]?.result == .success
        }
        #expect(
            try Tree.snapshot(site.scratch.path + "/a/linux") == Tree.snapshot(site.scratch.path + "/upstream/linux"))
        await site.stopAll()
    }

    @Test(
        "a wrong CA, an expired certificate, plain HTTP to the TLS port and https:// to a plain one: each refused, saying so"
    )
    func refusals() async throws {
        let site = try TLSSite(slaves: ["a", "old", "plain", "named"])
        let other = try TestPKI(in: site.scratch.path + "/other", name: "other-ca")
        try await site.start("master")
        try await site.start("a")
        let day: TimeInterval = 86_400
        try await site.start(
            "old",
            certificate: site.pki.issue(
                "old", addresses: ["127.0.0.1"], notBefore: Date().addingTimeInterval(-60 * day),
                notAfter: Date().addingTimeInterval(-30 * day)))
        try await site.start("plain", certificate: .some(nil))
        try await site.start("named", certificate: site.pki.issue("named", addresses: ["other.example.org"]))

        // The plan names each agent and why; nothing is applied to them.
        let desired = try site.desired(
            caFile: other.caFile, "  p: { upstream: local, interval: hourly, suspended: true }")
        let plan = await site.reconciler(desired).plan(desired).0
        let a = try #require(plan.agents.first { $0.agent == "a" })
        #expect(!a.reachable)
        #expect(
            a.error?.contains("TLS refused: the agent's certificate is not signed by the CA in \(other.caFile)")
                == true, "\(a.error ?? "")")
        let sameCA = try site.desired("  p: { upstream: local, interval: hourly, suspended: true }")
        let sitePlan = await site.reconciler(sameCA).plan(sameCA).0
        let old = try #require(sitePlan.agents.first { $0.agent == "old" })
        #expect(old.error?.contains("TLS refused: the agent's certificate expired on ") == true, "\(old.error ?? "")")
        let plain = try #require(sitePlan.agents.first { $0.agent == "plain" })
        #expect(plain.error?.contains("does not speak TLS") == true, "\(plain.error ?? "")")
        #expect(sitePlan.agents.first { $0.agent == "master" }?.reachable == true)

        // Plain HTTP to the TLS port: the agent takes nothing, and the client says it was a downgrade.
        let downgrade = await site.refusal(site.api("a", scheme: "http"), caFile: nil)
        #expect(
            downgrade?.contains("serves TLS, and takes no plain HTTP; write the agent's api as https://") == true,
            "\(downgrade ?? "nil")")
        // The system's trust store does not know the test's CA.
        let system = await site.refusal(site.api("a"), caFile: nil)
        #expect(system?.contains("not signed by any CA of the system's trust store") == true, "\(system ?? "nil")")
        // A certificate for another name (NIOSSL also takes a certificate that names the address connected to).
        let named = await site.refusal(site.api("named"), caFile: site.pki.caFile)
        #expect(named?.contains("does not name 127.0.0.1") == true, "\(named ?? "nil")")
        // A CA file that is not there.
        let missing = await site.refusal(site.api("a"), caFile: site.scratch.path + "/nope.pem")
        #expect(
            missing?.contains("cannot read the CA file \(site.scratch.path)/nope.pem: No such file or directory")
                == true, "\(missing ?? "nil")")
        await site.stopAll()
    }

    @Test("an agent refuses settings naming a CA file it cannot read, and a bad certificate or key at start")
    func agentChecks() async throws {
        let site = try TLSSite(slaves: [])
        try await site.start("master")
        let client = APIClient(token: site.token, timeout: 5, transport: AgentTransport(caFile: site.pki.caFile))
        let body =
            #"{"root": "\#(site.scratch.path)/m", "peers": {"https://127.0.0.1:1": {"caFile": "/nonexistent/ca.pem"}}}"#
        do {
            _ = try await client.call("PUT", site.api("master") + "/v1/settings", body: Data(body.utf8))
            Issue.record("settings with a missing CA file were taken")
        } catch {
            guard case .status(let status, let answer) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(status == 422)
            #expect(
                APICallFailure.detail(answer).contains("cannot read the CA file /nonexistent/ca.pem"),
                "\(APICallFailure.detail(answer))")
        }
        await site.stopAll()

        let issued = try site.pki.issue("x", addresses: ["127.0.0.1"])
        let otherKey = try site.pki.issue("y", addresses: ["127.0.0.1"]).key
        func startError(_ certificate: String?, _ key: String?) -> String? {
            var options = AgentOptions(
                role: .slave, name: "s", host: "127.0.0.1", port: freePort(), tokenFile: site.tokenFile,
                stateDirectory: site.scratch.path + "/state-s", handleSignals: false)
            options.tlsCertificateFile = certificate
            options.tlsKeyFile = key
            do { _ = try AgentDaemon(options: options, logger: testLogger) } catch { return error.message }
            return nil
        }
        #expect(
            startError(site.scratch.path + "/none.pem", issued.key)?.contains(
                "cannot read the TLS certificate \(site.scratch.path)/none.pem") == true)
        #expect(
            startError(issued.key, issued.key)?.contains("holds no certificate") == true
                || startError(issued.key, issued.key)?.contains("not a PEM certificate") == true,
            "\(startError(issued.key, issued.key) ?? "nil")")
        #expect(
            startError(issued.certificate, otherKey)?.contains("does not belong to the certificate") == true,
            "\(startError(issued.certificate, otherKey) ?? "nil")")
        #expect(startError(issued.certificate, nil)?.contains("--tls-cert needs --tls-key") == true)
        #expect(startError(issued.certificate, issued.key) == nil)
    }
}
