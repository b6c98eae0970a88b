import Foundation
import Testing
import MirrorCore
@testable import MirrorReconciler
import MirrorTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Suspended projects: the agents hold them and run nothing.
private func projects(_ names: String...) -> String {
    names.map { "  \($0): { upstream: local, interval: hourly, suspended: true }" }.joined(separator: "\n")
}

@Suite("The inotify watcher (real inotify on temporary directories)", .serialized)
struct WatcherTests {
    /// Runs a watcher on `directory` and collects its batches.
    final class Running: Sendable {
        let watcher: InotifyWatcher
        let batches = Collected<DirectoryChange>()
        let task: Task<Void, Never>
        let reader: Task<Void, Never>

        convenience init(_ directory: String) throws {
            self.init(watcher: try InotifyWatcher(directory: directory, logger: testLogger))
        }

        init(watcher: InotifyWatcher) {
            self.watcher = watcher
            task = Task { try? await watcher.run() }
            let batches = self.batches
            reader = Task { for await change in watcher.changes { batches.append(change) } }
        }

        var files: Set<String> { batches.all.reduce(into: []) { $0.formUnion($1.files) } }

        /// Writes a file nobody else touches and waits for its event: every event before it has been read by then.
        func settle(_ directory: String) async throws {
            let marker = "zz-marker-\(UUID().uuidString.prefix(6)).yaml"
            try Edit.inPlace(directory + "/" + marker, "")
            #expect(await eventually(5) { self.files.contains(marker) })
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
        let running = try Running(dir)
        try Edit.inPlace(dir + "/a.yaml", "intervals: {}\n")
        #expect(await eventually(5) { running.files == ["a.yaml"] })
        try await running.settle(dir)
        try Edit.atomic(dir + "/b.yaml", "projects: {}\n")
        #expect(await eventually(5) { running.files == ["b.yaml"] })
        try await running.settle(dir)
        unlink(dir + "/b.yaml")
        #expect(await eventually(5) { running.files == ["b.yaml"] })
        try await running.settle(dir)
        try Edit.vim(dir + "/a.yaml", "slaves: {}\n")
        try await Task.sleep(for: .milliseconds(50))
        #expect(running.files == ["a.yaml"], "the swap file, 4913 and the backup a.yaml~ are not config files")
        await running.stop()
    }

    @Test("a new subdirectory, hidden files and editor leftovers raise nothing; a link to a file does")
    func ignored() async throws {
        let scratch = Scratch("watch")
        let dir = scratch.sub("mirrors.d")
        let running = try Running(dir)
        mkdir(dir + "/archive.yaml", 0o755)
        mkdir(dir + "/old", 0o755)
        try Edit.inPlace(dir + "/old/x.yaml", "")
        for name in [".hidden.yaml", ".#a.yaml", "a.yaml~", "#a.yaml#", "notes.txt", ".a.yaml.swp"] { try Edit.inPlace(dir + "/" + name, "") }
        try Edit.inPlace(scratch.path + "/elsewhere.yaml", "")
        symlink(scratch.path + "/elsewhere.yaml", dir + "/linked.yaml")
        #expect(await eventually(5) { running.files.contains("linked.yaml") })
        #expect(running.batches.all.allSatisfy { !$0.overflow && !$0.directoryReplaced })
        #expect(running.files == ["linked.yaml"])
        await running.stop()
    }

    @Test("a symlink flip of the directory (ln -sfn) moves the watch to the new target; the old one is no longer watched")
    func symlinkFlip() async throws {
        let scratch = Scratch("watch")
        let one = scratch.sub("releases/1"), two = scratch.sub("releases/2")
        symlink("releases/1", scratch.path + "/mirrors.d")
        let running = try Running(scratch.path + "/mirrors.d")
        let ln = Process()
        ln.executableURL = URL(fileURLWithPath: "/bin/ln")
        ln.arguments = ["-sfn", "releases/2", scratch.path + "/mirrors.d"]
        try ln.run()
        ln.waitUntilExit()
        #expect(await eventually(5) { running.batches.all.contains { $0.directoryReplaced } })
        running.batches.removeAll()
        try Edit.inPlace(one + "/old.yaml", "")
        try Edit.inPlace(two + "/new.yaml", "")
        #expect(await eventually(5) { running.files.contains("new.yaml") })
        try await Task.sleep(for: .milliseconds(30))
        #expect(running.files == ["new.yaml"])
        await running.stop()
    }

    @Test("the kernel's queue overflow is reported (with max_queued_events at 16 for this watcher, where the test may set it)")
    func overflow() async throws {
        let knob = "/proc/sys/fs/inotify/max_queued_events"
        guard let saved = try? String(contentsOfFile: knob, encoding: .utf8), (try? "16\n".write(toFile: knob, atomically: false, encoding: .utf8)) != nil else {
            return  // not allowed here: WatchLoopTests simulate the overflow at the protocol
        }
        let scratch = Scratch("watch")
        let dir = scratch.sub("mirrors.d")
        // The limit is read when an inotify instance starts: set for this one only, then put back.
        let watcher = Result { try InotifyWatcher(directory: dir, logger: testLogger) }
        try saved.write(toFile: knob, atomically: false, encoding: .utf8)
        // 100 changes while nobody reads: the kernel keeps 16 and then says it dropped the rest.
        for i in 0..<100 { try Edit.inPlace(dir + "/f\(i).yaml", "") }
        let running = Running(watcher: try watcher.get())
        #expect(await eventually(5) { running.batches.all.contains { $0.overflow } })
        await running.stop()
    }
}
