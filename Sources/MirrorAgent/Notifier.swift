import Foundation
import Logging
import MirrorCore
import MirrorPresentation
import ServiceLifecycle

/// The master's notifications' tables in the store the scheduler owns, handed out by it (as `slaves`): they touch none
/// of its projects, queue or runs.
public struct NotificationRecords: Sendable {
    let store: AgentStore
}

/// Tells people when the site's state changes (`notify:`): it looks at the state when a run ends and every
/// `checkEvery`, compares what is wrong with what it last told (`NotifyConditions`), records the change and its
/// messages in one transaction, and sends what is due from the outbox.
///
/// Off every run's path: a run's end only wakes it. Each target gets at most `maxPerHour` messages in any hour; what
/// waits beyond, or for a retry, goes out with the next message to that target, as one. A failed send is tried again
/// with backoff (`retryBase` doubling to 15 minutes), `maxAttempts` times in all; after a restart the outbox is sent
/// from where it was, and what was told is not told again.
final class Notifier: Sendable {
    let records: NotificationRecords
    let scheduler: SyncScheduler
    /// The site's status: the slaves' answers and copies.
    let site: SiteStatusSource
    let senders: NotificationSenders
    let clock: any AgentClock
    let retryBase: TimeInterval
    let logger: Logger
    /// The agent's name, for a site without `site:`.
    let name: String
    /// Signalled when a run ends (`NotifyingObserver`).
    let changed: WakeSignal

    static let maxAttempts = 12
    static let retryMax: TimeInterval = 900

    init(
        scheduler: SyncScheduler, site: SiteStatusSource, senders: NotificationSenders, clock: any AgentClock,
        retryBase: TimeInterval, name: String, changed: WakeSignal, logger: Logger
    ) {
        self.changed = changed
        self.records = scheduler.notifications
        self.scheduler = scheduler
        self.site = site
        self.senders = senders
        self.clock = clock
        self.retryBase = retryBase
        self.name = name
        self.logger = logger
    }

    func loop() async {
        while !Task.isCancelled {
            let next = await step()
            await WakeSignal.first(of: [changed], orUntil: next, on: clock)
        }
    }

    /// One look and one round of sending; returns when to look again at the latest.
    func step() async -> Date {
        let start = clock.now()
        guard let settings = await scheduler.currentSettings().settings, let spec = settings.notify else {
            return start.addingTimeInterval(Double(NotifySpec.defaultCheckEvery.seconds))
        }
        evaluate(spec, settings: settings, projects: await scheduler.projectStates(), site: await siteStatus(settings))
        let retry = await deliver(spec, settings: settings)
        let next = start.addingTimeInterval(Double(spec.checkEvery.seconds))
        return min(next, retry ?? next)
    }

    func siteStatus(_ settings: AgentSettings) async -> SiteStatus? {
        settings.slaves.isEmpty ? nil : await site.status()
    }

    /// Records what changed since the last look, and queues its messages.
    func evaluate(_ spec: NotifySpec, settings: AgentSettings, projects: [String: ProjectState], site: SiteStatus?) {
        let now = clock.now()
        let current = NotifyConditions.of(projects: projects, site: site, spec: spec, now: now)
        let previous: [String: NotifyCondition]
        do { previous = try records.store.notifyConditions() } catch {
            logger.error("cannot read the notifications' conditions", metadata: ["error": "\(error)"])
            return
        }
        guard Set(current.keys) != Set(previous.keys) else { return }
        let events = NotifyConditions.changes(from: previous, to: current, at: now) { condition in
            condition.kind.isProject ? projects[condition.subject] != nil : settings.slaves[condition.subject] != nil
        }
        // A condition still in force is kept as it was told.
        let kept = current.merging(previous.filter { current[$0.key] != nil }) { $1 }
        let messages = NotifyConditions.route(events, spec: spec)
        do { try records.store.recordNotifications(conditions: kept, messages: messages, at: now) } catch {
            logger.error("cannot record notifications", metadata: ["error": "\(error)"])
            return
        }
        for event in events {
            logger.notice(
                "notify: \(NotificationText.summary(event))",
                metadata: ["targets": "\(messages.filter { $0.events.contains(event) }.map(\.target))"])
        }
    }

    /// Sends each target's due messages as one; returns when the next one waiting is due.
    func deliver(_ spec: NotifySpec, settings: AgentSettings) async -> Date? {
        let now = clock.now()
        let pending: [AgentStore.OutboxRow]
        let sent: [String: [Date]]
        do {
            pending = try records.store.pendingNotifications()
            sent = try records.store.sentNotifications(since: now.addingTimeInterval(-3_600))
        } catch {
            logger.error("cannot read the notifications' outbox", metadata: ["error": "\(error)"])
            return now.addingTimeInterval(retryBase)
        }
        let byTarget = Dictionary(grouping: pending, by: \.target)
        var next: Date?
        func later(_ date: Date) { next = min(next ?? date, date) }
        var due: [(target: String, rows: [AgentStore.OutboxRow])] = []
        for (target, rows) in byTarget.sorted(by: { $0.key < $1.key }) {
            var at = rows.map(\.nextAttemptAt).max() ?? now
            // The rate limit: the message that would be the (maxPerHour + 1)th in an hour waits for the oldest to age out.
            let times = sent[target] ?? []
            if times.count >= spec.maxPerHour { at = max(at, times[times.count - spec.maxPerHour] + 3_600) }
            if at > now {
                later(at)
            } else {
                due.append((target, rows))
            }
        }
        let results = await withTaskGroup(of: (String, [AgentStore.OutboxRow], NotifyFailure?).self) { group in
            for (target, rows) in due {
                group.addTask {
                    do throws(NotifyFailure) {
                        try await self.send(target, rows: rows, spec: spec, settings: settings, at: now)
                        return (target, rows, nil)
                    } catch {
                        return (target, rows, error)
                    }
                }
            }
            var out: [(String, [AgentStore.OutboxRow], NotifyFailure?)] = []
            for await result in group { out.append(result) }
            return out
        }
        for (target, rows, failure) in results {
            let ids = rows.map(\.id)
            guard let failure else {
                do { try records.store.markNotificationsSent(ids, at: clock.now()) } catch {
                    logger.error("cannot record a notification sent", metadata: ["error": "\(error)"])
                }
                logger.info("notification sent", metadata: ["target": "\(target)", "changes": "\(ids.count)"])
                continue
            }
            let attempts = (rows.map(\.attempts).max() ?? 0) + 1
            let gone = failure.message.hasPrefix(Self.gone)
            let retryAt =
                attempts >= Self.maxAttempts || gone
                ? nil
                : clock.now().addingTimeInterval(Backoff.delay(after: attempts, base: retryBase, max: Self.retryMax))
            do { try records.store.markNotificationsFailed(ids, error: failure.message, retryAt: retryAt) } catch {
                logger.error("cannot record a notification that failed", metadata: ["error": "\(error)"])
            }
            if let retryAt {
                later(retryAt)
                logger.warning(
                    "cannot send a notification; trying again",
                    metadata: ["target": "\(target)", "error": "\(failure.message)", "attempt": "\(attempts)"])
            } else {
                logger.error(
                    "gave up on a notification", metadata: ["target": "\(target)", "error": "\(failure.message)"])
            }
        }
        return next
    }

    static let gone = "no such target"

    /// Sends the rows of one target as one message.
    func send(_ target: String, rows: [AgentStore.OutboxRow], spec: NotifySpec, settings: AgentSettings, at now: Date)
        async throws(NotifyFailure)
    {
        let events = rows.flatMap(\.events)
        let delivery = "\(target)/\(rows.first!.id)-\(rows.last!.id)"
        let siteName = settings.site?.abbr ?? name
        let (kind, key) = target.split(separator: ":", maxSplits: 1).map(String.init).pair
        switch kind {
        case "webhook":
            guard let hook = spec.webhooks[key] else {
                throw NotifyFailure(message: "\(Self.gone) in notify: \(target)")
            }
            try await senders.webhook(
                hook, name: key, root: settings.root, site: siteName, delivery: delivery, events: events, at: now)
        case "mail", "route":
            guard let mail = kind == "mail" ? spec.mail[key] : spec.routes[key] else {
                throw NotifyFailure(message: "\(Self.gone) in notify: \(target)")
            }
            try await senders.mail(
                NotificationText.mail(
                    site: siteName, from: spec.from, to: mail.to, delivery: delivery, events: events, date: now))
        default:
            throw NotifyFailure(message: "\(Self.gone) in notify: \(target)")
        }
    }
}

extension Array where Element == String {
    /// The first two elements, "" for a missing one.
    fileprivate var pair: (String, String) { (first ?? "", count > 1 ? self[1] : "") }
}

/// Runs the notifier's loop as a service.
struct NotificationService: Service {
    let notifier: Notifier

    func run() async throws {
        await cancelWhenGracefulShutdown { await notifier.loop() }
    }
}

/// Tells the notifier of each run's end, then the observer it wraps.
struct NotifyingObserver: RunObserver {
    let inner: any RunObserver
    let changed: WakeSignal

    func runFinished(_ run: RunRecord, revision: Int, spec: AgentProjectSpec, settings: AgentSettings) async {
        changed.signal()
        await inner.runFinished(run, revision: revision, spec: spec, settings: settings)
    }
}
