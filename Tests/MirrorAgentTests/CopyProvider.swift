import Foundation
import Synchronization
@testable import MirrorAgent
import MirrorCore

/// A provider that is not rsync: it copies a local directory with the file system's own calls. It shows the seam
/// carrying a second provider through the run mechanics (`TreeRunner`) and the scheduler: the run's log, retries,
/// cancelling, atomic publication, the deletion cap and hooks are theirs, not the provider's.
final class CopyProvider: SyncProvider {
    /// Attempts that still fail, retryably, before one goes through.
    private let failures: Mutex<Int>
    /// While this file exists, a transfer waits (until it is cancelled).
    let hold: String?

    init(failures: Int = 0, hold: String? = nil) {
        self.failures = Mutex(failures)
        self.hold = hold
    }

    func accepts(_ source: SyncSource) -> Bool {
        if case .rsync(.local, nil) = source { return true }
        return false
    }

    func transfer(_ job: SyncJob, into mode: TransferMode, context: TransferContext) async -> SyncOutcome {
        context.activity?.note("copy: \(job.source) into \(job.destination)")
        if failures.withLock({ count in
            defer { count -= 1 }
            return count > 0
        }) {
            return SyncOutcome(
                result: .failed, reason: "copy-failed", message: "the copy failed on purpose", retryable: true)
        }
        while let hold, FileManager.default.fileExists(atPath: hold) {
            if Task.isCancelled {
                return SyncOutcome(result: .cancelled, reason: "cancelled", message: "the copy was stopped")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let fm = FileManager.default
        let source = job.source.localPath!
        let destination = job.destination
        let want = Self.files(source)
        let have = Self.files(destination)
        var deleted = 0
        if case .inPlace = mode {
            let extra = have.subtracting(want)
            let limit = job.deletionLimit(currentFiles: have.count)
            if extra.count > limit {
                return SyncOutcome(
                    result: .failed, reason: "deletion-cap",
                    message: "the upstream would delete \(extra.count) files, more than maxDelete allows (\(limit))")
            }
            for path in extra.sorted(by: >) where (try? fm.removeItem(atPath: destination + path)) != nil {
                deleted += 1
            }
        }
        var copied = 0
        for path in want.sorted() {
            let from = source + path
            let to = destination + path
            try? fm.createDirectory(
                atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if fm.contentsEqual(atPath: from, andPath: to) { continue }
            if case .build(let base?) = mode, fm.contentsEqual(atPath: from, andPath: base + "/" + path) {
                if (try? fm.linkItem(atPath: base + "/" + path, toPath: to)) != nil { continue }
            }
            try? fm.removeItem(atPath: to)
            do { try fm.copyItem(atPath: from, toPath: to) } catch {
                return SyncOutcome(
                    result: .failed, reason: "copy-failed", message: "cannot copy \(path): \(error)", retryable: true)
            }
            context.activity?.note("copied \(path)")
            copied += 1
        }
        return SyncOutcome(
            result: .success, message: "\(copied) files copied, \(deleted) deleted, \(want.count) in the tree",
            filesTransferred: copied, filesDeleted: deleted, filesTotal: want.count)
    }

    /// The regular files under `root`, as paths from it (starting with '/').
    static func files(_ root: String) -> Set<String> {
        var out: Set<String> = []
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        guard let walker = FileManager.default.enumerator(atPath: base) else { return out }
        while let path = walker.nextObject() as? String {
            if (walker.fileAttributes?[.type] as? FileAttributeType) == .typeRegular { out.insert("/" + path) }
        }
        return out
    }
}
