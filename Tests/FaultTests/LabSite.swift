import Foundation
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The built `mirrorsync` binary.
let binary = builtProduct("mirrorsync")

/// A whole site on hosts of its own: the upstream's rsync daemon, the master, slaves `a` and `b`, and `ops`, where
/// the reconciler runs and from which the test asks the agents. Trees live in one scratch directory (the namespaces
/// share the file system); the agents reach each other only through the lab's bridge. The agents' APIs are https://
/// with certificates from a CA the site makes (`tls`), or plain http:// with the operator's `insecure: true`.
final class LabSite: @unchecked Sendable {
    // Every property is set once in init; the processes are started and stopped by the one test task.
    let lab: NetworkLab
    let scratch: Scratch
    let upstream: String
    let directory: String
    let tokenFile: String
    let headerFile: String
    /// More fields of the upstream `up` in every mirrors.d this site writes.
    let upstreamOptions: String
    var master: LabProcess!
    var slaves: [String: LabProcess] = [:]
    let slaveNames = ["a", "b"]
    /// The site's CA, when the APIs are https://.
    let pki: TestPKI?
    /// Each agent has its own credential (`HOST.token`) and accept file (`HOST.accepted`); `tokenFile` is then the
    /// operator's, the reconciler's and the test's. Else every agent and the reconciler share `tokenFile`.
    let scoped: Bool
    /// Each agent's certificate, for its host's address.
    var certificates: [String: TestPKI.Issued] = [:]

    /// - Parameters:
    ///   - project: the project `linux`'s spec in mirrors.d; its tree is `upstream/linux`.
    ///   - upstreamOptions: more fields of the upstream `up`, such as `, ioTimeout: 5s`.
    ///   - tls: the agents serve https://, and everyone verifies them against the site's CA.
    init(
        _ label: String, files: Int = 40, bytes: Int = 2048,
        project: String = "{ upstream: up, source: linux, interval: hourly, slaves: all }",
        upstreamOptions: String = "",
        tls: Bool = false, scoped: Bool = false
    ) throws {
        lab = try NetworkLab(hosts: ["upstream", "master", "a", "b", "ops"])
        self.scoped = scoped
        self.upstreamOptions = upstreamOptions
        scratch = Scratch(label)
        upstream = scratch.path + "/upstream"
        if files > 0 { try Tree.generate(at: upstream + "/linux", files: files, bytes: bytes) }
        tokenFile = scratch.path + "/token"
        let token = "token-\(UUID().uuidString)"
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        headerFile = scratch.path + "/auth-header"
        try "Authorization: Bearer \(token)\n".write(toFile: headerFile, atomically: true, encoding: .utf8)
        chmod(headerFile, 0o600)
        directory = scratch.sub("mirrors.d")
        pki = tls ? try TestPKI(in: scratch.path + "/pki") : nil
        for host in ["master"] + slaveNames {
            if let pki { certificates[host] = try pki.issue(host, addresses: [lab.address(host)]) }
        }
        try """
        use chroot = no
        log file = \(scratch.path)/upstream-rsyncd.log
        [pub]
            path = \(upstream)
            read only = yes

        """.write(toFile: scratch.path + "/upstream-rsyncd.conf", atomically: true, encoding: .utf8)
        try siteYAML(project: project).write(toFile: directory + "/site.yaml", atomically: true, encoding: .utf8)
        if scoped { try scopeCredentials(operatorToken: token) }
    }

    /// Each agent's own token, and the verifiers each accepts: the operator's everywhere, each slave's on the
    /// master, the master's on each slave.
    func scopeCredentials(operatorToken: String) throws {
        var own: [String: String] = [:]
        for host in ["master"] + slaveNames {
            own[host] = "\(host)-\(UUID().uuidString)"
            try own[host]!.write(toFile: scratch.path + "/\(host).token", atomically: true, encoding: .utf8)
            chmod(scratch.path + "/\(host).token", 0o600)
        }
        let op = CredentialVerifier(role: .operator, token: operatorToken).line
        let master = CredentialVerifier(role: .master, token: own["master"]!).line
        var accepted = ["master": [op] + slaveNames.map { CredentialVerifier(role: .slave($0), token: own[$0]!).line }]
        for name in slaveNames { accepted[name] = [op, master] }
        for (host, lines) in accepted {
            try (lines.joined(separator: "\n") + "\n").write(
                toFile: scratch.path + "/\(host).accepted", atomically: true, encoding: .utf8)
            chmod(scratch.path + "/\(host).accepted", 0o600)
        }
    }

    /// The credential flags of an agent on `host`.
    func credentialFlags(_ host: String) -> [String] {
        scoped
            ? ["--token-file", scratch.path + "/\(host).token", "--accept-file", scratch.path + "/\(host).accepted"]
            : ["--token-file", tokenFile]
    }

    /// mirrors.d's one file: the agents at their hosts' addresses over https:// verified against `caFile` (the site's
    /// CA unless given), or over http:// with `insecure: true`; `scheme` and `insecure` override that for slave `a`.
    func siteYAML(
        project: String = "{ upstream: up, source: linux, interval: hourly, slaves: all }", caFile: String? = nil,
        a: (scheme: String, insecure: Bool)? = nil
    ) -> String {
        let insecure = pki == nil ? ", insecure: true" : ""
        let aAPI =
            a.map { "\($0.scheme)://\(lab.address("a")):7071\"" + ($0.insecure ? ", insecure: true" : "") } ?? apiURL(
                "a") + "\"" + insecure
        return """
            \(pki.map { "tls: { caFile: \(caFile ?? $0.caFile) }" } ?? "")
            master:
              api: \(apiURL("master"))
              tokenFile: \(tokenFile)
              root: \(scratch.path)/master-root
              rsyncd: { address: \(lab.address("master")), port: 873, slavesOnly: true }
              \(insecure.isEmpty ? "" : "insecure: true")
            intervals:
              hourly: { every: 1h }
            upstreams:
              up: { url: "rsync://\(lab.address("upstream"))/pub/"\(upstreamOptions) }
            slaves:
              a: { api: "\(aAPI), publicDir: \(scratch.path)/a-public }
              b: { api: "\(apiURL("b"))"\(insecure), publicDir: \(scratch.path)/b-public }
            projects:
              linux: \(project)

            """
    }

    /// An agent's API, as mirrors.d names it.
    func apiURL(_ host: String) -> String {
        "\(pki == nil ? "http" : "https")://\(lab.address(host)):\(host == "master" ? 7070 : 7071)"
    }

    /// The flags that serve an agent's API over TLS, with `certificate` (its own by default).
    func tlsFlags(_ host: String, certificate: TestPKI.Issued? = nil) -> [String] {
        guard let issued = certificate ?? certificates[host] else { return [] }
        return ["--tls-cert", issued.certificate, "--tls-key", issued.key]
    }

    /// curl's flags to trust the site's CA.
    var curlTrust: [String] { pki.map { ["--cacert", $0.caFile] } ?? [] }

    func publicTree(_ slave: String) -> String { scratch.path + "/\(slave)-public/linux" }

    var masterTree: String { scratch.path + "/master-root/linux" }

    /// What a transfer cut in the middle did to a served tree that held `before`: the files of `before` it changed, and
    /// the regular files it published early. Publication in place (rsync's --delay-updates) still lets three kinds of
    /// entry appear early: new directories, new symlinks, and rsync's hidden temporary file of the one file it is
    /// receiving (`.NAME.XXXXXX`), beside its `.~tmp~` holding directories; atomic publication is what removes them.
    static func unfinished(_ tree: String, before: [String: String]) throws -> (changed: [String], early: [String]) {
        let cut = try Tree.snapshot(tree).filter { !$0.key.contains(".~tmp~") }
        let changed = before.keys.filter { cut[$0] != before[$0] }.sorted()
        let early = cut.filter { entry in
            before[entry.key] == nil && entry.value != "dir" && !entry.value.hasPrefix("link -> ")
                && !(entry.key as NSString).lastPathComponent.hasPrefix(".")
        }.keys.sorted()
        return (changed, early)
    }

    /// The upstream's daemon, the master and both slaves, each on its own host; then `reconcile` from ops.
    func start() async throws {
        _ = try lab.start(
            on: "upstream",
            [
                "rsync", "--daemon", "--no-detach", "--config=\(scratch.path)/upstream-rsyncd.conf",
                "--address=\(lab.address("upstream"))", "--port=873",
            ], log: scratch.path + "/upstream.log")
        master = try lab.start(
            on: "master",
            [binary, "master", "--listen", "\(lab.address("master")):7070"] + credentialFlags("master") + [
                "--state-dir", scratch.path + "/master-state", "--log-level", "debug",
            ] + tlsFlags("master"),
            log: scratch.path + "/master.log")
        for name in slaveNames { try startSlave(name) }
        try await waitForHealth()
        let (status, output) = await lab.run(on: "ops", [binary, "reconcile", directory, "--timeout", "60"])
        try #require(status == 0, "reconcile: \(output)\n\(logs())")
    }

    /// A slave on its host; `certificate` instead of its own (an expired one, say).
    func startSlave(_ name: String, certificate: TestPKI.Issued? = nil) throws {
        slaves[name] = try lab.start(
            on: name,
            [binary, "slave", "--name", name, "--listen", "\(lab.address(name)):7071"]
                + credentialFlags(name) + [
                    "--state-dir", scratch.path + "/\(name)-state",
                    "--catch-up-interval", "2", "--log-level", "debug",
                ] + tlsFlags(name, certificate: certificate),
            log: scratch.path + "/\(name).log")
    }

    /// A site of 40 small files started, serving revision 1 of linux on both slaves: where the fault stories begin.
    static func serving(_ label: String, upstreamOptions: String = "") async throws -> LabSite {
        let site = try LabSite(label, upstreamOptions: upstreamOptions)
        try await site.start()
        try await site.wait("served revision 1 on both slaves") { site.atRevision(1, slaves: ["a", "b"])($0) }
        return site
    }

    func waitForHealth(_ hosts: [String]? = nil) async throws {
        for host in hosts ?? ["master"] + slaveNames {
            try await eventually("\(host) answers", seconds: 30) {
                await lab.run(
                    on: "ops", ["curl", "-sf", "--max-time", "2"] + curlTrust + ["\(apiURL(host))/v1/health"]
                ).status == 0
            }
        }
    }

    /// One run of linux on an agent, as `GET /v1/projects/linux/runs/{id}` gives it.
    func run(_ host: String, _ id: Int64) async throws -> RunRecord {
        try APICoding.decoder().decode(
            RunRecord.self, from: try await api(host, "GET", "/v1/projects/linux/runs/\(id)"))
    }

    /// A call to an agent's API from ops, with the token.
    func api(_ host: String, _ method: String = "GET", _ path: String, timeout: Int = 10, body: String? = nil)
        async throws -> Data
    {
        let data = body.map { ["-H", "Content-Type: application/json", "--data", $0] } ?? []
        let (status, output) = await lab.run(
            on: "ops",
            [
                "curl", "-sS", "--fail-with-body", "--max-time", "\(timeout)", "-X", method,
                "-H", "@\(headerFile)",
            ] + curlTrust + data + ["\(apiURL(host))\(path)"])
        guard status == 0 else { throw ValueError("\(method) \(path) on \(host): curl exited \(status): \(output)") }
        return Data(output.utf8)
    }

    func status() async throws -> SiteStatus {
        let body = try await api("master", "GET", "/v1/status")
        return try APICoding.decoder().decode(SiteStatus.self, from: body)
    }

    /// Waits until the master's status satisfies `condition`; the last status is in the error.
    @discardableResult
    func wait(_ what: String, seconds: Double = 60, _ condition: (SiteStatus) -> Bool) async throws -> SiteStatus {
        let deadline = Date().addingTimeInterval(seconds)
        var last: String = "none"
        while Date() < deadline {
            if let status = try? await status() {
                if condition(status) { return status }
                last = "\(status)"
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ValueError("the site never \(what) within \(Int(seconds)) s; last status: \(last)\n\(logs())")
    }

    /// The master and `slaves` at `revision` of linux, reported back as successes.
    func atRevision(_ revision: Int, slaves: [String]) -> (SiteStatus) -> Bool {
        { status in
            guard let linux = status.projects["linux"], linux.revision == revision else { return false }
            return slaves.allSatisfy { linux.slaves[$0]?.revision == revision && linux.slaves[$0]?.result == .success }
        }
    }

    /// The last lines of every agent's log, for a failure's message.
    func logs(lines: Int = 15) -> String {
        (["master"] + slaveNames).map { name in
            let text = (try? String(contentsOfFile: scratch.path + "/\(name).log", encoding: .utf8)) ?? ""
            return "--- \(name):\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
