import Foundation
import Testing

@testable import MirrorCore

/// Tiers (`slaves: ftp3: { from: ftp1 }`): what each agent of a chain is told, and the settings a site without tiers
/// keeps. The loader's errors are fixtures (`invalid/tier-*.yaml`).
@Suite("Tiers: a slave that pulls from another")
struct TierTests {
    static func load(_ text: String) throws(ConfigError) -> DesiredState {
        try DesiredStateLoader().load(files: [("site.yaml", Array(text.utf8))], directory: "mirrors.d").state
    }

    static let site = """
        master: { api: "http://127.0.0.1:7070", tokenFile: /etc/t, root: /srv/m, rsyncd: { port: 8730 } }
        intervals: { hourly: { every: 1h } }
        upstreams: { up: { url: /srv/up } }
        slaves:
          ftp1: { api: "http://127.0.0.1:7071", publicDir: /srv/ftp1, rsyncd: { address: 127.0.0.1, port: 8731 } }
          ftp2: { api: "http://127.0.0.1:7072", publicDir: /srv/ftp2, from: ftp1 }
          ftp3: { api: "http://127.0.0.1:7073", publicDir: /srv/ftp3, from: ftp2 }
          www: { api: "http://127.0.0.1:7074", publicDir: /srv/www }
        projects:
          debian: { upstream: up, interval: hourly, slaves: all }
          gnu: { upstream: up, interval: hourly, slaves: [ftp1, ftp2, www] }

        """

    @Test("each hop pulls from the one above, triggers the one below and relays for every slave under it")
    func chain() throws {
        let state = try Self.load(Self.site)
        #expect(state.chain(of: "ftp3") == ["master", "ftp1", "ftp2"])
        #expect(state.chain(of: "ftp1") == ["master"])
        let agents = Dictionary(uniqueKeysWithValues: DesiredAgent.all(from: state).map { ($0.name, $0) })
        let master = try #require(agents["master"])
        // The master triggers ftp1 and www; ftp2 and ftp3 are in tiers, their reports relayed.
        #expect(master.settings.tiers == ["ftp2": "ftp1", "ftp3": "ftp2"])
        #expect(master.settings.directSlaves.keys.sorted() == ["ftp1", "www"])
        #expect(master.settings.relays("ftp1", for: "ftp3"))
        #expect(!master.settings.relays("www", for: "ftp3"))
        #expect(!master.settings.relays("ftp3", for: "ftp1"))
        #expect(master.spec("debian")?.slaves == ["ftp1", "ftp2", "ftp3", "www"])

        let ftp1 = try #require(agents["ftp1"])
        #expect(ftp1.settings.master == "http://127.0.0.1:7070")
        #expect(ftp1.settings.rsyncd == RsyncdSpec(address: "127.0.0.1", port: 8731))
        #expect(ftp1.settings.slaves == ["ftp2": "http://127.0.0.1:7072", "ftp3": "http://127.0.0.1:7073"])
        #expect(ftp1.settings.tiers == ["ftp3": "ftp2"] && ftp1.settings.chain == [])
        #expect(ftp1.spec("debian")?.upstream.url == .rsync(user: nil, host: "127.0.0.1", port: 8730, path: "debian"))
        #expect(ftp1.spec("debian")?.slaves == ["ftp2"] && ftp1.spec("gnu")?.slaves == ["ftp2"])

        let ftp2 = try #require(agents["ftp2"])
        #expect(ftp2.settings.master == "http://127.0.0.1:7071" && ftp2.settings.chain == ["master", "ftp1"])
        #expect(ftp2.settings.rsyncd == RsyncdSpec() && ftp2.settings.slaves == ["ftp3": "http://127.0.0.1:7073"])
        #expect(ftp2.spec("debian")?.upstream.url == .rsync(user: nil, host: "127.0.0.1", port: 8731, path: "debian"))
        #expect(ftp2.spec("debian")?.slaves == ["ftp3"] && ftp2.spec("gnu")?.slaves == [])
        #expect(ftp2.summary("debian") == "from ftp1 (master → ftp1 → ftp2)")

        let ftp3 = try #require(agents["ftp3"])
        #expect(ftp3.order == ["debian"] && ftp3.settings.rsyncd == nil && ftp3.settings.slaves.isEmpty)
        #expect(ftp3.settings.master == "http://127.0.0.1:7072" && ftp3.settings.chain == ["master", "ftp1", "ftp2"])
        #expect(ftp3.spec("debian")?.upstream.url == .rsync(user: nil, host: "127.0.0.1", port: nil, path: "debian"))

        // A slave outside the tiers is told what it always was, and shares its pulls' specs with its like.
        let www = try #require(agents["www"])
        #expect(www.settings == AgentSettings(root: "/srv/www", master: "http://127.0.0.1:7070"))
        #expect(www.spec("debian")?.slaves == [] && www.summary("debian") == "from master")
    }

    @Test("a site without tiers keeps its settings and generations: the new keys are left out when empty")
    func noTiersNoChange() throws {
        let flat = try Self.load(
            Self.site.replacingOccurrences(of: ", from: ftp1", with: "").replacingOccurrences(
                of: ", from: ftp2", with: ""))
        let master = try #require(DesiredAgent.all(from: flat).first)
        #expect(master.settings.tiers.isEmpty)
        let json = String(decoding: try APICoding.encoder().encode(master.settings), as: UTF8.self)
        #expect(!json.contains("tiers") && !json.contains("chain"), "\(json)")
        // Settings read back through the agent's checks carry the tiers and the chain.
        let ftp3 = try #require(DesiredAgent.all(from: try Self.load(Self.site)).first { $0.name == "ftp3" })
        let body = try APICoding.encoder().encode(ftp3.settings)
        #expect(try AgentRequest.settings(Array(body)) == ftp3.settings)
    }
}
