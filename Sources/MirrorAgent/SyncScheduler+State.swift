import Foundation
import MirrorCore

// What the scheduler holds, as the API, the status page and the rsync daemon read it: projects' states and the
// changes since a version, runs, revisions, the settings, the modules.

extension SyncScheduler {
    /// What the master's rsync daemon serves: the settings, and a module per project at its tree.
    public func rsyncdModules() -> (settings: AgentSettings?, modules: [RsyncdConfig.Module]) {
        guard let settings else { return (nil, []) }
        return (
            settings, entries.map { RsyncdConfig.Module(name: $0.key, path: settings.root + "/" + $0.value.spec.path) }
        )
    }

    public func projectSpec(_ name: String) -> AgentProjectSpec? { entries[name]?.spec }

    /// The master's revision of every project it holds.
    public func revisions() -> [String: Int] { entries.mapValues(\.revision) }

    /// For a run of `name` that succeeded and is not yet recorded: the revision it becomes, its tree and its two-stage
    /// patterns, for its change list. On the master, the next revision; on a slave that others pull from (a tier),
    /// the master's revision the run pulled, so that the slaves below it pull by lists too; nil on any other slave.
    func listing(_ name: String) -> (revision: Int, tree: String, twoStage: [String])? {
        guard let entry = entries[name], let root = settings?.root else { return nil }
        let revision: Int
        switch role {
        case .master: revision = entry.revision + 1
        case .slave:
            guard !entry.spec.slaves.isEmpty, let pulled = entry.running?.pulling else { return nil }
            revision = pulled
        }
        return (revision, root + "/" + entry.spec.path, entry.spec.twoStage)
    }

    public func run(_ id: Int64) throws(SchedulerError) -> RunRecord? {
        for entry in entries.values {
            if let running = entry.running, running.record.id == id {
                var record = running.record
                record.progress = activities[id]?.progress
                return record
            }
            if let queued = entry.queued, queued.id == id { return queued }
        }
        do { return try store.run(id) } catch { throw SchedulerError(error) }
    }

    /// A project's newest runs, newest first, the one in progress as it stands now (for the status page).
    public func runs(_ name: String, limit: Int) throws(SchedulerError) -> [RunRecord] {
        var runs: [RunRecord]
        do { runs = try store.runs(project: name, limit: limit) } catch { throw SchedulerError(error) }
        if let live = entries[name]?.running?.record, let index = runs.firstIndex(where: { $0.id == live.id }) {
            runs[index] = live
        }
        return runs
    }

    public func projectStates() -> [String: ProjectState] {
        entries.reduce(into: [:]) { out, item in out[item.key] = projectState(item.key, item.value) }
    }

    /// A project's state as `GET /v1/state` shows it.
    func projectState(_ name: String, _ entry: Entry) -> ProjectState {
        let activity: ProjectStatus.Activity =
            entry.running != nil
            ? (entry.running?.retry != nil ? .retrying : .running)
            : entry.queued != nil ? .queued : entry.spec.suspended ? .suspended : .idle
        let status = ProjectStatus(
            activity: activity, revision: entry.revision, lastRun: entry.lastRun,
            lastSuccessAt: entry.lastSuccessAt, nextRunAt: due(name, entry).flatMap { $0 == .distantPast ? nil : $0 },
            currentRunID: entry.running?.record.id ?? entry.queued?.id, lastStartedAt: entry.lastStartAt,
            lastEndedAt: entry.lastEndAt, sizeBytes: entry.syncedBytes, addedAt: entry.addedAt,
            stuck: entry.failures.flatMap { $0.isStuck ? $0 : nil }, retry: entry.running?.retry)
        return ProjectState(spec: entry.spec, generation: entry.generation, status: status, managed: entry.managed)
    }

    /// The state's version, and the states of the projects that changed since `version`: nil for one removed since.
    /// What a reader that holds every state as of `version` needs to hold them as of now.
    public func projectStates(changedSince version: UInt64) -> (version: UInt64, changed: [String: ProjectState?]) {
        // The idle case, at every `GET /v1/state`: nothing to look through.
        guard version != stateVersion else { return (stateVersion, [:]) }
        var changed: [String: ProjectState?] = [:]
        for name in entries.changed(since: version) {
            changed[name] = .some(entries[name].map { projectState(name, $0) })
        }
        return (stateVersion, changed)
    }

    public func currentSettings() -> (settings: AgentSettings?, generation: String?) {
        (settings, settingsGeneration)
    }
}
