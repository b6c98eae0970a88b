import Foundation

/// Debian's mirror trace files, as Debian's ftpsync writes them (its `tracefile` function) and the mirror checker
/// reads them: after each successful sync, `project/trace/<host>` in the tree says when the sync ran, who runs the
/// host, from where and how fast; `project/trace/_hierarchy` says which host each tree came through and
/// `project/trace/_traces` lists the trace files; `Archive-Update-in-Progress-<host>` at the top of the tree says a
/// sync is running and `Archive-Update-Required-<host>` that another one is due. The text is built here; the agent
/// writes the files.
public enum DebianTrace {
    /// The directory of trace files, relative to the tree.
    public static let directory = "project/trace"
    /// The list of trace files in `directory`.
    public static let listName = "_traces"
    /// Which host each copy of the tree came through, upstream first; its `.mirror` copy is what downstreams read.
    public static let hierarchyName = "_hierarchy"
    /// The marker's name before the host's: a reader sees a sync in progress by its presence.
    public static let markerPrefix = "Archive-Update-in-Progress-"
    /// The name before the host's of the file that says a push came during a sync, so that another sync is due.
    public static let requiredPrefix = "Archive-Update-Required-"
    /// The suffix of the trace a first stage writes (`stage: site`), which the checker skips.
    public static let stage1Suffix = "-stage1"

    public static func markerName(host: String) -> String { markerPrefix + host }
    public static func requiredName(host: String) -> String { requiredPrefix + host }

    /// What rsync must leave alone in every pull of a traced tree (patterns anchored at the tree's top), as ftpsync
    /// protects its own: the markers of whoever is syncing upstream are not data, and this host's own trace, first
    /// stage trace, hierarchy and list are written here, so an upstream's copy must neither overwrite them nor,
    /// through `--delete`, remove them. The upstream's other trace files (the master's own, `trace/master`) and its
    /// `_hierarchy.mirror` are upstream data and are copied as they are.
    public static func protectedPatterns(host: String) -> [String] {
        [
            "/" + markerPrefix + "*", "/" + requiredPrefix + "*", "/\(directory)/\(host)",
            "/\(directory)/\(host)\(stage1Suffix)", "/\(directory)/\(hierarchyName)", "/\(directory)/\(listName)",
        ]
    }

    /// The word the trace's `Trigger` says for what started a run: ftpsync's `cron` for a timed run, `push` for an
    /// upstream's push or the master's trigger (ftpsync's pushes come over ssh; mirrorsync's over HTTPS), `manual` for
    /// an operator's request, `catch-up` for a slave that found itself behind.
    public static func trigger(_ trigger: RunTrigger) -> String {
        switch trigger {
        case .schedule: "cron"
        case .request: "manual"
        case .push, .trigger, .firstStage, .secondStage: "push"
        case .catchUp: "catch-up"
        }
    }

    /// The line of `_hierarchy` for one host: the trace file's name, the public host name, the machine and the
    /// upstream, space-separated, as ftpsync writes it.
    public static func hierarchyLine(traceFile: String, mirrorName: String, host: String, upstream: String) -> String {
        "\(traceFile) \(mirrorName) \(host) \(upstream)\n"
    }

    /// `_hierarchy`: the upstream's (its `_hierarchy.mirror`, when it has one) with this host's line after it.
    public static func hierarchy(upstream text: String?, line: String) -> String {
        guard let text, !text.isEmpty else { return line }
        return text.hasSuffix("\n") ? text + line : text + "\n" + line
    }

    /// The architectures a Debian tree holds, as ftpsync reads them from `dists/`: the `ARCH` of every
    /// `binary-ARCH/Packages.*` and `source` for every `source/Sources.*`, each once, sorted. `paths` are the files
    /// under `dists/`, each as its directory's name and its own.
    public static func architectures(_ paths: [(directory: String, file: String)]) -> [String] {
        var found = Set<String>()
        for (directory, file) in paths {
            if file.hasPrefix("Packages."), directory.hasPrefix("binary-"), directory.count > 7 {
                found.insert(String(directory.dropFirst(7)))
            } else if file.hasPrefix("Sources."), directory == "source" {
                found.insert("source")
            }
        }
        return found.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// What the trace file of one sync says.
    public struct Record: Sendable, Hashable {
        public var started: Date
        public var ended: Date
        /// From the upstream's `trace/master`: its serial, `unknown` when it has none, nil when there is no such file.
        public var archiveSerial: String?
        /// The software and its version: `mirrorsync 0.1.0`.
        public var creator: String
        /// The machine the sync ran on (ftpsync's TRACEHOST: its FQDN).
        public var host: String
        /// Maintainer, Sponsor, Country, Location, Throughput: what the host's `trace:` says of it.
        public var info: TraceSettings?
        /// What started the run (`trigger(_:)`).
        public var trigger: String?
        /// The architectures in the tree's `dists/`; nil or empty: not written.
        public var architectures: [String]?
        /// `ALL`, or nil when the project's excludes may leave some out and nothing says which.
        public var architecturesConfiguration: String?
        /// The host the tree came from.
        public var upstream: String
        /// How rsync reached it: ftpsync's `undefined` (a plain daemon or a local path), `ssh` or `ssl`.
        public var transport: String
        /// rsync's "Total bytes received", summed over the passes.
        public var bytesReceived: Int64?
        /// Seconds each rsync pass took: the first is stage 1, the rest stage 2.
        public var passSeconds: [Int]

        public init(
            started: Date, ended: Date, archiveSerial: String?, creator: String, host: String, upstream: String,
            bytesReceived: Int64?, passSeconds: [Int], info: TraceSettings? = nil, trigger: String? = nil,
            architectures: [String]? = nil, architecturesConfiguration: String? = "ALL",
            transport: String = "undefined"
        ) {
            self.started = started
            self.ended = ended
            self.archiveSerial = archiveSerial
            self.creator = creator
            self.host = host
            self.upstream = upstream
            self.bytesReceived = bytesReceived
            self.passSeconds = passSeconds
            self.info = info
            self.trigger = trigger
            self.architectures = architectures
            self.architecturesConfiguration = architecturesConfiguration
            self.transport = transport
        }

        /// The file's text: `date -u`'s line, then the fields in ftpsync's order, with ftpsync's rules: the serial
        /// only when the upstream has a `trace/master`, the host's words and the trigger only when set, the
        /// architectures only when `dists/` lists some (space after each, as ftpsync's `tr` leaves them), the bytes
        /// only when rsync counted some, both stages' times always, the rate only when the time is not zero.
        /// ftpsync's `Used ftpsync version` is left out: this is not ftpsync, and the checker judges that line as
        /// ftpsync's release; `Creator` names the software, as ftpsync's own `Creator: ftpsync VERSION` does.
        public var text: String {
            var lines = [DebianTrace.dateLine(ended)]
            lines.append("Date: " + DebianTrace.rfc2822(ended))
            lines.append("Date-Started: " + DebianTrace.rfc2822(started))
            if let archiveSerial { lines.append("Archive serial: " + archiveSerial) }
            lines.append("Creator: " + creator)
            lines.append("Running on host: " + host)
            for (key, value) in info?.infoLines ?? [] { lines.append("\(key): \(value)") }
            if let trigger { lines.append("Trigger: " + trigger) }
            if let architectures, !architectures.isEmpty {
                lines.append("Architectures: " + architectures.map { $0 + " " }.joined())
            }
            if let architecturesConfiguration {
                lines.append("Architectures-Configuration: " + architecturesConfiguration)
            }
            lines.append("Upstream-mirror: " + upstream)
            lines.append("Rsync-Transport: " + transport)
            let bytes = bytesReceived ?? 0
            if bytes > 0 { lines.append("Total bytes received in rsync: \(bytes)") }
            let stage1 = passSeconds.first ?? 0
            let stage2 = passSeconds.dropFirst().reduce(0, +)
            lines.append("Total time spent in stage1 rsync: \(stage1)")
            lines.append("Total time spent in stage2 rsync: \(stage2)")
            let total = stage1 + stage2
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
    public static func archiveSerial(inMasterTrace text: String) -> String? { field("Archive serial", in: text) }

    /// A field of a trace's text (after its date line), by its key in any case; nil when absent or empty.
    public static func field(_ key: String, in text: String) -> String? {
        let wanted = key.lowercased()
        for line in text.split(whereSeparator: \.isNewline).dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == wanted {
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                return value.isEmpty ? nil : value
            }
        }
        return nil
    }

    /// The file `_hierarchy.mirror`: rsync may bring the upstream's and must never delete this host's (a protect rule,
    /// not an exclusion, as ftpsync's filter has it).
    public static func protectedOnly() -> [String] { ["/\(directory)/\(hierarchyName).mirror"] }

    /// The text of `_traces`, as ftpsync's `ls -1rt` of the directory writes it: every trace file's name, one a
    /// line, the oldest first (names of one time in reverse order, as `ls -rt` gives them); `_` files, hidden files
    /// and unfinished `.new` files left out.
    public static func list(of files: [(name: String, modified: Date)]) -> String {
        files.filter { !$0.name.hasPrefix("_") && !$0.name.hasPrefix(".") && !$0.name.hasSuffix(".new") }
            .sorted { $0.modified != $1.modified ? $0.modified < $1.modified : $0.name > $1.name }
            .map { $0.name + "\n" }.joined()
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
