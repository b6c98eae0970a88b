import Foundation

/// Debian's mirror trace files, as Debian's ftpsync writes them and the mirror checker reads them: after each
/// successful sync, `project/trace/<host>` in the tree says when the sync ran, from where and how fast, and
/// `project/trace/_traces` lists the trace files; `Archive-Update-in-Progress-<host>` at the top of the tree says a
/// sync is running. The text is built here; the agent writes the files.
public enum DebianTrace {
    /// The directory of trace files, relative to the tree.
    public static let directory = "project/trace"
    /// The list of trace files in `directory`.
    public static let listName = "_traces"
    /// The marker's name before the host's: a reader sees a sync in progress by its presence.
    public static let markerPrefix = "Archive-Update-in-Progress-"

    public static func markerName(host: String) -> String { markerPrefix + host }

    /// What rsync must leave alone in every pull of a traced tree (patterns anchored at the tree's top): the marker
    /// of whoever is syncing upstream is not data, and this host's own trace and list are written here, so an
    /// upstream's copy must neither overwrite them nor, through `--delete`, remove them. The upstream's other trace
    /// files (the master's own, `trace/master`) are upstream data and are copied as they are.
    public static func protectedPatterns(host: String) -> [String] {
        ["/" + markerPrefix + "*", "/\(directory)/\(host)", "/\(directory)/\(listName)"]
    }

    /// What the trace file of one sync says.
    public struct Record: Sendable, Hashable {
        public var started: Date
        public var ended: Date
        /// From the upstream's `trace/master`, when it has one.
        public var archiveSerial: String?
        /// The software and its version: `mirrorsync 0.1.0`.
        public var creator: String
        /// This host's own name (Debian: its FQDN).
        public var host: String
        /// The host the tree came from.
        public var upstream: String
        /// rsync's "Total bytes received", summed over the passes.
        public var bytesReceived: Int64?
        /// Seconds each rsync pass took: one pass, or two when there was a second stage.
        public var passSeconds: [Int]

        public init(
            started: Date, ended: Date, archiveSerial: String?, creator: String, host: String, upstream: String,
            bytesReceived: Int64?, passSeconds: [Int]
        ) {
            self.started = started
            self.ended = ended
            self.archiveSerial = archiveSerial
            self.creator = creator
            self.host = host
            self.upstream = upstream
            self.bytesReceived = bytesReceived
            self.passSeconds = passSeconds
        }

        /// The file's text: `date -u`'s line, then the fields in ftpsync's order. As ftpsync does, the per-stage
        /// times appear only when a second stage ran, the bytes only when rsync counted some, and the rate only when
        /// the time is not zero.
        public var text: String {
            var lines = [DebianTrace.dateLine(ended)]
            lines.append("Date: " + DebianTrace.rfc2822(ended))
            lines.append("Date-Started: " + DebianTrace.rfc2822(started))
            if let archiveSerial { lines.append("Archive serial: " + archiveSerial) }
            lines.append("Creator: " + creator)
            lines.append("Running on host: " + host)
            lines.append("Upstream-mirror: " + upstream)
            let bytes = bytesReceived ?? 0
            if bytes > 0 { lines.append("Total bytes received in rsync: \(bytes)") }
            let total = passSeconds.reduce(0, +)
            if passSeconds.count > 1 {
                lines.append("Total time spent in stage1 rsync: \(passSeconds[0])")
                lines.append("Total time spent in stage2 rsync: \(passSeconds.dropFirst().reduce(0, +))")
            }
            lines.append("Total time spent in rsync: \(total)")
            if total != 0 { lines.append("Average rate: \(bytes / Int64(total)) B/s") }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// `date -u` in the POSIX locale: `Sun Nov  1 09:40:29 UTC 2026` (the day padded with a space).
    public static func dateLine(_ date: Date) -> String {
        let c = utcComponents(date)
        let day = c.day < 10 ? " \(c.day)" : "\(c.day)"
        return "\(weekdays[c.weekday]) \(months[c.month]) \(day) \(clock(c)) UTC \(c.year)"
    }

    /// RFC 2822, as `date -u -R`: `Sun, 01 Nov 2026 09:40:29 +0000`.
    public static func rfc2822(_ date: Date) -> String {
        let c = utcComponents(date)
        return "\(weekdays[c.weekday]), \(two(c.day)) \(months[c.month]) \(c.year) \(clock(c)) +0000"
    }

    /// The archive serial in the text of an upstream's `trace/master`: its `Archive serial:` field.
    public static func archiveSerial(inMasterTrace text: String) -> String? {
        for line in text.split(whereSeparator: \.isNewline).dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == "archive serial" {
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                return value.isEmpty ? nil : value
            }
        }
        return nil
    }

    /// The text of `_traces`: every trace file in the directory, one `project/trace/NAME` a line, sorted; the list
    /// itself, other `_` files and unfinished `.new` files left out.
    public static func list(of names: [String]) -> String {
        names.filter { !$0.hasPrefix("_") && !$0.hasPrefix(".") && !$0.hasSuffix(".new") }.sorted()
            .map { "\(directory)/\($0)\n" }.joined()
    }

    static let weekdays = ["", "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    struct UTC { var year, month, day, weekday, hour, minute, second: Int }

    static func utcComponents(_ date: Date) -> UTC {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .weekday, .hour, .minute, .second], from: date)
        return UTC(
            year: c.year!, month: c.month!, day: c.day!, weekday: c.weekday!, hour: c.hour!, minute: c.minute!,
            second: c.second!)
    }

    static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    static func clock(_ c: UTC) -> String { "\(two(c.hour)):\(two(c.minute)):\(two(c.second))" }
}
