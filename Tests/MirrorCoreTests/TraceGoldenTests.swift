import Foundation
import Testing
@testable import MirrorCore

/// The trace's text against ftpsync's (Fixtures/traces/ftpsync-two-stage-slave, written from ftpsync's source), and a
/// host's `trace:` in mirrors.d, through the settings an agent receives.
@Suite("Debian traces as ftpsync writes them (pure)")
struct TraceGoldenTests {
    static let golden = Corpus.root + "/traces/ftpsync-two-stage-slave"

    static let info = TraceSettings(
        host: "ftp1.example.org", maintainer: "Mirror admins <mirror@example.org>",
        sponsor: "Example University <https://example.org>", country: "DE", location: "Berlin", throughput: "10Gb")

    @Test("the same inputs give ftpsync's text byte for byte, less its 'Used ftpsync version' line and its Creator")
    func goldenText() throws {
        let started = Date(timeIntervalSince1970: 1_796_634_000)  // Mon Dec  7 09:00:00 UTC 2026
        let record = DebianTrace.Record(
            started: started, ended: started.addingTimeInterval(401), archiveSerial: "2026120701",
            creator: "mirrorsync 0.1.0", host: "ftp1.example.org", upstream: "127.0.0.1", bytesReceived: 104_857_600,
            passSeconds: [355, 46], info: Self.info, trigger: DebianTrace.trigger(.schedule),
            architectures: DebianTrace.architectures([
                ("binary-i386", "Packages.xz"), ("binary-amd64", "Packages.gz"), ("binary-amd64", "Packages.xz"),
                ("source", "Sources.xz"), ("binary-all", "Packages.xz"), ("binary-amd64", "Release"),
                ("source", "Sources"), ("by-hash", "Packages.xz"),
            ]))
        let ftpsync = try String(contentsOfFile: Self.golden, encoding: .utf8)
        let expected = ftpsync.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("Used ftpsync version: ") }
            .map { $0 == "Creator: ftpsync 20180513" ? "Creator: mirrorsync 0.1.0" : String($0) }
            .joined(separator: "\n")
        #expect(record.text == expected)
    }

    @Test("ftpsync's rules on what is left out: no serial without trace/master, no words unset, no bytes, no rate")
    func leftOut() {
        let at = Date(timeIntervalSince1970: 1_772_586_000)  // Wed Mar  4 01:00:00 UTC 2026
        let record = DebianTrace.Record(
            started: at, ended: at, archiveSerial: nil, creator: "mirrorsync", host: "m", upstream: "u",
            bytesReceived: 0, passSeconds: [0], architecturesConfiguration: nil)
        #expect(
            record.text == """
                Wed Mar  4 01:00:00 UTC 2026
                Date: Wed, 04 Mar 2026 01:00:00 +0000
                Date-Started: Wed, 04 Mar 2026 01:00:00 +0000
                Creator: mirrorsync
                Running on host: m
                Upstream-mirror: u
                Rsync-Transport: undefined
                Total time spent in stage1 rsync: 0
                Total time spent in stage2 rsync: 0
                Total time spent in rsync: 0

                """)
    }

    @Test("_traces, oldest first as ls -1rt lists them; _hierarchy, the upstream's lines then this host's")
    func listAndHierarchy() {
        let t = Date(timeIntervalSince1970: 1_796_634_000)
        let files: [(name: String, modified: Date)] = [
            ("ftp1.example.org", t.addingTimeInterval(60)), ("master", t), ("_traces", t), ("_hierarchy", t),
            ("ftp1.example.org.new", t), (".hidden", t), ("ftp0.example.org", t.addingTimeInterval(60)),
            ("ftp1.example.org-stage1", t.addingTimeInterval(30)),
        ]
        #expect(
            DebianTrace.list(of: files)
                == "master\nftp1.example.org-stage1\nftp1.example.org\nftp0.example.org\n")
        let line = DebianTrace.hierarchyLine(
            traceFile: "ftp1.example.org", mirrorName: "ftp1.example.org", host: "box7.example.org",
            upstream: "master.example.org")
        #expect(line == "ftp1.example.org ftp1.example.org box7.example.org master.example.org\n")
        #expect(DebianTrace.hierarchy(upstream: nil, line: line) == line)
        #expect(DebianTrace.hierarchy(upstream: "master m m up", line: line) == "master m m up\n" + line)
        #expect(DebianTrace.hierarchy(upstream: "a\n", line: line) == "a\n" + line)
        #expect(
            DebianTrace.protectedPatterns(host: "ftp1") == [
                "/Archive-Update-in-Progress-*", "/Archive-Update-Required-*", "/project/trace/ftp1",
                "/project/trace/ftp1-stage1", "/project/trace/_hierarchy", "/project/trace/_traces",
            ])
        #expect(
            DebianTrace.field("Total time spent in stage1 rsync", in: "date\nTotal time spent in stage1 rsync: 12\n")
                == "12")
    }

    @Test("a value is one line of printable text: no line break of any kind, no control character, no edge space")
    func valueRules() throws {
        for bad in [
            "a\nb", "a\rb", "a\tb", "a\u{85}b", "a\u{2028}b", "a\u{2029}b", "a\u{7f}b", "", " a", "a ",
            String(repeating: "x", count: 257),
        ] {
            #expect(throws: ValueError.self, "\(bad.debugDescription)") { try TraceValue.check(bad) }
            #expect(
                bad.range(of: TraceValue.pattern, options: .regularExpression) == nil, "\(bad.debugDescription)")
        }
        for good in ["Mirror admins <mirror@example.org>", "Zürich, 東京", "10Gb", String(repeating: "x", count: 256)] {
            #expect(try TraceValue.check(good) == good)
            #expect(good.range(of: TraceValue.pattern, options: .regularExpression) != nil, "\(good)")
        }
        #expect(throws: ValueError.self) { try TraceValue.host("ftp1.example.org/x") }
        #expect(throws: ValueError.self) { try TraceValue.host("::1") }
        #expect(try TraceValue.host("ftp1.example.org") == "ftp1.example.org")
        #expect(throws: ValueError.self) { try TraceValue.country("de") }
        #expect(throws: ValueError.self) { try TraceValue.country("DEU") }
        #expect(try TraceValue.country("DE") == "DE")
    }

    @Test("trace: on the master and a slave reaches each agent's settings, and reads back as a PUT carries it")
    func settings() throws {
        let text = """
            master:
              api: "http://127.0.0.1:7070"
              tokenFile: /etc/t
              root: /srv/m
              trace: { host: master.example.org, country: DE, upstreamWait: 5m, upstreamRetries: 1 }
            slaves:
              ftp1:
                api: "http://127.0.0.1:7071"
                publicDir: /srv/ftp
                trace: { host: ftp1.example.org, maintainer: "Mirror admins <mirror@example.org>", throughput: 10Gb }
              ftp2: { api: "http://127.0.0.1:7072", publicDir: /srv/ftp }
            intervals: { hourly: { every: 1h } }
            upstreams: { up: { url: /srv/up } }
            projects: { p: { upstream: up, interval: hourly } }
            """
        let state = try DesiredStateLoader().load(files: [("site.yaml", Array(text.utf8))], directory: "mirrors.d")
            .state
        let agents = Dictionary(uniqueKeysWithValues: DesiredAgent.all(from: state).map { ($0.name, $0.settings) })
        let master = try #require(agents["master"]?.trace)
        #expect(master.host == "master.example.org" && master.country == "DE")
        #expect(master.upstreamWait == TimeSpan(seconds: 300) && master.upstreamRetries == 1)
        let ftp1 = try #require(agents["ftp1"])
        #expect(ftp1.trace?.maintainer == "Mirror admins <mirror@example.org>" && ftp1.trace?.throughput == "10Gb")
        #expect(agents["ftp2"]?.trace == nil)
        // What the reconciler sends is what the agent reads back, with the same checks.
        let json = try JSONEncoder().encode(ftp1)
        #expect(try AgentRequest.settings(Array(json)) == ftp1)
        // Settings without trace: say nothing of it, so their JSON and generation are as before.
        let plain = try #require(agents["ftp2"])
        #expect(!String(decoding: try JSONEncoder().encode(plain), as: UTF8.self).contains("trace"))
        // A PUT that smuggles a line into a value is refused like mirrors.d.
        let bad = #"{"root": "/srv/ftp", "trace": {"maintainer": "x\nArchive serial: 1"}}"#
        #expect(throws: ConfigError.self) { try AgentRequest.settings(Array(bad.utf8)) }
    }
}
