import Foundation
import Testing
@testable import MirrorCore

@Suite("Value types")
struct ValuesTests {
    @Test(
        "durations parse to seconds and print in their shortest form",
        arguments: [
            ("90s", 90, "1m30s"), ("15m", 900, "15m"), ("1h", 3600, "1h"), ("1d", 86400, "1d"),
            ("1h30m", 5400, "1h30m"), ("3600s", 3600, "1h"), ("2d4h", 187_200, "2d4h"),
        ])
    func durations(_ text: String, _ seconds: Int, _ canonical: String) throws {
        let span = try TimeSpan.parse(text)
        #expect(span.seconds == seconds)
        #expect(span.description == canonical)
    }

    @Test(
        "bad durations are refused with a hint",
        arguments: ["", "60", "1x", "0m", "m", "1m1h", "1h1h", "-1h", "1.5h", " 1h"])
    func badDurations(_ text: String) {
        #expect(throws: ValueError.self) { try TimeSpan.parse(text) }
    }

    @Test(
        "sizes take binary and decimal units",
        arguments: [("500K", 512_000), ("20MiB", 20_971_520), ("1MB", 1_000_000), ("1.5G", 1_610_612_736), ("64B", 64)])
    func sizes(_ text: String, _ bytes: Int64) throws {
        #expect(try ByteSize.parse(text).bytes == bytes)
    }

    @Test("bad sizes are refused", arguments: ["20", "20 MiB", "1.2.3M", "M", "0K", "20XB", ".5M"])
    func badSizes(_ text: String) {
        #expect(throws: ValueError.self) { try ByteSize.parse(text) }
    }

    @Test("mirror paths are relative and normalized; only a trailing slash is dropped")
    func mirrorPaths() throws {
        #expect(try MirrorPath.normalize("debian/") == "debian")
        #expect(try MirrorPath.normalize("pub/linux/kernel") == "pub/linux/kernel")
        for bad in ["", "/abs", "../x", "a/../b", "a/./b", "a//b", "-rf", "a b", "a*", "a:b", "a\nb", "a\\b", "ä"] {
            #expect(throws: ValueError.self, "\(bad.debugDescription)") { try MirrorPath.normalize(bad) }
        }
    }

    @Test("absolute paths must start at / and stay plain")
    func absolutePaths() throws {
        #expect(try AbsolutePath.normalize("/srv/mirror/") == "/srv/mirror")
        #expect(try AbsolutePath.normalize("/") == "/")
        for bad in ["srv", "/srv/../etc", "/srv//x", "/srv/./x", "/a\u{0}b"] {
            #expect(throws: ValueError.self, "\(bad.debugDescription)") { try AbsolutePath.normalize(bad) }
        }
    }

    @Test("agent URLs are http(s), without credentials, normalized")
    func agentURLs() throws {
        #expect(try AgentURL.normalize("HTTP://Master.Example.org:7070/") == "http://master.example.org:7070")
        #expect(try AgentURL.normalize("https://m.example.org/mirrorsync/") == "https://m.example.org/mirrorsync")
        #expect(try AgentURL.normalize("http://[::1]:7071") == "http://[::1]:7071")
        for bad in ["ftp://x", "http://u:p@x", "http://x:99999", "http://x?a=1", "x:7070", "http://", "http://-x-"] {
            #expect(throws: ValueError.self, "\(bad)") { try AgentURL.normalize(bad) }
        }
    }

    @Test("upstream URLs are rsync:// or absolute paths, and print canonically")
    func upstreams() throws {
        #expect(
            try UpstreamLocation.parse("rsync://rsync.kernel.org/pub").description == "rsync://rsync.kernel.org/pub/")
        let partner = try UpstreamLocation.parse("rsync://mirror@[2001:db8::1]:8873/pub/debian/")
        #expect(partner == .rsync(user: "mirror", host: "2001:db8::1", port: 8873, path: "pub/debian"))
        #expect(partner.description == "rsync://mirror@[2001:db8::1]:8873/pub/debian/")
        #expect(try UpstreamLocation.parse("/srv/upstream/") == .local(path: "/srv/upstream"))
        for bad in [
            "rsync://u:pw@h/m/", "h::m", "https://h/m/", "user@h:/p", "rsync://h", "rsync://h/", "rsync://h/../x",
            "rsync://h:0/m", "rsync://h/-m",
        ] {
            #expect(throws: ValueError.self, "\(bad)") { try UpstreamLocation.parse(bad) }
        }
    }

    @Test("cron expressions parse fields, names, steps and macros")
    func cron() throws {
        let c = try CronExpression.parse("30  2 * * *")
        #expect(c.text == "30 2 * * *")
        #expect(c.minutes == 1 << 30 && c.hours == 1 << 2 && !c.dayOfMonthRestricted)
        let weekdays = try CronExpression.parse("*/15 8-18 * jan-mar mon-fri")
        #expect(weekdays.minutes == (1 << 0 | 1 << 15 | 1 << 30 | 1 << 45))
        #expect(weekdays.months == 0b1110 && weekdays.daysOfWeek == 0b0111110)
        #expect(try CronExpression.parse("0 0 * * 7").daysOfWeek == 1)
        #expect(try CronExpression.parse("@daily").text == "0 0 * * *")
        for bad in [
            "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "5-1 * * * *", "*/0 * * * *", "x * * * *",
            "1,,2 * * * *",
        ] {
            #expect(throws: ValueError.self, "\(bad)") { try CronExpression.parse(bad) }
        }
    }

    @Test("rsync options come from the allowlist only; refusals say why")
    func rsyncOptions() throws {
        for good in ["--no-owner", "--chmod=D755,F644", "--compress-level=9", "--contimeout=30", "--max-size=4G"] {
            try RsyncPolicy.checkOption(good)
        }
        let cases: [(String, String)] = [
            ("-e", "remote shell"), ("--rsh=ssh", "remote shell"), ("--rsync-path=x", "remote host"),
            ("--daemon", "daemon"),
            ("--config=/x", "configuration"), ("--files-from=/x", "list of files"),
            ("--write-batch=x", "outside the tree"),
            ("--no-owner=1", "takes no value"), ("--chmod", "needs a value"), ("--chmod=`id`", "invalid value"),
            ("-avz", "short option"), ("--no-ownr", "did you mean '--no-owner'"), ("--compress\n--rsh=x", "a newline"),
        ]
        for (option, words) in cases {
            #expect { try RsyncPolicy.checkOption(option) } throws: {
                ($0 as? ValueError)?.message.contains(words) == true
            }
        }
    }

    @Test("exclude patterns may not start like a filter rule or hold line breaks")
    func patterns() throws {
        for good in ["*.tmp", "/project/trace/*", ".~tmp~/", "dists/**/Packages*", "a+b"] {
            try RsyncPolicy.checkPattern(good)
        }
        for bad in [
            "", "+ x", "- x", "-x", "!", ". /etc/x", ": x", "a\nb", "a\rb", "a\u{0}b",
            String(repeating: "a", count: 1025),
        ] {
            #expect(throws: ValueError.self, "\(bad.debugDescription)") { try RsyncPolicy.checkPattern(bad) }
        }
    }

    @Test("names follow ^[a-z0-9][a-z0-9._-]{0,62}$")
    func names() throws {
        for good in ["a", "debian", "debian-security", "0ad", "x.y_z", String(repeating: "a", count: 63)] {
            try ObjectName.validate(good)
        }
        for bad in ["", "Debian", "-x", ".x", "a/b", "a b", String(repeating: "a", count: 64), "é"] {
            #expect(throws: ValueError.self, "\(bad)") { try ObjectName.validate(bad) }
        }
    }

    @Test("did-you-mean finds near misses and stays quiet for far ones")
    func suggestions() {
        #expect(Suggestion.closest(to: "intervall", among: SpecDecoder.projectKeys) == "interval")
        #expect(Suggestion.closest(to: "upstrem", among: SpecDecoder.projectKeys) == "upstream")
        #expect(Suggestion.closest(to: "sorce", among: SpecDecoder.projectKeys) == "source")
        #expect(Suggestion.closest(to: "bananas", among: SpecDecoder.projectKeys) == nil)
    }

    @Test("deletion limits take a share or a count")
    func deletionLimits() throws {
        #expect(try DeletionLimit.parse("10%", plain: true) == .percent(10))
        #expect(try DeletionLimit.parse("2.5%", plain: true) == .percent(2.5))
        #expect(try DeletionLimit.parse("5000", plain: true) == .files(5000))
        #expect(throws: ValueError.self) { try DeletionLimit.parse("5000", plain: false) }
        #expect(throws: ValueError.self) { try DeletionLimit.parse("101%", plain: true) }
    }
}

@Suite("Schedules")
struct ScheduleTests {
    func date(_ text: String) -> Date { APICoding.parseDate(text)! }

    @Test("cron fires at the next matching minute, in its time zone")
    func cronNext() throws {
        let nightly = try CronExpression.parse("30 2 * * *")
        #expect(
            nightly.next(after: date("2026-11-26T07:02:00Z"), in: TimeZone(identifier: "UTC")!)
                == date("2026-11-27T02:30:00Z"))
        #expect(
            nightly.next(after: date("2026-11-26T01:00:00Z"), in: TimeZone(identifier: "UTC")!)
                == date("2026-11-26T02:30:00Z"))
        #expect(
            nightly.next(after: date("2026-11-26T02:30:00Z"), in: TimeZone(identifier: "UTC")!)
                == date("2026-11-27T02:30:00Z"))
        // 02:30 in Berlin is 01:30 UTC in winter.
        #expect(
            nightly.next(after: date("2026-11-26T00:00:00Z"), in: TimeZone(identifier: "Europe/Berlin")!)
                == date("2026-11-26T01:30:00Z"))
        // On the spring-forward night 02:30 does not exist in Berlin; the next firing is the night after.
        #expect(
            nightly.next(after: date("2027-03-27T12:00:00Z"), in: TimeZone(identifier: "Europe/Berlin")!)
                == date("2027-03-29T00:30:00Z"))
        let weekdays = try CronExpression.parse("*/15 8-9 * * mon-fri")
        // 2026-11-28 is a Saturday: the next is Monday 08:00.
        #expect(
            weekdays.next(after: date("2026-11-27T09:50:00Z"), in: TimeZone(identifier: "UTC")!)
                == date("2026-11-30T08:00:00Z"))
        #expect(
            weekdays.next(after: date("2026-11-27T08:01:00Z"), in: TimeZone(identifier: "UTC")!)
                == date("2026-11-27T08:15:00Z"))
        #expect(
            try CronExpression.parse("0 0 30 2 *").next(
                after: date("2026-01-01T00:00:00Z"), in: TimeZone(identifier: "UTC")!) == nil)
        // Both day fields restricted: either one matches (the 1st, or any Sunday).
        let either = try CronExpression.parse("0 12 1 * sun")
        #expect(
            either.next(after: date("2026-11-26T00:00:00Z"), in: TimeZone(identifier: "UTC")!)
                == date("2026-11-29T12:00:00Z"))
    }

    @Test("every adds the period and a jitter that is the same for the same history")
    func everyNext() {
        let hourly = IntervalSpec.every(TimeSpan(seconds: 3600), jitter: TimeSpan(seconds: 600))
        let start = date("2026-11-26T07:00:00Z")
        let a = hourly.nextRun(after: start, seed: "debian")!
        #expect(a == hourly.nextRun(after: start, seed: "debian"))
        #expect(a >= start.addingTimeInterval(3600) && a < start.addingTimeInterval(4200))
        let spread = Set((0..<20).map { hourly.nextRun(after: start, seed: "p\($0)")! })
        #expect(spread.count > 10)
        #expect(
            IntervalSpec.every(TimeSpan(seconds: 60)).nextRun(after: start, seed: "x") == start.addingTimeInterval(60))
    }
}
