import Foundation
import Testing
import MirrorCore
@testable import MirrorPresentation

/// mirrorz.json (data format 1.7, README of github.com/mirrorz-org/mirrorz at 96050b6) and tunasync's `/jobs`
/// (`WebMirrorStatus`, github.com/tuna/tunasync internal/status_web.go at 6be7eeb), field by field and as golden
/// documents.
@Suite("The mirror world's formats")
struct MirrorFormatsTests {
    static func date(_ unix: Int64, milliseconds: Int = 0) -> Date {
        Date(timeIntervalSince1970: TimeInterval(unix) + TimeInterval(milliseconds) / 1000)
    }

    @Test(
        "sizes read as rsync --stats -h prints its Total file size (each figure taken from rsync 3.5.0 here)",
        arguments: [
            (0, "0"), (999, "999"), (1000, "1.00K"), (1005, "1.00K"), (99_999, "100.00K"), (999_999, "1000.00K"),
            (1_500_000, "1.50M"), (999_994_999, "999.99M"), (1_234_567_890, "1.23G"), (1_500_000_000_000, "1.50T"),
        ] as [(Int64, String)])
    func sizes(_ bytes: Int64, _ text: String) {
        #expect(SizeText.rsync(bytes) == text)
    }

    @Test(
        "sizes as people read them, everywhere else: IEC units, three significant digits",
        arguments: [
            (0, "0 B"), (512, "512 B"), (1023, "1023 B"), (1024, "1.00 KiB"), (8602, "8.40 KiB"),
            (10_235, "10.0 KiB"), (921_600, "900 KiB"), (1_048_100, "1.00 MiB"), (1_635_778, "1.56 MiB"),
            (16_750_372_454, "15.6 GiB"), (1_500_000_000_000, "1.36 TiB"), (Int64.max, "8.00 EiB"),
        ] as [(Int64, String)])
    func humanSizes(_ bytes: Int64, _ text: String) {
        #expect(SizeText.human(bytes) == text)
    }

    @Test("tunasync's time strings: Go's layout 2006-01-02 15:04:05 -0700 in the agent's zone, seconds rounded down")
    func timeStrings() throws {
        let t = Self.date(1_719_240_002, milliseconds: 999)  // 2024-06-24 14:40:02.999 UTC
        #expect(
            FormatTime.tunasync(t, timeZone: try #require(TimeZone(identifier: "UTC"))) == "2024-06-24 14:40:02 +0000")
        #expect(
            FormatTime.tunasync(t, timeZone: try #require(TimeZone(identifier: "Asia/Shanghai")))
                == "2024-06-24 22:40:02 +0800")
        #expect(
            FormatTime.tunasync(t, timeZone: try #require(TimeZone(identifier: "Asia/Kolkata")))
                == "2024-06-24 20:10:02 +0530")
        #expect(
            FormatTime.tunasync(t, timeZone: try #require(TimeZone(secondsFromGMT: -7 * 3600)))
                == "2024-06-24 07:40:02 -0700")
        #expect(
            FormatTime.tunasync(Self.date(0), timeZone: try #require(TimeZone(identifier: "America/New_York")))
                == "1969-12-31 19:00:00 -0500")
        #expect(FormatTime.tunasyncStamp(t) == 1_719_240_002)
        // A time that never was: Go's zero time, as tunasync's manager writes it.
        #expect(FormatTime.tunasync(nil, timeZone: .current) == "0001-01-01 00:00:00 +0000")
        #expect(FormatTime.tunasyncStamp(nil) == -62_135_596_800)
    }

    /// A status at fixed times: started 1719240002, last success ended 1719150000, next run 1719243919, added 1719000000;
    /// `.retrying`: its attempt failed at 1719240100 and the next starts at 1719240160.
    static func status(
        _ activity: ProjectStatus.Activity, success: Bool = true, failedAfter: Bool = false, next: Bool = true,
        ran: Bool = true
    ) -> ProjectStatus {
        let successAt = success ? date(1_719_150_000) : nil
        let failedAt = failedAfter ? date(1_719_160_000) : nil
        let retry =
            activity == .retrying
            ? RetryWait(
                at: date(1_719_240_160), failedAt: date(1_719_240_100), attempts: 1, reason: "rsync-exit-10",
                message: "rsync exited with 10 (error in socket IO)") : nil
        return ProjectStatus(
            activity: activity, revision: success ? 3 : 0,
            lastRun: ran
                ? RunRecord(id: 9, project: "p", trigger: .schedule, state: .finished, queuedAt: date(0)) : nil,
            lastSuccessAt: successAt, nextRunAt: next ? date(1_719_243_919) : nil,
            lastStartedAt: date(1_719_240_002), lastEndedAt: failedAt ?? successAt,
            sizeBytes: success ? 1_500_000_000_000 : nil, addedAt: date(1_719_000_000), retry: retry)
    }

    @Test(
        "mirrorz's status: one main token, then the auxiliary ones, each a letter and Unix seconds",
        arguments: [
            (status(.idle), "S1719150000X1719243919"),
            (status(.queued), "S1719150000X1719243919"),
            (status(.running, next: false), "Y1719240002O1719150000"),
            (status(.running, success: false, next: false), "Y1719240002N1719000000"),
            (status(.idle, failedAfter: true), "F1719160000O1719150000X1719243919"),
            (status(.idle, success: false, failedAfter: true), "F1719160000X1719243919N1719000000"),
            (status(.suspended), "P"),
            (status(.suspended, success: false), "PN1719000000"),
            // Never synced, and not failed: pending, with its next run's time when one is scheduled.
            (status(.queued, success: false, next: false, ran: false), "DN1719000000"),
            (status(.idle, success: false, next: false), "DN1719000000"),
            (status(.idle, success: false, ran: false), "DX1719243919N1719000000"),
            // Waiting to retry: the failed attempt's end, the last success, and the next attempt's time.
            (status(.retrying, next: false), "F1719240100O1719150000X1719240160"),
            (status(.retrying, success: false), "F1719240100X1719240160N1719000000"),
        ] as [(ProjectStatus, String)])
    func mirrorzStatus(_ status: ProjectStatus, _ expected: String) throws {
        let token = MirrorzStatus.of(status)
        #expect(token == expected)
        // mirrorz's grammar: a concatenation of [A-Z](\d+)?, exactly one main status, auxiliary ones after it.
        let parts = token.matches(of: try Regex("[A-Z][0-9]*")).map { String(token[$0.range]) }
        #expect(parts.joined() == token)
        #expect(parts.filter { "SDYFPCRU".contains($0.first!) }.count == 1 && "SDYFPCRU".contains(parts[0].first!))
        #expect(parts.dropFirst().allSatisfy { "XNO".contains($0.first!) })
        // O only beside Y or F.
        #expect(!token.contains("O") || token.hasPrefix("Y") || token.hasPrefix("F"))
    }

    @Test(
        "tunasync's status word",
        arguments: [
            (status(.idle), "success"), (status(.queued), "success"), (status(.running), "syncing"),
            (status(.idle, failedAfter: true), "failed"), (status(.suspended), "paused"),
            (status(.queued, success: false, ran: false), "none"), (status(.idle, success: false), "none"),
            // Between attempts, as tunasync's worker reports its own jobs between theirs.
            (status(.retrying), "failed"), (status(.retrying, success: false), "failed"),
        ] as [(ProjectStatus, String)])
    func tunasyncStatus(_ status: ProjectStatus, _ expected: String) {
        #expect(TunasyncJob.status(status) == expected)
        #expect(["none", "failed", "success", "syncing", "pre-syncing", "paused", "disabled"].contains(expected))
    }

    static func projects() throws -> [String: ProjectState] {
        var debian = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse("rsync://mirror@rsync.example.org:8873/pub/")),
            source: "debian", path: "debian", interval: .every(TimeSpan(seconds: 3600)))
        debian.cname = "Debian"
        debian.desc = "The universal operating system"
        debian.help = "/help/debian/"
        let kernel = AgentProjectSpec(
            upstream: UpstreamSpec(url: .local(path: "/srv/upstream/kernel")), path: "pub/linux/",
            interval: .every(TimeSpan(seconds: 3600)))
        let gnu = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse("rsync://ftp.gnu.org/gnu/")), path: "gnu",
            interval: .every(TimeSpan(seconds: 86400)), suspended: true)
        return [
            "debian": ProjectState(spec: debian, generation: "g", status: status(.running, next: false)),
            "kernel": ProjectState(spec: kernel, generation: "g", status: status(.idle, failedAfter: true)),
            "gnu": ProjectState(spec: gnu, generation: "g", status: status(.suspended, success: false)),
        ]
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("golden mirrorz.json: the README's fields, required ones present, urls relative and without a trailing slash")
    func mirrorzGolden() throws {
        let site = SiteSpec(
            url: "https://mirrors.example.org", abbr: "EXAMPLE", name: "Example mirrors",
            logoDarkmode: "/img/logo-white.svg",
            big: "/speedtest/1000mb.bin")
        let document = MirrorzDocument.build(site: site, projects: try Self.projects())
        #expect(
            try Self.json(document) == """
                {
                  "info" : [

                  ],
                  "mirrors" : [
                    {
                      "cname" : "Debian",
                      "desc" : "The universal operating system",
                      "help" : "/help/debian/",
                      "size" : "1.36 TiB",
                      "status" : "Y1719240002O1719150000",
                      "upstream" : "rsync://rsync.example.org:8873/pub/debian/",
                      "url" : "/debian"
                    },
                    {
                      "cname" : "gnu",
                      "disable" : true,
                      "status" : "PN1719000000",
                      "upstream" : "rsync://ftp.gnu.org/gnu/",
                      "url" : "/gnu"
                    },
                    {
                      "cname" : "kernel",
                      "size" : "1.36 TiB",
                      "status" : "F1719160000O1719150000X1719243919",
                      "upstream" : "/srv/upstream/kernel",
                      "url" : "/pub/linux"
                    }
                  ],
                  "site" : {
                    "abbr" : "EXAMPLE",
                    "big" : "/speedtest/1000mb.bin",
                    "logo_darkmode" : "/img/logo-white.svg",
                    "name" : "Example mirrors",
                    "url" : "https://mirrors.example.org"
                  },
                  "version" : 1.7
                }
                """)
        // Against docs/operations.md's description, read back as plain JSON.
        let object = try #require(
            try JSONSerialization.jsonObject(with: try APICoding.encoder().encode(document)) as? [String: Any])
        #expect(Set(object.keys) == ["version", "site", "info", "mirrors"])
        #expect((object["version"] as? NSNumber)?.doubleValue == 1.7)
        let siteObject = try #require(object["site"] as? [String: Any])
        let readmeSiteKeys: Set<String> = [
            "url", "logo", "logo_darkmode", "abbr", "name", "homepage", "issue", "request", "email", "group",
            "disk", "note", "big", "disable",
        ]
        #expect(
            Set(siteObject.keys).isSubset(of: readmeSiteKeys) && siteObject["url"] != nil && siteObject["abbr"] != nil)
        #expect((siteObject["url"] as? String)?.hasSuffix("/") == false)
        let readmeMirrorKeys: Set<String> = ["cname", "desc", "url", "status", "help", "upstream", "size", "disable"]
        for mirror in try #require(object["mirrors"] as? [[String: Any]]) {
            #expect(
                Set(mirror.keys).isSubset(of: readmeMirrorKeys) && mirror["cname"] is String
                    && mirror["status"] is String)
            let url = try #require(mirror["url"] as? String)
            #expect(url.hasPrefix("/") && !url.hasSuffix("/"))
        }
        #expect(
            try APICoding.decoder().decode(MirrorzDocument.self, from: try APICoding.encoder().encode(document))
                == document)
        // Every site field in mirrors.d reaches the document under mirrorz's name.
        var full = SiteSpec(url: "https://m.example.org", abbr: "M", disable: true)
        for field in SiteSpec.optionalFields { full[keyPath: field.path] = "/" + field.key }
        let fullSite = try #require(
            try JSONSerialization.jsonObject(
                with: try APICoding.encoder().encode(MirrorzDocument.build(site: full, projects: [:]).site))
                as? [String: Any])
        #expect(Set(fullSite.keys) == readmeSiteKeys)
        #expect(fullSite["logo_darkmode"] as? String == "/logoDarkmode")
    }

    @Test("golden /jobs: tunasync's WebMirrorStatus, every time a string with its _ts, Go's zero time for none")
    func tunasyncGolden() throws {
        let jobs = TunasyncJob.jobs(try Self.projects(), timeZone: try #require(TimeZone(identifier: "Asia/Shanghai")))
        #expect(
            try Self.json(jobs) == """
                [
                  {
                    "is_master" : true,
                    "last_ended" : "2024-06-23 21:40:00 +0800",
                    "last_ended_ts" : 1719150000,
                    "last_started" : "2024-06-24 22:40:02 +0800",
                    "last_started_ts" : 1719240002,
                    "last_update" : "2024-06-23 21:40:00 +0800",
                    "last_update_ts" : 1719150000,
                    "name" : "debian",
                    "next_schedule" : "0001-01-01 00:00:00 +0000",
                    "next_schedule_ts" : -62135596800,
                    "size" : "1.50T",
                    "status" : "syncing",
                    "upstream" : "rsync://rsync.example.org:8873/pub/debian/"
                  },
                  {
                    "is_master" : true,
                    "last_ended" : "0001-01-01 00:00:00 +0000",
                    "last_ended_ts" : -62135596800,
                    "last_started" : "2024-06-24 22:40:02 +0800",
                    "last_started_ts" : 1719240002,
                    "last_update" : "0001-01-01 00:00:00 +0000",
                    "last_update_ts" : -62135596800,
                    "name" : "gnu",
                    "next_schedule" : "2024-06-24 23:45:19 +0800",
                    "next_schedule_ts" : 1719243919,
                    "size" : "unknown",
                    "status" : "paused",
                    "upstream" : "rsync://ftp.gnu.org/gnu/"
                  },
                  {
                    "is_master" : true,
                    "last_ended" : "2024-06-24 00:26:40 +0800",
                    "last_ended_ts" : 1719160000,
                    "last_started" : "2024-06-24 22:40:02 +0800",
                    "last_started_ts" : 1719240002,
                    "last_update" : "2024-06-23 21:40:00 +0800",
                    "last_update_ts" : 1719150000,
                    "name" : "kernel",
                    "next_schedule" : "2024-06-24 23:45:19 +0800",
                    "next_schedule_ts" : 1719243919,
                    "size" : "1.50T",
                    "status" : "failed",
                    "upstream" : "/srv/upstream/kernel"
                  }
                ]
                """)
        // The keys of tunasync's WebMirrorStatus, exactly; each time string parses back to its _ts.
        let array = try #require(
            try JSONSerialization.jsonObject(with: try APICoding.encoder().encode(jobs)) as? [[String: Any]])
        let webMirrorStatusKeys: Set<String> = [
            "name", "is_master", "status", "last_update", "last_update_ts", "last_started", "last_started_ts",
            "last_ended", "last_ended_ts", "next_schedule", "next_schedule_ts", "upstream", "size",
        ]
        let parser = DateFormatter()
        parser.locale = Locale(identifier: "en_US_POSIX")
        parser.dateFormat = "yyyy-MM-dd HH:mm:ss xx"
        for job in array {
            #expect(Set(job.keys) == webMirrorStatusKeys)
            for time in ["last_update", "last_started", "last_ended", "next_schedule"] {
                let text = try #require(job[time] as? String)
                let stamp = try #require((job[time + "_ts"] as? NSNumber)?.int64Value)
                if stamp == FormatTime.goZeroUnix {
                    #expect(text == FormatTime.goZeroText)
                } else {
                    #expect(parser.date(from: text).map(FormatTime.unix) == stamp, "\(time): \(text)")
                }
            }
        }
        // mirror-web tells a last success from a last failure by last_ended_ts == last_update_ts.
        #expect(jobs.first { $0.name == "debian" }.map { $0.lastEndedTs == $0.lastUpdateTs } == true)
        #expect(jobs.first { $0.name == "kernel" }.map { $0.lastEndedTs != $0.lastUpdateTs } == true)
    }

    @Test("a run waiting to retry in /jobs: failed, ended when its attempt failed, next at its next attempt")
    func tunasyncRetrying() throws {
        let spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: .local(path: "/srv/upstream/kernel")), path: "pub/linux",
            interval: .every(TimeSpan(seconds: 3600)))
        let jobs = TunasyncJob.jobs(
            ["kernel": ProjectState(spec: spec, generation: "g", status: Self.status(.retrying))],
            timeZone: try #require(TimeZone(identifier: "UTC")))
        let job = try #require(jobs.first)
        #expect(job.status == "failed")
        #expect(job.lastEndedTs == 1_719_240_100 && job.lastEnded == "2024-06-24 14:41:40 +0000")
        #expect(job.nextScheduleTs == 1_719_240_160 && job.lastUpdateTs == 1_719_150_000)
    }

    @Test("the master's settings carry site: through the validator as PUT /v1/settings sends them")
    func settingsReadBack() throws {
        var site = SiteSpec(url: "https://mirrors.example.org", abbr: "EXAMPLE", disable: false)
        for field in SiteSpec.optionalFields {
            site[keyPath: field.path] = field.link ? "/" + field.key : "text of " + field.key
        }
        let settings = AgentSettings(root: "/srv/mirror", site: site)
        #expect(try AgentRequest.settings(Array(try APICoding.encoder().encode(settings))) == settings)
        #expect(
            try AgentRequest.settings(Array(try APICoding.encoder().encode(AgentSettings(root: "/srv/mirror")))).site
                == nil)
    }
}
