import Foundation
import MirrorCore

// What the API asks of the scheduler: settings and projects put and removed, runs asked for, a slave following the
// master's revisions.

extension SyncScheduler {
    /// Stores and applies new settings; the same settings twice is one change.
    public func putSettings(_ new: AgentSettings) throws(SchedulerError) -> PutResponse {
        let change: PutResponse.Change
        do { change = try store.putSettings(new, at: clock.now()) } catch { throw SchedulerError(error) }
        settings = new
        settingsGeneration = Generation.of(new)
        wake.signal()
        if change != .unchanged { projectsDidChange() }
        return PutResponse(name: "settings", generation: settingsGeneration!, change: change)
    }

    /// Stores a project's spec and schedules it; the same spec twice is one change.
    public func putProject(_ name: String, spec: AgentProjectSpec, managed: Bool = false) throws(SchedulerError)
        -> PutResponse
    {
        let response: PutResponse
        // One moment for the store and the entry, so that the project's addedAt reads the same after a restart.
        let now = clock.now()
        do { response = try store.putProject(name, spec: spec, managed: managed, at: now) } catch {
            throw SchedulerError(error)
        }
        if entries[name]?.managed != managed { entries[name]?.managed = managed }
        guard response.change != .unchanged else { return response }
        if var entry = entries[name] {
            entry.spec = spec
            entry.generation = response.generation
            entries[name] = entry
            if spec.suspended, let queued = entry.queued {
                dropQueued(name, queued, because: "the project was suspended")
            }
        } else {
            entries[name] = Entry(
                spec: spec, generation: response.generation, revision: 0, addedAt: now, managed: managed)
        }
        logger.info(
            "project \(response.change.rawValue)",
            metadata: ["project": "\(name)", "generation": "\(response.generation)"])
        wake.signal()
        projectsDidChange()
        return response
    }

    /// Forgets a project: a run in progress is stopped; its files are kept unless `purge`.
    public func removeProject(_ name: String, purge: Bool) async throws(SchedulerError) {
        guard let entry = entries.removeValue(forKey: name) else { throw .notFound(name) }
        ready.removeAll { $0 == name }
        do { _ = try store.deleteProject(name) } catch {
            entries[name] = entry
            throw SchedulerError(error)
        }
        if let running = entry.running {
            running.task.cancel()
            await running.task.value
        }
        if let queued = entry.queued { activities.removeValue(forKey: queued.id)?.end() }
        // The master's change lists go with the project: one put again under the name starts from revision 0.
        await execution.changes?.forget(name)
        if purge, let root = settings?.root {
            // Out of the way at once (a rename, so that a project put again under the name starts afresh), then
            // deleted off the actor: a mirror's tree can take minutes to delete.
            let tree = root + "/" + entry.spec.path
            // A tree published by revisions is a link; its revisions go with it, and its run logs.
            let targets = [tree, RevisionTree(destination: tree).store].map { path in
                let doomed = root + "/.mirrorsync-purge-" + UUID().uuidString.lowercased()
                return rename(path, doomed) == 0 ? doomed : path
            }
            let logFolder = logs.map { $0.directory + "/" + name }
            let failure = await Task.detached { () -> String? in
                do {
                    for target in targets + [logFolder].compactMap({ $0 })
                    where FileManager.default.fileExists(atPath: target) {
                        try FileManager.default.removeItem(atPath: target)
                    }
                    return nil
                } catch {
                    return "\(error)"
                }
            }.value
            if let failure {
                logger.error(
                    "cannot delete the project's files", metadata: ["project": "\(name)", "error": "\(failure)"])
            }
        }
        logger.info("project removed", metadata: ["project": "\(name)", "purge": "\(purge)"])
        wake.signal()
        projectsDidChange()
    }

    /// Ends a queued run before it started; returns it as recorded.
    @discardableResult
    func dropQueued(_ name: String, _ queued: RunRecord, because reason: String) -> RunRecord {
        var run = queued
        run.result = .cancelled
        run.endedAt = clock.now()
        run.message = reason
        run = (try? store.finishRun(run)) ?? run
        entries[name]?.queued = nil
        ready.removeAll { $0 == name }
        activities.removeValue(forKey: queued.id)?.end()
        return run
    }

    /// Queues a run now (or returns the one already queued). On a slave, `revision` is the master's revision that
    /// the run is to bring; a run already in progress brings an older one, so one more is queued behind it.
    public func requestRun(_ name: String, trigger: RunTrigger = .request, revision: Int? = nil) throws(SchedulerError)
        -> RunRecord
    {
        guard let entry = entries[name] else { throw .notFound(name) }
        if entry.spec.suspended {
            throw SchedulerError(
                kind: .conflict, message: "project '\(name)' is suspended; set suspended: false to sync it")
        }
        if let revision { entries[name]?.wantedRevision = revision }
        if entry.running != nil, entry.queued == nil { markUpdateRequired(name, entry) }
        return try queue(name, trigger: trigger)
    }

    /// On a slave: the master's revisions, as it answered a catch-up. Every project whose revision differs from the
    /// one this slave serves, and that is not already running or queued, is queued; returns their names.
    @discardableResult
    public func follow(revisions: [String: Int]) -> [String] {
        var queued: [String] = []
        for name in entries.keys.sorted() {
            guard let revision = revisions[name], var entry = entries[name] else { continue }
            if entry.wantedRevision != revision {
                entry.wantedRevision = revision
                entries[name] = entry
            }
            guard revision != entry.revision, !entry.spec.suspended, entry.running == nil, entry.queued == nil,
                !isWaitingForSecondStage(entry, of: revision)
            else { continue }
            if (try? queue(name, trigger: .catchUp)) != nil { queued.append(name) }
        }
        return queued
    }
}
