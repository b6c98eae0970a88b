import Foundation
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

@Suite("Faults: SIGTERM to an agent in any state", .serialized)
struct GracefulStopTests {
    /// The bound docs/operations.md documents for an agent's graceful stop.
    static let bound = 10.0

    /// Sends SIGTERM and times the exit.
    func timedStop(_ site: KillSite, _ name: String) async -> (status: Int32, seconds: Double) {
        let start = Date()
        let status = await site.processes[name]?.stop(SIGTERM) ?? -1
        return (status, Date().timeIntervalSince(start))
    }

    @Test(
        "idle, with triggers pending to slaves that are gone, mid-sync, and mid-sync with an rsync that does not end on SIGTERM: each agent exits 0 within the bound, having recorded the interrupted run"
    )
    func stopsWithinBound() async throws {
        // A short --timeout: the watch's reconciles with slaves gone end soon, and the next edit is applied soon after.
        let site = try KillSite(timeout: 5)
        for name in site.agents + ["reconcile"] { try site.start(name) }
        try await eventually("both slaves at revision 1", seconds: 60) {
            let (a, b) = try await (site.state("a"), site.state("b"))
            return a.projects["linux"]?.status.revision == 1 && b.projects["linux"]?.status.revision == 1
        }
        var figures: [String] = []

        // Idle: a slave with nothing to do.
        let idle = await timedStop(site, "a")
        figures.append(String(format: "idle slave %.2f s", idle.seconds))
        #expect(idle.status == 0 && idle.seconds < Self.bound)

        // The master with triggers pending to slaves that are gone: both slaves killed, then a new revision.
        site.processes["b"]?.kill(SIGKILL)
        _ = await site.processes["b"]?.stop(SIGKILL)
        try Data("more\n".utf8).write(to: URL(fileURLWithPath: site.upstream + "/linux/more.txt"))
        _ = try await site.request("master", "POST", "/v1/projects/linux/sync")
        try await eventually("the master at revision 2", seconds: 30) {
            try await site.state("master").projects["linux"]?.status.revision == 2
        }
        try await eventually("the master's triggers to the gone slaves failing", seconds: 30) {
            (try? String(contentsOfFile: site.scratch.path + "/master.log", encoding: .utf8))?.contains("; retrying")
                == true
        }
        let pending = await timedStop(site, "master")
        figures.append(String(format: "master with triggers pending to gone slaves %.2f s", pending.seconds))
        #expect(pending.status == 0 && pending.seconds < Self.bound)

        // Mid-sync: the site whole again, and a large file coming to the master at 256 KiB/s.
        for name in site.agents { try site.start(name) }
        try site.writeConfig(variant: 0, bandwidthLimit: "256KiB")
        try await eventually("the master given the bandwidth limit", seconds: 60) {
            try await site.state("master").projects["linux"]?.spec.upstream.bandwidthLimit != nil
        }
        try await eventually("the master idle", seconds: 30) {
            try await site.state("master").projects["linux"]?.status.activity == .idle
        }
        try Tree.generate(at: site.upstream + "/linux/large", files: 1, bytes: 8 << 20, seed: 2)
        let midSync = try await stopMidSync(site, freezing: false)
        figures.append(String(format: "master mid-sync %.2f s", midSync))

        // Mid-sync with an rsync that does not end on SIGTERM, as one stuck on a hung disk: rsync installs its own
        // SIGTERM handler, so ignoring the signal cannot be inherited; stopped (SIGSTOP), it holds SIGTERM pending and
        // only the SIGKILL to its process group after the grace ends it.
        let frozen = try await stopMidSync(site, freezing: true)
        figures.append(String(format: "master mid-sync with rsync not ending on SIGTERM %.2f s", frozen))
        print("graceful stop: " + figures.joined(separator: "; "))
        await site.stopAll()
    }

    /// Asks the master to sync, and once both of its rsync processes (generator and receiver) are copying the large
    /// file, stops the master (after SIGSTOP to those rsyncs, when `freezing`): it exits 0 within the bound, no rsync of
    /// the site is left in /proc, and, started again, the master has the run recorded interrupted. Gives the exit time.
    func stopMidSync(_ site: KillSite, freezing: Bool) async throws -> Double {
        _ = try await site.request("master", "POST", "/v1/projects/linux/sync")
        let tree = site.scratch.path + "/master-root/linux"
        try await eventually("the master syncing the large file", seconds: 30) {
            try await site.state("master").projects["linux"]?.status.activity == .running
                && site.rsyncProcesses().count >= 2
        }
        let running = try #require(try await site.state("master").projects["linux"]?.status.currentRunID)
        let rsyncs = site.rsyncProcesses()
        // Whatever happens below, nothing stays stopped behind the test (only what is still this site's rsync).
        defer {
            let left = Set(site.rsyncProcesses().map(\.pid))
            if freezing { for rsync in rsyncs where left.contains(rsync.pid) { kill(rsync.pid, SIGKILL) } }
        }
        if freezing {
            for rsync in rsyncs { kill(rsync.pid, SIGSTOP) }
            try await eventually("the rsyncs stopped", seconds: 10) {
                rsyncs.allSatisfy { Self.state(of: $0.pid) == "T" }
            }
        }
        let stop = await timedStop(site, "master")
        #expect(stop.status == 0 && stop.seconds < Self.bound, "exit \(stop.status) after \(stop.seconds) s")
        #expect(site.rsyncs().isEmpty, "the master left its rsync: \(site.rsyncs())")
        #expect(!rsyncRunning(into: tree), "the master left its rsync running")
        try site.start("master")
        let cut = try APICoding.decoder().decode(
            RunRecord.self, from: try await site.request("master", "GET", "/v1/projects/linux/runs/\(running)"))
        #expect(cut.result == .interrupted, "\(cut)")
        return stop.seconds
    }

    /// A process's state letter from /proc (`T`: stopped), or nil once it is gone.
    static func state(of pid: pid_t) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].first { $0 != " " }
    }
}
