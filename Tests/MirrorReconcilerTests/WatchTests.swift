import Foundation
import Testing
import MirrorCore
@testable import MirrorReconciler
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

@Suite("The inotify watcher (real inotify on temporary directories)", .serialized)
struct WatcherTests {
    /// Runs a watcher on `directory` and collects its batches.
    final class Running: Sendable {
        let watcher: InotifyWatcher
        let batches: Collected<DirectoryChange>
        let task: Task<Void, Never>
        let reader: Task<Void, Never>

        private init(
            watcher: InotifyWatcher, task: Task<Void, Never>, reader: Task<Void, Never>,
            batches: Collected<DirectoryChange>
        ) {
            (self.watcher, self.task, self.reader, self.batches) = (watcher, task, reader, batches)
        }

        static func start(_ directory: String) throws -> Running {
            start(watcher: try InotifyWatcher(directory: directory, logger: testLogger))
        }

        static func start(watcher: InotifyWatcher) -> Running {
            let batches = Collected<DirectoryChange>()
            let task = Task<Void, Never> { try? await watcher.run() }
            let reader = Task { for await change in watcher.changes { batches.append(change) } }
            return Running(watcher: watcher, task: task, reader: reader, batches: batches)
        }

        var files: Set<String> { batches.all.reduce(into: []) { $0.formUnion($1.files) } }

        /// Writes a file nobody else touches and waits for its event: the kernel queues a watch's events in order, so
        /// every event before it has been read by then. Returns the marker's name.
        @discardableResult
        func mark(_ directory: String) async throws -> String {
            let marker = "zz-marker-\(UUID().uuidString.prefix(6)).yaml"
            try Edit.inPlace(directory + "/" + marker, "")
            #expect(await eventually { self.files.contains(marker) })
            return marker
        }

        /// `mark`, then forgets every batch so far.
        func settle(_ directory: String) async throws {
            try await mark(directory)
            batches.removeAll()
        }

        func stop() async {
            task.cancel()
            await task.value
            await reader.value
        }
    }

    @Test("an in-place write, an atomic rename, a delete and vim's save are each seen as a change of that file alone")
    func fileChanges() async throws {
        let scratch = Scratch("watch")
        let dir = scratch.sub("mirrors.d")
        try Edit.inPlace(dir + "/a.yaml", "master: {}\n")
        let running = try Running.start(dir)
        try Edit.inPlace(dir + "/a.yaml", "intervals: {}\n")
        #expect(await eventually { running.files == ["a.yaml"] })
        try await running.settle(dir)
        try Edit.atomic(dir + "/b.yaml", "projects: {}\n")
        #expect(await eventually { running.files == ["b.yaml"] })
        try await running.settle(dir)
        unlink(dir + "/b.yaml")
        #expect(await eventually { running.files == ["b.yaml"] })
        try await running.settle(dir)
        try Edit.vim(dir + "/a.yaml", "slaves: {}\n")
        let marker = try await running.mark(dir)
        #expect(
            running.files.subtracting([marker]) == ["a.yaml"],
            "the swap file, 4913 and the backup a.yaml~ are not config files")
        await running.stop()
    }

    @Test("a new subdirectory, hidden files and editor leftovers raise nothing; a link to a file does")
    func ignored() async throws {
        let scratch = Scratch("watch")
        let dir = scratch.sub("mirrors.d")
        let running = try Running.start(dir)
        mkdir(dir + "/archive.yaml", 0o755)
        mkdir(dir + "/old", 0o755)
        try Edit.inPlace(dir + "/old/x.yaml", "")
        for name in [".hidden.yaml", ".#a.yaml", "a.yaml~", "#a.yaml#", "notes.txt", ".a.yaml.swp"] {
            try Edit.inPlace(dir + "/" + name, "")
        }
        try Edit.inPlace(scratch.path + "/elsewhere.yaml", "")
        symlink(scratch.path + "/elsewhere.yaml", dir + "/linked.yaml")
        #expect(await eventually { running.files.contains("linked.yaml") })
        #expect(running.batches.all.allSatisfy { !$0.overflow && !$0.directoryReplaced })
        #expect(running.files == ["linked.yaml"])
        await running.stop()
    }

    @Test(
        "a symlink flip of the directory (ln -sfn) moves the watch to the new target; the old one is no longer watched")
    func symlinkFlip() async throws {
        let scratch = Scratch("watch")
        let one = scratch.sub("releases/1")
        let two = scratch.sub("releases/2")
        symlink("releases/1", scratch.path + "/mirrors.d")
        let running = try Running.start(scratch.path + "/mirrors.d")
        let ln = Process()
        ln.executableURL = URL(fileURLWithPath: "/bin/ln")
        ln.arguments = ["-sfn", "releases/2", scratch.path + "/mirrors.d"]
        try ln.run()
        ln.waitUntilExit()
        #expect(await eventually { running.batches.all.contains { $0.directoryReplaced } })
        running.batches.removeAll()
        try Edit.inPlace(one + "/old.yaml", "")
        try Edit.inPlace(two + "/new.yaml", "")
        let marker = try await running.mark(two)
        #expect(
            running.files.subtracting([marker]) == ["new.yaml"],
            "old.yaml was written first: had its directory still been watched, its event would have come before the marker's"
        )
        await running.stop()
    }

    static let queueLimit = "/proc/sys/fs/inotify/max_queued_events"
    /// Whether this test may set the kernel's queue limit: it writes the value back as it is.
    static let queueLimitSettable: Bool = {
        guard let value = try? String(contentsOfFile: queueLimit, encoding: .utf8) else { return false }
        return (try? value.write(toFile: queueLimit, atomically: false, encoding: .utf8)) != nil
    }()

    @Test(
        "the kernel's queue overflow is reported (with max_queued_events at 16 for this watcher)",
        .enabled(
            if: queueLimitSettable,
            "max_queued_events cannot be set here; WatchLoopTests simulate the overflow at the protocol"))
    func overflow() async throws {
        let knob = Self.queueLimit
        let saved = try String(contentsOfFile: knob, encoding: .utf8)
        try "16\n".write(toFile: knob, atomically: false, encoding: .utf8)
        let scratch = Scratch("watch")
        let dir = scratch.sub("mirrors.d")
        // The limit is read when an inotify instance starts: set for this one only, then put back.
        let watcher = Result { try InotifyWatcher(directory: dir, logger: testLogger) }
        try saved.write(toFile: knob, atomically: false, encoding: .utf8)
        // 100 changes while nobody reads: the kernel keeps 16 and then says it dropped the rest.
        for i in 0..<100 { try Edit.inPlace(dir + "/f\(i).yaml", "") }
        let running = Running.start(watcher: try watcher.get())
        #expect(await eventually { running.batches.all.contains { $0.overflow } })
        await running.stop()
    }
}

@Suite("reconcile --watch: the watch loop against live agents", .serialized)
struct WatchLoopTests {
    /// A site with a master and a slave, its mirrors.d in `site.yaml`, and the watch loop running on it.
    /// With `clock`, the debounce window closes only when the test moves it (`WatchedSite.closeWindow`).
    static func start(
        _ names: String..., options: WatchOptions = .init(debounce: 0.03), watcher: (any DirectoryWatcher)? = nil,
        directory: String? = nil, clock: ManualClock? = nil
    ) async throws -> (WatchedSite, String) {
        let site = try LiveSite(slaves: ["ftp1"])
        for name in ["master", "ftp1"] { try await site.start(name) }
        let dir = directory ?? site.scratch.sub("mirrors.d")
        try Edit.atomic(dir + "/site.yaml", site.yaml(projects(names.isEmpty ? ["a"] : names)))
        let watched = try WatchedSite.start(site, directory: dir, watcher: watcher, options: options, clock: clock)
        try await watched.closeWindow()
        let first = try #require(await watched.run(after: 0))
        #expect(first.triggers == [.start] && first.report?.converged == true)
        return (watched, dir)
    }

    /// Suspended projects: the agents hold them and run nothing.
    private static func projects(_ names: [String]) -> String {
        names.map { "  \($0): { upstream: local, interval: hourly, suspended: true }" }.joined(separator: "\n")
    }

    @Test("an in-place write, an atomic rename, a new file, a delete and vim's save each reconcile once, and converge")
    func edits() async throws {
        // The debounce window closes when the test says, once every event of the save has reached the loop: however
        // slowly a loaded machine goes through vim's four steps, they fall in one window.
        let (watched, dir) = try await Self.start("a", clock: ManualClock())
        let site = watched.site
        let steps: [(String, () throws -> Void, [String])] = [
            ("in place", { try Edit.inPlace(dir + "/site.yaml", site.yaml(Self.projects(["a", "b"]))) }, ["a", "b"]),
            (
                "atomic", { try Edit.atomic(dir + "/site.yaml", site.yaml(Self.projects(["a", "b", "c"]))) },
                ["a", "b", "c"]
            ),
            (
                "new file", { try Edit.atomic(dir + "/extra.yaml", "projects:\n" + Self.projects(["d"])) },
                ["a", "b", "c", "d"]
            ),
            ("delete", { unlink(dir + "/extra.yaml") }, ["a", "b", "c"]),
            ("vim", { try Edit.vim(dir + "/site.yaml", site.yaml(Self.projects(["a", "c"]))) }, ["a", "c"]),
        ]
        for (count, (label, edit, expected)) in steps.enumerated() {
            try edit()
            try await watched.flush()
            let run = try #require(await watched.run(after: count + 1), "\(label)")
            #expect(run.triggers == [.fileEvent], "\(label)")
            #expect(run.report?.converged == true, "\(label)")
            #expect(try await watched.projects("master") == expected, "\(label)")
            #expect(try await watched.projects("ftp1") == expected, "\(label)")
            #expect(watched.runs.count == count + 2, "\(label): one reconcile for one save")
        }
        await watched.stopAll()
    }

    @Test(
        "100 rapid writes (a git checkout) within the debounce are one reconcile of the final text; a burst that never pauses is reconciled maxDelay after it began"
    )
    func burst() async throws {
        let clock = ManualClock()
        let (watched, dir) = try await Self.start("a", options: .init(debounce: 0.04, maxDelay: 0.5), clock: clock)
        for i in 0..<100 {
            try Edit.inPlace(dir + "/site.yaml", watched.site.yaml(Self.projects(["a", "p\(i)"])))
        }
        try await watched.flush()
        let burst = try #require(await watched.run(after: 1))
        #expect(burst.triggers == [.fileEvent] && burst.report?.converged == true)
        #expect(try await watched.projects("master") == ["a", "p99"])

        // A write every 1/32 s, each inside the window of the one before: the loop waits until 0.5 s after the first.
        let step = 1.0 / 32
        for i in 0..<16 {
            try Edit.inPlace(dir + "/site.yaml", watched.site.yaml(Self.projects(["a", "q\(i)"])))
            try await watched.mark()
            #expect(watched.runs.count == 2, "write \(i): reconciled before the burst paused or reached maxDelay")
            clock.advance(by: step)
        }
        let long = try #require(await watched.run(after: 2))
        let waited = long.startedAt.timeIntervalSince(long.firstTriggerAt)
        #expect(abs(waited - 0.5) < 0.001, "started \(waited) s after the first write")
        #expect(try await watched.projects("master") == ["a", "q15"])
        await watched.stopAll()
    }

    @Test(
        "an invalid edit applies nothing, logs file:line:column, marks the agents Stalled/InvalidConfig; the fix applies at once"
    )
    func invalidThenFixed() async throws {
        let (watched, dir) = try await Self.start("a")
        try Edit.atomic(dir + "/extra.yaml", "projects:\n  b: { upstream: local, intervall: hourly }\n")
        let invalid = try #require(await watched.run(after: 1))
        #expect(invalid.report == nil)
        #expect(
            invalid.diagnostics.contains {
                $0.description.hasPrefix(dir + "/extra.yaml:2:25: error: unknown key 'intervall'")
            },
            "\(invalid.diagnostics.map(\.description))")
        #expect(invalid.conditions.map(\.agent).sorted() == ["ftp1", "master"])
        #expect(
            invalid.conditions.allSatisfy { $0.condition.status == .stalled && $0.condition.reason == "InvalidConfig" })
        #expect(
            invalid.conditions.first { $0.agent == "master" }?.projects["a"] != nil, "the last good state's projects")
        #expect(try await watched.projects("master") == ["a"])
        try Edit.atomic(dir + "/extra.yaml", "projects:\n" + Self.projects(["b"]))
        let fixed = try #require(await watched.run(after: 2))
        #expect(fixed.report?.converged == true && fixed.conditions.allSatisfy { $0.condition.reason == "Converged" })
        #expect(try await watched.projects("master") == ["a", "b"])
        await watched.stopAll()
    }

    @Test(
        "changes during a reconcile make exactly one more, never two at once; graceful shutdown lets the one in progress end"
    )
    func coalescing() async throws {
        let (watched, dir) = try await Self.start("a", clock: ManualClock())
        watched.gate.close()
        try Edit.inPlace(dir + "/site.yaml", watched.site.yaml(Self.projects(["a", "b"])))
        try await watched.flush()
        #expect(await eventually { watched.gate.waiting > 0 }, "the reconcile is held at its first call")
        for i in 0..<5 {
            try Edit.inPlace(dir + "/site.yaml", watched.site.yaml(Self.projects(["a", "b", "c\(i)"])))
        }
        watched.loop.reload()
        // Every change has reached the loop while its reconcile is held; none can start another meanwhile.
        try await watched.mark()
        #expect(watched.runs.count == 1)
        watched.gate.open()
        let held = try #require(await watched.run(after: 1))
        try await watched.closeWindow()
        let next = try #require(await watched.run(after: 2))
        #expect(held.report?.converged == true)
        #expect(next.triggers == [.fileEvent, .sighup] && next.startedAt >= held.endedAt)
        #expect(try await watched.projects("master") == ["a", "b", "c4"])
        // Exactly one more: the next change is a reconcile of its own, with nothing of the held one's left over.
        try await watched.flush()
        let after = try #require(await watched.run(after: 3))
        #expect(after.triggers == [.fileEvent] && after.report?.plan.isEmpty == true, "\(after.triggers)")

        // Shutdown while a reconcile is held: it ends, converged, and no other starts.
        watched.gate.close()
        try Edit.inPlace(dir + "/site.yaml", watched.site.yaml(Self.projects(["a", "b", "e"])))
        try await watched.flush()
        #expect(await eventually { watched.gate.waiting > 0 })
        let stopping = Task { await watched.stop() }
        #expect(await eventually { watched.loop.isStopping })
        try Edit.inPlace(dir + "/site.yaml", watched.site.yaml(Self.projects(["a", "b", "f"])))
        watched.gate.open()
        await stopping.value
        #expect(watched.runs.count == 5 && watched.runs.all[4].report?.converged == true)
        #expect(try await watched.projects("master") == ["a", "b", "e"])
        await watched.site.stopAll()
    }

    @Test("a reload (what SIGHUP does) is one reconcile; a queue overflow reloads everything, changed files included")
    func reloadAndOverflow() async throws {
        let scripted = ScriptedWatcher()
        let (watched, dir) = try await Self.start("a", watcher: scripted)
        watched.loop.reload()
        let reload = try #require(await watched.run(after: 1))
        #expect(reload.triggers == [.sighup] && reload.report?.converged == true && reload.report?.plan.isEmpty == true)
        // Changed behind the watcher's back, as when the kernel dropped the events: nothing tells the loop.
        try Edit.atomic(dir + "/site.yaml", watched.site.yaml(Self.projects(["a", "z"])))
        scripted.continuation.yield(DirectoryChange(overflow: true))
        let overflow = try #require(await watched.run(after: 2))
        #expect(overflow.triggers == [.overflow] && overflow.report?.plan.counts.create == 2)
        #expect(try await watched.projects("master") == ["a", "z"])
        // One reconcile: the next reload finds nothing left to do and no overflow still pending.
        watched.loop.reload()
        let after = try #require(await watched.run(after: 3))
        #expect(after.triggers == [.sighup] && after.report?.plan.isEmpty == true)
        await watched.stopAll()
    }

    @Test("a symlink flip of mirrors.d to another release reconciles the new one")
    func symlinkFlip() async throws {
        let scratch = Scratch("flip")
        let one = scratch.sub("releases/1")
        let two = scratch.sub("releases/2")
        let link = scratch.path + "/mirrors.d"
        symlink(one, link)
        let (watched, _) = try await Self.start("a", directory: link)
        try Edit.atomic(two + "/site.yaml", watched.site.yaml(Self.projects(["a", "b"])))
        symlink(two, link + ".new")
        rename(link + ".new", link)
        let flipped = try #require(await watched.run(after: 1))
        #expect(flipped.triggers == [.directoryReplaced] && flipped.report?.converged == true)
        #expect(try await watched.projects("master") == ["a", "b"])
        try Edit.atomic(two + "/site.yaml", watched.site.yaml(Self.projects(["b", "c"])))
        let edited = try #require(await watched.run(after: 2))
        #expect(edited.triggers == [.fileEvent])
        #expect(try await watched.projects("master") == ["b", "c"])
        await watched.stopAll()
    }

    @Test("the periodic resync gives an agent whose store was wiped all its specs back")
    func resyncRepairsDrift() async throws {
        let (watched, _) = try await Self.start("a", "b", options: .init(debounce: 0.03, resync: 0.5))
        let site = watched.site
        await site.agents["ftp1"]!.shutdown()
        await site.tasks["ftp1"]!.value
        try FileManager.default.removeItem(atPath: site.scratch.path + "/state-ftp1")
        try await site.start("ftp1")
        #expect(try await watched.projects("ftp1") == [])
        #expect(
            await eventually {
                watched.runs.all.contains { $0.triggers == [.resync] && $0.report?.applied.isEmpty == false }
            })
        #expect(try await watched.projects("ftp1") == ["a", "b"])
        let repair = try #require(watched.runs.all.last { $0.report?.applied.isEmpty == false })
        #expect(repair.triggers == [.resync] && repair.report?.converged == true, "\(watched.runs.all.map(\.triggers))")
        await watched.stopAll()
    }
}
