import Foundation
import MirrorCore

// The mirror world's formats, built from what the master holds: mirrorz's `mirrorz.json` (data format 1.7, as the
// README of github.com/mirrorz-org/mirrorz defines it) and tunasync's `GET /jobs` (the manager's `WebMirrorStatus`,
// github.com/tuna/tunasync internal/status_web.go). Pure functions of a project's spec and status, so that every
// field can be checked without an agent.

/// Times as the formats write them.
public enum FormatTime {
    /// Whole seconds since 1970, rounded down, as Go's `Time.Unix()`.
    public static func unix(_ date: Date) -> Int64 { Int64(floor(date.timeIntervalSince1970)) }

    /// Go's zero time, which tunasync's manager writes for a time that never was.
    public static let goZeroText = "0001-01-01 00:00:00 +0000"
    public static let goZeroUnix: Int64 = -62_135_596_800

    /// `2006-01-02 15:04:05 -0700`, Go's layout that tunasync's manager writes, in `timeZone`; Go's zero time for nil.
    public static func tunasync(_ date: Date?, timeZone: TimeZone) -> String {
        tunasync(date, calendar: calendar(in: timeZone))
    }

    /// A Gregorian calendar in `timeZone`: made once for a whole list of jobs, which write four times each.
    static func calendar(in timeZone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    static func tunasync(_ date: Date?, calendar: Calendar) -> String {
        guard let date else { return goZeroText }
        let whole = Date(timeIntervalSince1970: TimeInterval(unix(date)))
        let timeZone = calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: whole)
        let offset = timeZone.secondsFromGMT(for: whole)
        func two(_ n: Int?) -> String {
            let n = n ?? 0
            return n < 10 ? "0\(n)" : "\(n)"
        }
        let year = String(c.year ?? 0)
        return String(repeating: "0", count: max(0, 4 - year.count)) + year + "-\(two(c.month))-\(two(c.day)) "
            + "\(two(c.hour)):\(two(c.minute)):\(two(c.second)) " + (offset < 0 ? "-" : "+")
            + two(abs(offset) / 3600) + two(abs(offset) % 3600 / 60)
    }

    /// The `_ts` beside each of tunasync's times: Unix seconds, or Go's zero time's for nil.
    public static func tunasyncStamp(_ date: Date?) -> Int64 { date.map(unix) ?? goZeroUnix }
}

/// How a project's last runs read, for both formats.
struct RunStanding {
    let status: ProjectStatus

    /// The newest run that succeeded or failed failed: it ended after the last success (or there is none).
    var failedLast: Bool {
        guard let ended = status.lastEndedAt else { return false }
        guard let success = status.lastSuccessAt else { return true }
        return ended > success
    }

    /// When the last run that succeeded or failed ended; stores from before `lastEndedAt` know only the success.
    var lastEnded: Date? { status.lastEndedAt ?? status.lastSuccessAt }
}

/// mirrorz's `status` of a project: one main token, then auxiliary ones, each a letter and Unix seconds.
///
/// Main: `P` suspended; `Y<start>` syncing; `F<end>` the last run that succeeded or failed failed, or the run waits to
/// retry after a failed attempt (`F<that attempt's end>`, its retry's time in `X`); `S<end>` it succeeded; `D` pending:
/// the project has never synced and its last run did not fail (none yet, one queued, or only stopped ones).
/// Auxiliary: `O<end of the last success>` after `Y` or `F`; `X<next run>` when one is scheduled (the next attempt
/// while waiting to retry); `N<added>` for a project that has never synced.
public enum MirrorzStatus {
    public static func of(_ status: ProjectStatus) -> String {
        let standing = RunStanding(status: status)
        func token(_ letter: String, _ date: Date?) -> String {
            letter + (date.map { String(FormatTime.unix($0)) } ?? "")
        }
        var out: String
        switch status.activity {
        case .suspended: out = "P"
        case .running: out = token("Y", status.lastStartedAt)
        case .retrying: out = token("F", status.retry?.failedAt ?? standing.lastEnded)
        case .idle, .queued:
            if standing.failedLast {
                out = token("F", standing.lastEnded)
            } else if let success = status.lastSuccessAt {
                out = token("S", success)
            } else {
                out = "D"
            }
        }
        if let success = status.lastSuccessAt, out.hasPrefix("Y") || out.hasPrefix("F") { out += token("O", success) }
        if let next = status.activity == .retrying ? status.retry?.at : status.nextRunAt, status.activity != .suspended
        {
            out += token("X", next)
        }
        if status.lastSuccessAt == nil, let added = status.addedAt { out += token("N", added) }
        return out
    }
}

/// A key of mirrorz's `site` object, as mirrorz spells it.
struct MirrorzKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ key: String) { stringValue = key }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// `GET /mirrorz.json`: mirrorz's data format 1.7.
public struct MirrorzDocument: Codable, Sendable, Hashable {
    public var version: Double
    public var site: Site
    /// The category view; mirrorsync has nothing to put there, and mirrorz allows it empty.
    public var info: [Info]
    public var mirrors: [Mirror]

    public static let formatVersion = 1.7

    /// mirrors.d's `site:` under mirrorz's names: `logoDarkmode` is written `logo_darkmode`.
    public struct Site: Codable, Sendable, Hashable {
        public var spec: SiteSpec

        static func mirrorzKey(_ key: String) -> MirrorzKey {
            MirrorzKey(key == "logoDarkmode" ? "logo_darkmode" : key)
        }

        public init(_ spec: SiteSpec) { self.spec = spec }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: MirrorzKey.self)
            spec = SiteSpec(
                url: try c.decode(String.self, forKey: MirrorzKey("url")),
                abbr: try c.decode(String.self, forKey: MirrorzKey("abbr")),
                disable: try c.decodeIfPresent(Bool.self, forKey: MirrorzKey("disable")))
            for field in SiteSpec.optionalFields {
                spec[keyPath: field.path] = try c.decodeIfPresent(String.self, forKey: Self.mirrorzKey(field.key))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: MirrorzKey.self)
            try c.encode(spec.url, forKey: MirrorzKey("url"))
            try c.encode(spec.abbr, forKey: MirrorzKey("abbr"))
            for field in SiteSpec.optionalFields {
                try c.encodeIfPresent(spec[keyPath: field.path], forKey: Self.mirrorzKey(field.key))
            }
            try c.encodeIfPresent(spec.disable, forKey: MirrorzKey("disable"))
        }
    }

    public struct Info: Codable, Sendable, Hashable {
        public struct Link: Codable, Sendable, Hashable {
            public var name: String
            public var url: String
        }
        public var distro: String
        public var category: String
        public var urls: [Link]
    }

    public struct Mirror: Codable, Sendable, Hashable {
        public var cname: String
        public var desc: String?
        /// A path under the site's url: `/` and the project's path, without a trailing `/`.
        public var url: String
        public var status: String
        public var help: String?
        public var upstream: String?
        public var size: String?
        /// True for a suspended project (mirrorz's `mirrors.disable`); absent otherwise.
        public var disable: Bool?
    }

    /// The document of a site and the projects its master holds, by name.
    public static func build(site: SiteSpec, projects: [String: ProjectState]) -> MirrorzDocument {
        let mirrors = projects.keys.sorted().map { name -> Mirror in
            let project = projects[name]!
            var path = project.spec.path
            while path.hasSuffix("/") { path.removeLast() }
            return Mirror(
                cname: project.spec.cname ?? name, desc: project.spec.desc, url: "/" + path,
                status: MirrorzStatus.of(project.status), help: project.spec.help,
                upstream: ShownUpstream.of(project.spec), size: project.status.sizeBytes.map(SizeText.human),
                disable: project.spec.suspended ? true : nil)
        }
        return MirrorzDocument(version: formatVersion, site: Site(site), info: [], mirrors: mirrors)
    }
}

/// One job of tunasync's `GET /jobs`, as its manager writes a `WebMirrorStatus`.
public struct TunasyncJob: Codable, Sendable, Hashable {
    public var name: String
    public var isMaster: Bool
    /// `none`, `failed`, `success`, `syncing` or `paused` (tunasync's `pre-syncing` and `disabled` do not occur). A run
    /// waiting to retry is `failed`, as tunasync's own worker reports a job between its attempts, with the next
    /// attempt's time in `next_schedule` and the failed attempt's end in `last_ended`.
    public var status: String
    /// The end of the last success.
    public var lastUpdate: String
    public var lastUpdateTs: Int64
    /// The start of the newest run.
    public var lastStarted: String
    public var lastStartedTs: Int64
    /// The end of the newest run that succeeded or failed.
    public var lastEnded: String
    public var lastEndedTs: Int64
    public var nextSchedule: String
    public var nextScheduleTs: Int64
    public var upstream: String
    /// Such as `1.50T`; `unknown` before the first success, as tunasync's worker says.
    public var size: String

    enum CodingKeys: String, CodingKey {
        case name, isMaster = "is_master", status, lastUpdate = "last_update", lastUpdateTs = "last_update_ts"
        case lastStarted = "last_started", lastStartedTs = "last_started_ts", lastEnded = "last_ended", lastEndedTs =
            "last_ended_ts"
        case nextSchedule = "next_schedule", nextScheduleTs = "next_schedule_ts", upstream, size
    }

    /// tunasync's status word for a project.
    public static func status(_ status: ProjectStatus) -> String {
        let standing = RunStanding(status: status)
        switch status.activity {
        case .suspended: return "paused"
        case .running: return "syncing"
        case .retrying: return "failed"
        case .idle, .queued: return standing.failedLast ? "failed" : status.lastSuccessAt != nil ? "success" : "none"
        }
    }

    /// Every project the master holds, sorted by name; times in `timeZone`.
    public static func jobs(_ projects: [String: ProjectState], timeZone: TimeZone) -> [TunasyncJob] {
        let calendar = FormatTime.calendar(in: timeZone)
        func text(_ date: Date?) -> String { FormatTime.tunasync(date, calendar: calendar) }
        return projects.keys.sorted().map { name in
            let project = projects[name]!
            let status = project.status
            let ended = status.retry?.failedAt ?? RunStanding(status: status).lastEnded
            let next = status.retry?.at ?? status.nextRunAt
            return TunasyncJob(
                name: name, isMaster: true, status: Self.status(status),
                lastUpdate: text(status.lastSuccessAt), lastUpdateTs: FormatTime.tunasyncStamp(status.lastSuccessAt),
                lastStarted: text(status.lastStartedAt), lastStartedTs: FormatTime.tunasyncStamp(status.lastStartedAt),
                lastEnded: text(ended), lastEndedTs: FormatTime.tunasyncStamp(ended),
                nextSchedule: text(next), nextScheduleTs: FormatTime.tunasyncStamp(next),
                upstream: ShownUpstream.of(project.spec), size: status.sizeBytes.map(SizeText.rsync) ?? "unknown")
        }
    }
}

/// Where a project comes from, as mirror lists show it: the upstream's URL and the project's source in it, without
/// the rsync user (a name the upstream gave this site, not the public's business).
enum ShownUpstream {
    static func of(_ spec: AgentProjectSpec) -> String {
        var base: String
        switch spec.upstream.url {
        case .local: base = spec.upstream.url.description
        case .rsync(_, let host, let port, let path):
            base = UpstreamLocation.rsync(user: nil, host: host, port: port, path: path).description
        case .program(let url):
            // A program's address, without a user before its host.
            base = url
            if let scheme = url.range(of: "://") {
                let authority = url[scheme.upperBound...].prefix { $0 != "/" }
                if let at = authority.lastIndex(of: "@") {
                    base = String(url[..<scheme.upperBound]) + url[authority.index(after: at)...]
                }
            }
            return base
        }
        guard !spec.source.isEmpty else { return base }
        if !base.hasSuffix("/") { base += "/" }
        return base + spec.source + "/"
    }
}
