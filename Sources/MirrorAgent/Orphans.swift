import Foundation
import MirrorProcess
#if canImport(Glibc)
    import Glibc
#endif

/// rsync processes that outlived an agent killed with SIGKILL: they keep their own process group, so nothing
/// stops them, and a new run into the same tree must not race them. Found through /proc by what they write to.
enum OrphanedRsync {
    /// Ends every rsync whose arguments `matches` accepts: a run's by its destination, a daemon by its `--config=` file.
    @discardableResult
    static func stop(grace: TimeInterval = 5, matching matches: ([String]) -> Bool) -> [pid_t] {
        LeftoverProcesses.stop(grace: grace) { argv in LeftoverProcesses.program(argv) == "rsync" && matches(argv) }
            .map(\.pid)
    }
}
