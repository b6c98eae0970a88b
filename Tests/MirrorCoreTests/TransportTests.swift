import Foundation
import Testing
@testable import MirrorCore

/// The rules that keep the bearer token inside TLS across a network: `tls:` for the site and per agent, `insecure`,
/// and what the reconciler hands the agents so that they reach each other the same way.
@Suite("TLS and plain HTTP in mirrors.d")
struct TransportTests {
    static func load(_ text: String) throws(ConfigError) -> DesiredState {
        try DesiredStateLoader().load(files: [("site.yaml", Array(text.utf8))], directory: "mirrors.d").state
    }

    static func errors(_ text: String) -> [Diagnostic] {
        do { _ = try load(text) } catch { return error.errors }
        return []
    }

    static let rest = """
        intervals: { hourly: { every: 1h } }
        upstreams: { up: { url: /srv/up } }
        projects: { p: { upstream: up, interval: hourly } }

        """

    @Test("loopback names and addresses are told from the rest by their spelling")
    func loopback() {
        for host in [
            "localhost", "LOCALHOST", "mirror.localhost", "127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "0::1",
        ] {
            #expect(AgentURL.isLoopback(host), "\(host)")
        }
        for host in [
            "10.0.0.1", "128.0.0.1", "127.0.0", "127.0.0.1.example.org", "localhost.example.org", "::", "::2", "1::1",
            "2001:db8::1", "example.org",
        ] {
            #expect(!AgentURL.isLoopback(host), "\(host)")
        }
        #expect(AgentURL.isPlainHTTPOffHost("http://10.0.0.1:7071"))
        #expect(AgentURL.isPlainHTTPOffHost("http://ftp1.example.org:7071"))
        #expect(!AgentURL.isPlainHTTPOffHost("http://[::1]:7071"))
        #expect(!AgentURL.isPlainHTTPOffHost("http://127.0.0.1:7071"))
        #expect(!AgentURL.isPlainHTTPOffHost("https://ftp1.example.org:7071"))
    }

    @Test("http:// to a host that is not loopback is an error at the api, naming why and the two ways out")
    func plainHTTPRefused() throws {
        let text = """
            master: { api: "http://127.0.0.1:7070", tokenFile: /etc/t, root: /srv/m }
            slaves:
              ftp1: { api: "http://10.1.2.3:7071", publicDir: /srv/ftp }
            """ + "\n" + Self.rest
        let errors = Self.errors(text)
        let error = try #require(errors.first)
        #expect(errors.count == 1, "\(errors)")
        #expect(error.code == "plain-http")
        #expect((error.line, error.column) == (3, 16))
        #expect(
            error.message.contains("slave 'ftp1'") && error.message.contains("http://10.1.2.3:7071"), "\(error.message)"
        )
        #expect(
            error.message.contains("in clear") && error.message.contains("https://")
                && error.message.contains("insecure: true"), "\(error.message)")
        // The master too.
        let master = Self.errors(
            "master: { api: \"http://master.example.org:7070\", tokenFile: /etc/t, root: /srv/m }\n" + Self.rest)
        #expect(master.map(\.code) == ["plain-http"] && master.first?.message.hasPrefix("master:") == true, "\(master)")
    }

    @Test("insecure: true lets an http:// api through, and the agents that call it are told so")
    func insecureAllows() throws {
        let state = try Self.load(
            """
            master: { api: "http://10.1.2.2:7070", tokenFile: /etc/t, root: /srv/m, insecure: true }
            slaves:
              ftp1: { api: "http://10.1.2.3:7071", publicDir: /srv/ftp, insecure: true }
              ftp2: { api: "http://127.0.0.1:7072", publicDir: /srv/ftp2 }
            """ + "\n" + Self.rest)
        let agents = Dictionary(uniqueKeysWithValues: DesiredAgent.all(from: state).map { ($0.name, $0) })
        #expect(agents["master"]?.transport == AgentTransport(insecure: true))
        #expect(agents["ftp1"]?.transport == AgentTransport(insecure: true))
        #expect(agents["ftp2"]?.transport == AgentTransport())
        // The master reaches ftp1 in clear, ftp2 on loopback needs nothing; each slave reaches the master in clear.
        #expect(agents["master"]?.settings.peers == ["http://10.1.2.3:7071": AgentTransport(insecure: true)])
        #expect(agents["ftp1"]?.settings.peers == ["http://10.1.2.2:7070": AgentTransport(insecure: true)])
        #expect(agents["ftp2"]?.settings.transport(to: "http://10.1.2.2:7070") == AgentTransport(insecure: true))
    }

    @Test(
        "the site's tls is every agent's CA unless an agent names its own; https:// without one means the system's trust store"
    )
    func caFiles() throws {
        let state = try Self.load(
            """
            tls: { caFile: /etc/mirrorsync/ca.pem }
            master: { api: "https://master.example.org:7070", tokenFile: /etc/t, root: /srv/m }
            slaves:
              ftp1: { api: "https://ftp1.example.org:7071", publicDir: /srv/ftp }
              ftp2: { api: "https://ftp2.example.org:7071", publicDir: /srv/ftp, tls: { caFile: /etc/partner/ca.pem } }
            """ + "\n" + Self.rest)
        let agents = Dictionary(uniqueKeysWithValues: DesiredAgent.all(from: state).map { ($0.name, $0) })
        #expect(agents["master"]?.transport.caFile == "/etc/mirrorsync/ca.pem")
        #expect(agents["ftp1"]?.transport.caFile == "/etc/mirrorsync/ca.pem")
        #expect(agents["ftp2"]?.transport.caFile == "/etc/partner/ca.pem")
        #expect(
            agents["master"]?.settings.peers == [
                "https://ftp1.example.org:7071": AgentTransport(caFile: "/etc/mirrorsync/ca.pem"),
                "https://ftp2.example.org:7071": AgentTransport(caFile: "/etc/partner/ca.pem"),
            ])
        #expect(
            agents["ftp2"]?.settings.peers == [
                "https://master.example.org:7070": AgentTransport(caFile: "/etc/mirrorsync/ca.pem")
            ])

        let system = try Self.load(
            "master: { api: \"https://master.example.org:7070\", tokenFile: /etc/t, root: /srv/m }\n" + Self.rest)
        #expect(DesiredAgent.all(from: system).first?.transport == AgentTransport())
        #expect(DesiredAgent.all(from: system).first?.settings.peers == [:])
    }

    @Test("insecure with https://, tls with http://, a second site tls: each an error where it is written")
    func conflicts() {
        let first = """
            tls: { caFile: /etc/ca.pem }
            master: { api: "https://m.example.org:7070", tokenFile: /etc/t, root: /srv/m, insecure: true }
            slaves:
              ftp1: { api: "http://127.0.0.1:7071", publicDir: /srv/ftp, tls: { caFile: /etc/ca.pem } }
            """ + "\n" + Self.rest
        var errors: [Diagnostic] = []
        do {
            _ = try DesiredStateLoader().load(
                files: [("a.yaml", Array(first.utf8)), ("b.yaml", Array("tls: { caFile: /etc/other.pem }\n".utf8))],
                directory: "mirrors.d")
        } catch { errors = error.errors }
        let found = errors.map { "\($0.file):\($0.line ?? 0):\($0.column ?? 0) \($0.code)" }
        #expect(
            found.sorted() == [
                "a.yaml:2:79 conflicting-keys", "a.yaml:4:62 conflicting-keys", "b.yaml:1:1 duplicate-name",
            ], "\(found)")
        #expect(
            errors.contains { $0.message.contains("the site's tls is defined twice: here and at a.yaml:1:1") },
            "\(errors)")
    }

    @Test("settings carry the peers' transports, are read back the same, and without any keep the JSON they had")
    func settingsRoundTrip() throws {
        let settings = AgentSettings(
            root: "/srv", master: "https://m.example.org:7070",
            peers: ["https://m.example.org:7070": AgentTransport(caFile: "/etc/ca.pem")])
        let body = try APICoding.encoder().encode(settings)
        #expect(try AgentRequest.settings(Array(body)) == settings)
        let plain = AgentSettings(root: "/srv")
        #expect(!String(decoding: try APICoding.encoder().encode(plain), as: UTF8.self).contains("peers"))
        // A peer's transport is checked as mirrors.d's would be.
        let bad = #"{"root": "/srv", "peers": {"https://m.example.org:7070": {"caFile": "ca.pem", "verify": false}}}"#
        #expect(throws: ConfigError.self) { try AgentRequest.settings(Array(bad.utf8)) }
    }
}
