import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// rsync processes that outlived an agent killed with SIGKILL: they keep their own process group, so nothing
/// stops them, and a new run into the same tree must not race them. Found through /proc by what they write to.
enum OrphanedRsync {
    /// Ends (SIGTERM, then SIGKILL after `grace`) every rsync whose destination is one of `destinations`.
    @discardableResult
    static func stop(writingTo destinations: Set<String>, grace: TimeInterval = 5) -> [pid_t] {
        guard !destinations.isEmpty else { return [] }
        return stop(grace: grace) { argv in argv.last(where: { !$0.isEmpty }).map(destinations.contains) ?? false }
    }

    /// Ends every rsync whose arguments `matches` accepts: a daemon is found by its `--config=` file.
    @discardableResult
    static func stop(grace: TimeInterval = 5, matching matches: ([String]) -> Bool) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let argv = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard let first = argv.first, (first as NSString).lastPathComponent == "rsync", matches(argv) else { continue }
            found.append(pid)
        }
        for pid in found {
            let group = getpgid(pid)
            if group > 1 && group != getpgrp() { kill(-group, SIGTERM) } else { kill(pid, SIGTERM) }
        }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline, found.contains(where: { kill($0, 0) == 0 }) { usleep(50_000) }
        for pid in found where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        return found
    }
}
