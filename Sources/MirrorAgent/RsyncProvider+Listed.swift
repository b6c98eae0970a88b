import Foundation
import Logging
import MirrorCore

/// A slave's pull by the master's change lists: at revision M, pulling N, it asks the master what revisions M+1..N
/// changed (`ChangeFeed`), and rsync brings only those paths (`--files-from`, `RsyncArguments.Pass.listed`) while the
/// slave deletes what the lists delete itself; the master's daemon walks nothing else. It walks the whole tree instead
/// on the first pull, when a list of the chain is missing, when the change names more than a list pays for
/// (`PullPlan.after`), and when a listed pull fails; and once `verifyEvery` has passed since the last full walk, a
/// full walk follows the listed pull, and whatever it still finds to change is drift.
///
/// In place: the changes of type first (a path whose type differs from the list's is removed), then every listed
/// path but the two-stage files, then the two-stage files with every listed directory, then the deletions (the
/// directories they change get back the times they had before them). `stage: site` splits that after the first
/// pass. Building a revision (`publish: atomic`): the served revision hard-linked into the new one without the listed
/// paths, then one pass of them all. The deletion cap is counted from the lists before anything is touched: past it,
/// nothing is copied or deleted.
extension RsyncProvider {
    func pull(
        _ job: SyncJob, into mode: TransferMode, password: String?, masterAPI: String, feed: any ChangeFeed,
        _ context: TransferContext
    ) async -> SyncOutcome {
        let started = feed.now()
        var reason: String
        switch PullPlan.before(
            served: job.servedRevision, pulling: job.pullingRevision,
            lastFullWalk: await feed.lastFullWalk(job.project),
            verifyEvery: job.verifyEvery, now: started)
        {
        case .full(let why): reason = why
        case .listed where job.walkWhole: reason = "asked for by hand"
        case .listed(let from, let to, let verify) where verify && job.stage != .whole:
            reason = "verifyEvery has passed since the last full walk (revisions \(from) to \(to))"
        case .listed(let from, let to, let verify):
            let fetched =
                from == to ? [] : await feed.lists(project: job.project, from: from, to: to, masterAPI: masterAPI)
            if let lists = fetched {
                let union = ChangeUnion(lists)
                if let tooLarge = PullPlan.after(union, treeEntries: job.previousFiles) {
                    reason = tooLarge
                } else {
                    context.activity?.note(
                        "incremental pull of revisions \(from) to \(to): \(union.transfers.count) paths to fetch, "
                            + "\(union.deletions.count) to delete")
                    var outcome = await listed(job, union, into: mode, password: password, context)
                    let summary = "incremental pull of revisions \(from) to \(to)"
                    guard outcome.result != .cancelled, outcome.reason != "deletion-cap" else { return outcome }
                    guard outcome.result.isSuccess else {
                        reason = "the incremental pull failed: \(outcome.message)"
                        context.logger.notice(
                            "the incremental pull failed; walking the whole tree",
                            metadata: [
                                "reason": "\(outcome.message)"
                            ])
                        return await walked(job, into: mode, password: password, reason: reason, feed, context)
                    }
                    outcome.message = summary + ": " + outcome.message
                    guard verify else { return outcome }
                    return await verified(
                        outcome, job, into: mode, password: password, summary: summary, feed, context)
                }
            } else {
                reason = "the master keeps no complete list of the changes from revision \(from) to \(to)"
            }
        }
        return await walked(job, into: mode, password: password, reason: reason, feed, context)
    }

    /// The whole tree, for `reason`; its time kept when it went well.
    func walked(
        _ job: SyncJob, into mode: TransferMode, password: String?, reason: String, _ feed: any ChangeFeed,
        _ context: TransferContext
    ) async -> SyncOutcome {
        context.activity?.note("full walk of the tree: \(reason)")
        let started = feed.now()
        var outcome = await walk(job, into: mode, password: password, context)
        if outcome.result.isSuccess, job.stage != .first { await feed.fullWalked(job.project, at: started) }
        outcome.message = "full walk (\(reason)): " + outcome.message
        return outcome
    }

    /// After a listed pull, the full walk `verifyEvery` asks for: what it still changes is drift.
    func verified(
        _ listed: SyncOutcome, _ job: SyncJob, into mode: TransferMode, password: String?, summary: String,
        _ feed: any ChangeFeed, _ context: TransferContext
    ) async -> SyncOutcome {
        context.activity?.note("full walk of the tree after the incremental pull: verifyEvery has passed")
        let started = feed.now()
        // A built revision is whole once the listed pass has run: the walk checks it where it stands.
        let check = await walk(job, into: .inPlace, password: password, context)
        guard check.result.isSuccess else { return check }
        await feed.fullWalked(job.project, at: started)
        // A file made anew is both created and transferred: counted once.
        let drift = max(check.filesTransferred ?? 0, check.filesCreated ?? 0) + (check.filesDeleted ?? 0)
        if drift > 0 { await feed.drift(job.project, entries: drift) }
        var outcome = check
        outcome.filesTransferred = (listed.filesTransferred ?? 0) + (check.filesTransferred ?? 0)
        outcome.bytesTransferred = (listed.bytesTransferred ?? 0) + (check.bytesTransferred ?? 0)
        outcome.filesDeleted = (listed.filesDeleted ?? 0) + (check.filesDeleted ?? 0)
        outcome.passSeconds = listed.passSeconds + check.passSeconds
        outcome.message =
            "\(summary), then a full walk (verifyEvery) that found "
            + (drift > 0 ? "\(drift) entries of drift" : "no drift") + ": " + check.message
        return outcome
    }

    /// The listed pull itself.
    func listed(
        _ job: SyncJob, _ union: ChangeUnion, into mode: TransferMode, password: String?, _ context: TransferContext
    ) async -> SyncOutcome {
        let root = job.destination
        let limit: Int
        if case .second(let held) = job.stage {
            limit = held
        } else {
            limit = job.deletionLimit(currentFiles: job.previousFiles ?? 0)
        }
        if union.deletedFiles > limit {
            let base = job.previousFiles.map { "of the \($0) files it held after its last pull" } ?? "of the tree"
            return SyncOutcome(
                result: .failed, reason: "deletion-cap",
                message:
                    "the master's changes would delete \(union.deletedFiles) files \(base), more than maxDelete "
                    + "\(job.maxDelete) allows (\(limit)); nothing was copied or deleted")
        }
        var passes: [Invocation] = []
        func run(_ items: [ChangeUnion.Item], delayUpdates: Bool) async -> SyncOutcome? {
            // Not the top: `--dirs` reads "." as the top and everything in it. Its own time and mode come with the
            // next full walk.
            let items = items.filter { !$0.path.isEmpty }
            guard !items.isEmpty else { return nil }
            let list = NSTemporaryDirectory() + "/mirrorsync-files-from-\(UUID().uuidString.lowercased())"
            let bytes: [UInt8] = items.flatMap { $0.path + [0] }
            guard FileManager.default.createFile(atPath: list, contents: Data(bytes)) else {
                return SyncOutcome(result: .failed, reason: "files-from", message: "cannot write the list \(list)")
            }
            defer { try? FileManager.default.removeItem(atPath: list) }
            let pass = await invoke(
                RsyncArguments.arguments(for: job, pass: .listed(filesFrom: list, delayUpdates: delayUpdates)),
                password: password, activity: context.activity, pass: passes.count + 1, limits: job,
                logger: context.logger)
            passes.append(pass)
            return failure(of: pass, pass: passes.count == 1 ? "first" : "second", allowing: [0, 24])
        }
        var deleted = 0
        if case .build(let base) = mode {
            guard let base else {
                return SyncOutcome(result: .failed, reason: "no-base", message: "no served revision to build on")
            }
            let made = await Task.detached { ListedTree.clone(base, into: root, without: union) }.value
            context.activity?.note("the new revision holds \(made) entries of the served one")
            if let failure = await run(union.transfers, delayUpdates: false) { return failure }
            deleted = union.deletedFiles
        } else {
            let later = union.transfers.filter { $0.twoStage }
            let first = union.transfers.filter { !$0.twoStage }
            // What the job's filters leave out (this host's trace files among them) rsync would not touch: nor does this.
            let kept = StagePatterns(job.exclude)
            // A path whose type changed goes before what replaces it comes.
            for item in job.stage == .first ? first : union.transfers
            where !kept.matches(item.path, isDirectory: item.kind == .directory) {
                if let kind = ListedTree.kind(root, item.path), kind != item.kind { ListedTree.remove(root, item.path) }
            }
            if !job.stage.isSecond, let failure = await run(first, delayUpdates: later.isEmpty) {
                return failure
            }
            if job.stage == .first {
                var staged = summary(job, passes, deleted: 0)
                staged.message =
                    "stage 1 of 2: " + staged.message
                    + "; \(union.deletedFiles) to delete and the index files wait for stage 2"
                staged.deletionLimit = limit
                return staged
            }
            // The two-stage files (the index) before anything goes that the old index names, as ftpsync deletes
            // after its second stage, with every hard-linked file when one of them is (rsync links only among the
            // files of one pass), and the directories again for their times.
            let linked = later.contains { $0.hardLinked } ? first.filter { $0.hardLinked } : []
            let index = later.isEmpty ? [] : later + linked + union.directories
            if let failure = await run(index, delayUpdates: false) { return failure }
            // The directories now hold the master's times; a deletion changes its parent's, which is put back here
            // rather than by one more connection to the master.
            let times = ListedTree.times(root, of: union.deletionParents)
            for item in union.deletions
            where !kept.matches(item.path, isDirectory: item.kind == .directory)
                && ListedTree.kind(root, item.path) != nil
            {
                if ListedTree.remove(root, item.path), item.kind != .directory { deleted += 1 }
            }
            ListedTree.restore(root, times)
        }
        var outcome = summary(job, passes, deleted: deleted)
        if case .second = job.stage { outcome.message = "stage 2 of 2: " + outcome.message }
        return outcome
    }

    func summary(_ job: SyncJob, _ passes: [Invocation], deleted: Int) -> SyncOutcome {
        let transferred = passes.map { $0.report.filesTransferred ?? 0 }.reduce(0, +)
        let bytes = passes.map { $0.report.bytesTransferred ?? 0 }.reduce(0, +)
        let vanished = passes.contains { $0.exitCode == 24 }
        var outcome = SyncOutcome(
            result: vanished ? .warning : .success, exitCode: passes.last?.exitCode ?? 0,
            reason: vanished ? "vanished-files" : nil,
            message: "\(transferred) files (\(bytes) bytes) copied, \(deleted) deleted"
                + (vanished ? "; files vanished on the master while they were copied" : ""),
            filesTransferred: transferred, bytesTransferred: bytes, filesDeleted: deleted,
            filesTotal: job.previousFiles, stderrTail: passes.last?.stderrTail ?? [])
        outcome.passSeconds = passes.map(\.seconds)
        outcome.bytesReceived = passes.compactMap(\.report.bytesReceived).reduce(0, +)
        return outcome
    }
}

extension SyncStage {
    /// A slave's second stage, which runs no first pass.
    var isSecond: Bool {
        if case .second = self { return true }
        return false
    }
}
