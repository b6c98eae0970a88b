import Foundation
import Logging
import MirrorCore
@testable import MirrorReconciler
import MirrorTestSupport
import ServiceLifecycle
import Synchronization
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// Whatever a stream delivers, kept for the test to look at while it keeps coming.
final class Collected<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])

    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
    func removeAll() { items.withLock { $0.removeAll() } }

    /// Waits until `count` items have come, or `seconds` passed; true if they came. The bound only ends a test that
    /// hangs: it is generous, for a machine that runs every suite at once beside other builds.
    func wait(for count: Int, seconds: Double = 60) async -> Bool {
        await eventually(seconds) { self.count >= count }
    }
}

/// Polls `condition` every few milliseconds until it holds or `seconds` pass (generous, as `Collected.wait`'s).
func eventually(_ seconds: Double = 60, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}

/// How editors and tools change files.
enum Edit {
    /// Truncates and rewrites the file where it is, as `echo > file` or an editor with backupcopy=yes does.
    static func inPlace(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        _ = text.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
    }

    /// Writes a hidden temporary file beside it and renames it over, as most editors and config tools save.
    static func atomic(_ path: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
            .path
        try inPlace(temp, text)
        guard rename(temp, path) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }

    /// Vim's save with its defaults on Linux: swap file, the check file 4913, the original renamed to a backup,
    /// the new text written under the name, the backup deleted.
    static func vim(_ path: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let name = url.lastPathComponent
        try inPlace("\(dir)/.\(name).swp", "swap")
        try inPlace("\(dir)/4913", "")
        unlink("\(dir)/4913")
        guard rename(path, path + "~") == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        try inPlace(path, text)
        unlink(path + "~")
        unlink("\(dir)/.\(name).swp")
    }
}

/// A watcher whose changes the test hands over itself: for what the kernel cannot be made to do on demand.
final class ScriptedWatcher: DirectoryWatcher {
    let changes: AsyncStream<DirectoryChange>
    let continuation: AsyncStream<DirectoryChange>.Continuation

    init() { (changes, continuation) = AsyncStream.makeStream() }

    func run() async throws {
        try? await gracefulShutdown()
        continuation.finish()
    }
}

/// A watcher in front of another that notes what the watch loop has taken in. The loop hands each change to its
/// debounce before it asks for the next, so a change has been taken in once the loop asks again: a test that sees a
/// marker file here knows that every change before it has reached the loop, and only then moves its clock on.
final class TakenWatcher: DirectoryWatcher {
    let inner: any DirectoryWatcher
    let changes: AsyncStream<DirectoryChange>
    /// The files of every change the loop has taken in.
    let taken: Collected<String>

    /// The inner stream's iterator and the change last handed out. `@unchecked Sendable`: `AsyncStream(unfolding:)`
    /// calls its closure once per `next()` of its single consumer (the loop's watch task), one call after the other,
    /// so neither is ever touched by two tasks at once.
    private final class Source: @unchecked Sendable {
        var iterator: AsyncStream<DirectoryChange>.Iterator
        var handed: DirectoryChange?
        init(_ stream: AsyncStream<DirectoryChange>) { iterator = stream.makeAsyncIterator() }
    }

    init(_ inner: any DirectoryWatcher) {
        let source = Source(inner.changes)
        let taken = Collected<String>()
        self.inner = inner
        self.taken = taken
        changes = AsyncStream(unfolding: {
            // Asked for the next change: the one before it has been handled.
            for file in source.handed?.files ?? [] { taken.append(file) }
            source.handed = await source.iterator.next()
            return source.handed
        })
    }

    func run() async throws { try await inner.run() }
}

/// A client that hands every call to `inner`; a test's client changes only the calls it watches.
protocol ForwardingClient: AgentClient {
    var inner: any AgentClient { get }
}

extension ForwardingClient {
    func state(ifDigest: String?) async throws(ClientError) -> AgentState { try await inner.state(ifDigest: ifDigest) }
    func state(since bootID: String, version: UInt64) async throws(ClientError) -> AgentState {
        try await inner.state(since: bootID, version: version)
    }
    func putSettings(_ settings: AgentSettings) async throws(ClientError) -> PutResponse {
        try await inner.putSettings(settings)
    }
    func putProject(_ name: String, _ spec: AgentProjectSpec) async throws(ClientError) -> PutResponse {
        try await inner.putProject(name, spec)
    }
    func deleteProject(_ name: String, purge: Bool) async throws(ClientError) {
        try await inner.deleteProject(name, purge: purge)
    }
    func requestSync(_ name: String) async throws(ClientError) -> SyncResponse { try await inner.requestSync(name) }
    func run(project: String, id: Int64) async throws(ClientError) -> RunRecord {
        try await inner.run(project: project, id: id)
    }
    func run(project: String, id: Int64, waitingUpTo seconds: Double) async throws(ClientError) -> RunRecord {
        try await inner.run(project: project, id: id, waitingUpTo: seconds)
    }
    func runLog(project: String, run: String, follow: Bool, receive: (Data) -> Void) async throws(ClientError) {
        try await inner.runLog(project: project, run: run, follow: follow, receive: receive)
    }
    func cancel(_ name: String) async throws(ClientError) -> CancelResponse { try await inner.cancel(name) }
}

/// An agent client that holds every `state` call at a gate the test opens: a reconcile that takes as long as the test wants.
final class GatedClient: ForwardingClient {
    let inner: any AgentClient
    let gate: Gate

    init(_ inner: any AgentClient, gate: Gate) {
        self.inner = inner
        self.gate = gate
    }

    func state(ifDigest: String?) async throws(ClientError) -> AgentState {
        await gate.pass()
        return try await inner.state(ifDigest: ifDigest)
    }

    func state(since bootID: String, version: UInt64) async throws(ClientError) -> AgentState {
        await gate.pass()
        return try await inner.state(since: bootID, version: version)
    }
}

/// Open lets everyone through; closed holds callers until it opens again.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((true, []))

    var waiting: Int { state.withLock { $0.waiting.count } }

    func close() { state.withLock { $0.open = false } }

    func open() {
        let waiters = state.withLock { s in
            s.open = true
            defer { s.waiting = [] }
            return s.waiting
        }
        for waiter in waiters { waiter.resume() }
    }

    func pass() async {
        await withCheckedContinuation { continuation in
            let through = state.withLock { s in
                if s.open { return true }
                s.waiting.append(continuation)
                return false
            }
            if through { continuation.resume() }
        }
    }
}

/// A watch loop over a mirrors.d in the site's scratch directory, run by a ServiceGroup as the command runs it.
final class WatchedSite: Sendable {
    let site: LiveSite
    let directory: String
    let runs: Collected<WatchRun>
    let loop: WatchLoop
    let gate: Gate
    let watcher: TakenWatcher
    /// The loop's clock when the test moves it itself: the debounce window closes only when the test says so.
    let clock: ManualClock?
    private let group: ServiceGroup
    private let task: Task<Void, Never>

    private init(
        site: LiveSite, directory: String, runs: Collected<WatchRun>, loop: WatchLoop, gate: Gate,
        watcher: TakenWatcher,
        clock: ManualClock?, group: ServiceGroup, task: Task<Void, Never>
    ) {
        (self.site, self.directory, self.runs, self.loop, self.gate, self.watcher) = (
            site, directory, runs, loop, gate, watcher
        )
        (self.clock, self.group, self.task) = (clock, group, task)
    }

    /// Starts the loop; `watcher`: nil for real inotify on `directory`; `clock`: the loop's, the system's if nil.
    static func start(
        _ site: LiveSite, directory: String, watcher: (any DirectoryWatcher)? = nil,
        options: WatchOptions = .init(debounce: 0.03), clock: ManualClock? = nil
    ) throws -> WatchedSite {
        let watcher = TakenWatcher(try watcher ?? InotifyWatcher(directory: directory, logger: testLogger))
        let runs = Collected<WatchRun>()
        let gate = Gate()
        let loop = WatchLoop(
            directory: directory, watcher: watcher, options: options, clock: clock ?? SystemClock(), logger: testLogger,
            onRun: { runs.append($0) }
        ) { _, _ in
            var reconciler = site.reconciler()
            reconciler.clients = reconciler.clients.mapValues { GatedClient($0, gate: gate) as any AgentClient }
            return reconciler
        }
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: watcher), .init(service: loop)], logger: testLogger))
        let task = Task<Void, Never> { try? await group.run() }
        return WatchedSite(
            site: site, directory: directory, runs: runs, loop: loop, gate: gate, watcher: watcher, clock: clock,
            group: group,
            task: task)
    }

    /// With the manual clock: waits until the loop sleeps in its debounce (its resync sleeps beside it), then moves the
    /// clock to the end of the window, so that whatever the loop has taken in by then is one reconcile.
    func closeWindow() async throws {
        guard let clock else { return }
        try #require(await eventually { clock.sleepers >= 2 }, "the loop never waited in its debounce")
        clock.advanceToNextDeadline()
    }

    /// Writes a file of mirrors.d that changes nothing (`x-` keys are ignored) and waits until the loop has taken in its
    /// change. The kernel queues the watch's events in order, so every change made before it has reached the loop by then.
    func mark() async throws {
        let marker = "zz-marker-\(UUID().uuidString.prefix(6)).yaml"
        try Edit.inPlace(directory + "/" + marker, "x-marker: true\n")
        try #require(await eventually { self.watcher.taken.all.contains(marker) }, "the loop never took in \(marker)")
    }

    /// `mark`, then `closeWindow`: everything changed so far becomes one reconcile.
    func flush() async throws {
        try await mark()
        try await closeWindow()
    }

    /// Stops as SIGTERM would, and waits until the loop has ended.
    func stop() async {
        await group.triggerGracefulShutdown()
        await task.value
    }

    /// Stops the loop, then the agents.
    func stopAll() async {
        await stop()
        await site.stopAll()
    }

    /// Waits for the next reconcile after the `count` there were, and gives it.
    func run(after count: Int, seconds: Double = 60) async -> WatchRun? {
        await runs.wait(for: count + 1, seconds: seconds) ? runs.all[count] : nil
    }

    /// The projects an agent holds now.
    func projects(_ agent: String) async throws -> [String] {
        try await site.state(agent).projects.keys.sorted()
    }
}
