import Foundation
import Synchronization
import Testing
@testable import MirrorCore

@Suite("Agent request bodies")
struct AgentRequestTests {
    static let spec = AgentProjectSpec(
        upstream: UpstreamSpec(
            url: try! UpstreamLocation.parse("rsync://mirror@127.0.0.1:8873/pub/"),
            passwordFile: "/etc/mirrorsync/up.secret", bandwidthLimit: ByteSize(bytes: 1 << 20)),
        source: "debian", path: "debian", interval: .every(TimeSpan(seconds: 3600), jitter: TimeSpan(seconds: 60)),
        exclude: ["*.tmp"], twoStage: ["Packages*"], rsyncOptions: ["--no-owner"], timeout: TimeSpan(seconds: 7200),
        maxDelete: .percent(2.5), slaves: ["ftp1"])

    func body(_ value: some Encodable) throws -> [UInt8] {
        Array(try APICoding.encoder().encode(value))
    }

    @Test("a spec encoded as JSON reads back equal, through the loader's own reader and checks")
    func roundTrip() throws {
        let read = try AgentRequest.project(try body(Self.spec), name: "debian")
        #expect(read == Self.spec)
        #expect(Generation.of(read) == Generation.of(Self.spec))
        let cron = AgentProjectSpec(
            upstream: UpstreamSpec(url: .local(path: "/srv/up")), path: "x",
            interval: .cron(try CronExpression.parse("@daily"), timezone: "Europe/Berlin"))
        #expect(try AgentRequest.project(try body(cron), name: "x") == cron)
        let settings = AgentSettings(
            root: "/srv/mirror", maxConcurrentSyncs: 2, publicStatus: true,
            rsyncd: RsyncdSpec(address: "127.0.0.1", port: 8730))
        #expect(try AgentRequest.settings(try body(settings)) == settings)
    }

    @Test("a spec's fields are shared between copies until one is written: the other keeps its own")
    func copiesAreValues() throws {
        let original = Self.spec
        var copy = original
        #expect(copy == original)
        copy.upstream.passwordFile = nil
        copy.interval.every = TimeSpan(seconds: 60)
        copy.tree.exclude.append("*.iso")
        copy.twoStage = []
        copy.slaves.append("ftp2")
        #expect(
            original.upstream.passwordFile == "/etc/mirrorsync/up.secret"
                && original.interval.every == TimeSpan(seconds: 3600))
        #expect(original.exclude == ["*.tmp"] && original.twoStage == ["Packages*"] && original.slaves == ["ftp1"])
        #expect(
            copy.upstream.passwordFile == nil && copy.exclude == ["*.tmp", "*.iso"] && copy.slaves == ["ftp1", "ftp2"])
        #expect(copy != original && Generation.of(copy) != Generation.of(original))
        #expect(Set([original, copy, Self.spec]).count == 2)
        // Written side by side on every core: each copy stays its own.
        let written = Mutex([AgentProjectSpec]())
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            var mine = original
            mine.path = "debian-\(i)"
            written.withLock { $0.append(mine) }
        }
        #expect(Set(written.withLock { $0 }.map(\.path)).count == 8 && original.path == "debian")
    }

    @Test("a project's generation and a projects digest are pinned: changing how they hash changes every agent's plan")
    func generationPinned() throws {
        // A new value here means every project of every site shows as an update after the upgrade: say so under
        // "Upgrading" in docs/operations.md, or keep the hash.
        #expect(Generation.of(Self.spec) == "59330d730b911846")
        #expect(
            ProjectsDigest.of([
                (name: "debian", generation: Generation.of(Self.spec), managed: true),
                (name: "linux", generation: "0123456789abcdef", managed: false),
            ]) == "4db292053b7ee241")
    }

    @Test(
        "each desired agent's digest, fed from its table's kept words, is the one an agent computes from its projects")
    func desiredDigestsMatchAgents() throws {
        var state = try ProjectFieldTableTests.base()
        // Projects served by every slave, by one, and by none, with names of every length around a word's 8 bytes.
        for (i, name) in ["a", "abcdefg", "abcdefgh", "abcdefghi", "n-\u{e9}t\u{e9}-16-bytes-x", "z"].enumerated() {
            var project = state.projects["linux"]!
            project.path = "p\(i)"
            project.slaves = i % 3 == 0 ? .all : i % 3 == 1 ? .named(["ftp1"]) : .named([])
            state.projects[name] = project
        }
        let agents = DesiredAgent.all(from: state)
        #expect(agents.count > 1)
        for agent in agents {
            let projects = agent.projects
            #expect(!projects.isEmpty, "\(agent.name)")
            let computed = ProjectsDigest.of(
                projects.keys.sorted().map { (name: $0, generation: Generation.of(projects[$0]!), managed: true) })
            #expect(agent.projectsDigest == computed, "\(agent.name)")
        }
    }

    @Test(
        "a new optional field (a row with hashing: whenSet) leaves the pinned generation as it was while it is left out, and changes it once set"
    )
    func newFieldKeepsGenerations() throws {
        // A hypothetical per-project bandwidth limit, as a new field would be added: its row at the end of the table
        // (its value kept where `cname` is, so that the test needs no new property).
        let limit = ProjectField.treeText("bandwidthLimit", { $0.cname }, { $0.cname = $1 }, check: { $0 })
        let added = ProjectField(
            "bandwidthLimit", limit.value, text: limit.text, scope: .everyHost, hashing: .whenSet,
            decoding: limit.decoding)
        let table = AgentProjectSpec.fields + [added]
        #expect(Generation.of(Self.spec, fields: table) == "59330d730b911846")
        #expect(Generation.of(Self.spec, fields: table) == Generation.of(Self.spec))
        var set = Self.spec
        set.cname = "20MiB"
        #expect(Generation.of(set, fields: table) != Generation.of(set, fields: AgentProjectSpec.fields))
        // A field appended as `always` instead would move every generation: what `whenSet` is for.
        let always = ProjectField(
            "bandwidthLimit", limit.value, text: limit.text, scope: .everyHost, decoding: limit.decoding)
        #expect(Generation.of(Self.spec, fields: AgentProjectSpec.fields + [always]) != "59330d730b911846")
    }

    @Test("generations ignore key order and formatting, and change with the spec")
    func generations() throws {
        var other = Self.spec
        #expect(Generation.of(other) == Generation.of(Self.spec))
        other.exclude.append("*.part")
        #expect(Generation.of(other) != Generation.of(Self.spec))
        let reordered =
            #"{"path":"debian","interval":{"jitter":"1m","every":"60m"},"source":"debian/","upstream":{"url":"rsync://mirror@127.0.0.1:8873/pub","passwordFile":"/etc/mirrorsync/up.secret","bandwidthLimit":"1MiB","timeout":"2h","ioTimeout":"10m"},"exclude":["*.tmp"],"twoStage":["Packages*"],"rsyncOptions":["--no-owner"],"timeout":"2h","maxDelete":"2.5%","slaves":["ftp1"]}"#
        var expected = Self.spec
        expected.upstream.timeout = TimeSpan(seconds: 7200)
        #expect(try AgentRequest.project(Array(reordered.utf8), name: "debian") == expected)
    }

    @Test(
        "hostile or broken bodies are refused with the field and place",
        arguments: [
            (#"{"upstream":{"url":"/srv/up"},"path":"../etc","interval":{"every":"1h"}}"#, "path", "'..' segment"),
            (
                #"{"upstream":{"url":"/srv/up"},"path":"x","interval":{"every":"1h"},"exclude":["+ /etc"]}"#, "exclude",
                "filter rule"
            ),
            (
                #"{"upstream":{"url":"/srv/up"},"path":"x","interval":{"every":"1h"},"rsyncOptions":["--rsh=sh"]}"#,
                "rsyncOptions", "not allowed"
            ),
            (
                #"{"upstream":{"url":"/srv/up"},"path":"x","interval":{"every":"1h"},"owner":"root"}"#, "owner",
                "unknown key"
            ),
            (
                #"{"upstream":{"url":"rsync://u:pw@h/m/"},"path":"x","interval":{"every":"1h"}}"#, "url",
                "holds a password"
            ),
            (
                #"{"upstream":{"url":"/srv/up","password":"x"},"path":"x","interval":{"every":"1h"}}"#, "password",
                "secrets never go inline"
            ),
            (#"{"path":"x","interval":{"every":"1h"}}"#, "upstream", "has no 'upstream'"),
            (
                #"{"upstream":{"url":"/srv/up"},"path":"x","interval":{"every":"1h"},"suspended":"yes"}"#, "suspended",
                "true or false"
            ),
        ])
    func refused(_ text: String, _ field: String, _ words: String) {
        #expect {
            try AgentRequest.project(Array(text.utf8), name: "x")
        } throws: { error in
            let d = (error as! ConfigError).errors
            return d.contains {
                $0.field == field && $0.message.contains(words) && $0.line == 1 && $0.file == "request body"
            }
        }
    }

    @Test("malformed JSON, a list, an empty body and a bad name are refused")
    func malformed() {
        for text in [#"{"path": "#, "[1, 2]", "", #"{"a":1}{"b":2}"#] {
            #expect(throws: ConfigError.self, "\(text)") { try AgentRequest.project(Array(text.utf8), name: "x") }
        }
        #expect(throws: ConfigError.self) { try AgentRequest.project(try body(Self.spec), name: "../x") }
        #expect(throws: ConfigError.self) { try AgentRequest.settings(Array(#"{"root":"srv"}"#.utf8)) }
    }

    @Test(
        "a slave's pull names the site's credential; mirrors.d cannot, and a body may not mix it with a user or a passwordFile"
    )
    func siteCredential() throws {
        let pull = AgentProjectSpec(
            upstream: UpstreamSpec(url: .rsync(user: nil, host: "m", port: 8873, path: "p"), credential: .site),
            path: "p",
            interval: .every(TimeSpan(seconds: 3600)))
        #expect(try AgentRequest.project(try body(pull), name: "p") == pull)
        let withUser =
            #"{"path":"p","interval":{"every":"1h"},"upstream":{"url":"rsync://u@m/p/","credential":"site"}}"#
        #expect(throws: ConfigError.self) { try AgentRequest.project(Array(withUser.utf8), name: "p") }
        let withFile =
            #"{"path":"p","interval":{"every":"1h"},"upstream":{"url":"rsync://m/p/","credential":"site","passwordFile":"/etc/s"}}"#
        #expect(throws: ConfigError.self) { try AgentRequest.project(Array(withFile.utf8), name: "p") }
        let other = #"{"path":"p","interval":{"every":"1h"},"upstream":{"url":"rsync://m/p/","credential":"mine"}}"#
        #expect(throws: ConfigError.self) { try AgentRequest.project(Array(other.utf8), name: "p") }
        #expect(
            !SpecDecoder.upstreamKeys.contains("credential") && SpecDecoder.agentUpstreamKeys.contains("credential"))
    }
}
