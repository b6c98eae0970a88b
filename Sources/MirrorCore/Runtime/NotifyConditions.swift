import Foundation

/// A trouble the master tells people of: its start once, and its end once. The master keeps the ones in force; each
/// look at the site's state (`NotifyConditions.of`) is compared with them, and only the difference is told.
public struct NotifyCondition: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
        /// The project's last run failed (after its retries).
        case projectFailing = "project-failing"
        /// No success for twice the project's interval (`Staleness`).
        case projectStale = "project-stale"
        /// The slave has not answered the master for `unreachableAfter`.
        case slaveUnreachable = "slave-unreachable"
        /// The slave has lacked the master's revision of some project for `behindAfter`.
        case slaveBehind = "slave-behind"

        public var severity: NotifySeverity {
            switch self {
            case .projectFailing, .slaveUnreachable: return .error
            case .projectStale, .slaveBehind: return .warning
            }
        }

        public var isProject: Bool { self == .projectFailing || self == .projectStale }
    }

    public var kind: Kind
    /// The project's or the slave's name.
    public var subject: String
    /// Since when, as far as the master knows: the failed run's end, the last success, the slave's last answer.
    public var since: Date?
    /// Its cause, in a stable word or two: a failed run's `reason` (`rsync-exit-23`), the projects a slave lacks.
    public var detail: String?
    /// The failed run, for a failing project.
    public var run: Int64?

    public init(kind: Kind, subject: String, since: Date? = nil, detail: String? = nil, run: Int64? = nil) {
        self.kind = kind
        self.subject = subject
        self.since = since
        self.detail = detail
        self.run = run
    }

    public var key: String { kind.rawValue + ":" + subject }
    public var severity: NotifySeverity { kind.severity }
    /// The project it is about, if it is about one.
    public var project: String? { kind.isProject ? subject : nil }
}

/// A change to tell: a condition began, or it ended (`resolved`).
public struct NotifyEvent: Codable, Sendable, Hashable {
    public var condition: NotifyCondition
    public var resolved: Bool
    /// When the master saw the change.
    public var at: Date

    public init(condition: NotifyCondition, resolved: Bool, at: Date) {
        self.condition = condition
        self.resolved = resolved
        self.at = at
    }
}

/// What is wrong now, what changed since the last look, and who is told of it. Pure: the master's notifier feeds it
/// the scheduler's projects and the site's status.
public enum NotifyConditions {
    /// The conditions in force, by key.
    public static func of(
        projects: [String: ProjectState], site: SiteStatus?, spec: NotifySpec, now: Date
    ) -> [String: NotifyCondition] {
        var out: [String: NotifyCondition] = [:]
        func add(_ condition: NotifyCondition) { out[condition.key] = condition }
        for (name, state) in projects {
            let status = state.status
            if let run = status.lastRun, run.result == .failed {
                add(
                    NotifyCondition(
                        kind: .projectFailing, subject: name, since: run.endedAt, detail: run.reason, run: run.id))
            }
            if Staleness.isStale(state.spec, status, now: now) {
                add(NotifyCondition(kind: .projectStale, subject: name, since: status.lastSuccessAt))
            }
        }
        guard let site else { return out }
        var unreachable = Set<String>()
        for slave in site.slaves where !slave.reachable {
            let silent = slave.lastSeenAt.map { now.timeIntervalSince($0) } ?? .infinity
            guard silent >= Double(spec.unreachableAfter.seconds) else { continue }
            unreachable.insert(slave.name)
            add(NotifyCondition(kind: .slaveUnreachable, subject: slave.name, since: slave.lastSeenAt, detail: nil))
        }
        // A slave that does not answer is behind for that reason; it is told as behind only once it answers again.
        var lacking: [String: [String]] = [:]
        for (project, state) in site.projects {
            for (slave, copy) in state.slaves where !unreachable.contains(slave) {
                if copy.behind > 0, copy.lagSeconds >= Double(spec.behindAfter.seconds) {
                    lacking[slave, default: []].append(project)
                }
            }
        }
        for (slave, projects) in lacking {
            let sorted = projects.sorted()
            let shown = sorted.prefix(10).joined(separator: ", ") + (sorted.count > 10 ? ", ..." : "")
            add(NotifyCondition(kind: .slaveBehind, subject: slave, detail: "\(sorted.count) project(s): \(shown)"))
        }
        return out
    }

    /// The changes from `previous` to `current`: each condition that began, and each that ended. One whose project or
    /// slave is gone (`exists` says no) is forgotten without a word: nothing recovered.
    public static func changes(
        from previous: [String: NotifyCondition], to current: [String: NotifyCondition], at now: Date,
        exists: (NotifyCondition) -> Bool
    ) -> [NotifyEvent] {
        var events: [NotifyEvent] = []
        for key in current.keys.sorted() where previous[key] == nil {
            events.append(NotifyEvent(condition: current[key]!, resolved: false, at: now))
        }
        for key in previous.keys.sorted() where current[key] == nil {
            let condition = previous[key]!
            if exists(condition) { events.append(NotifyEvent(condition: condition, resolved: true, at: now)) }
        }
        return events
    }

    /// Who is told of `events`: each target with the events it takes (its severity or graver; a route, its project's
    /// alone), by the target's key (`webhook:NAME`, `mail:NAME`, `route:PROJECT`), in key order.
    public static func route(_ events: [NotifyEvent], spec: NotifySpec) -> [(target: String, events: [NotifyEvent])] {
        var out: [(target: String, events: [NotifyEvent])] = []
        func add(_ key: String, _ severity: NotifySeverity, _ wanted: (NotifyEvent) -> Bool = { _ in true }) {
            let taken = events.filter { $0.condition.severity >= severity && wanted($0) }
            if !taken.isEmpty { out.append((key, taken)) }
        }
        for (name, hook) in spec.webhooks.sorted(by: { $0.key < $1.key }) { add("webhook:" + name, hook.severity) }
        for (name, mail) in spec.mail.sorted(by: { $0.key < $1.key }) { add("mail:" + name, mail.severity) }
        for (project, route) in spec.routes.sorted(by: { $0.key < $1.key }) {
            add("route:" + project, route.severity) { $0.condition.project == project }
        }
        return out
    }
}
