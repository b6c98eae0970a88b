import Foundation
import HTTPTypes
import Hummingbird
import MirrorCore
import NIOCore
#if canImport(Glibc)
    import Glibc
#endif

/// The runs as they go on: `GET .../runs/{id}?wait=SECONDS` (a long poll) and `GET .../runs/{id}/log`.
extension AgentAPI {
    /// The longest a long poll or a wait in a followed log holds before it answers (or looks again).
    static let longestWait = 60.0
    /// A running run's progress is answered at most this often to one waiter; its end at once.
    static let progressInterval = Duration.milliseconds(250)

    func addRunLogRoutes(to router: Router<BasicRequestContext>) {
        let api = self
        router.get("/v1/projects/:name/runs/:id/log") { request, context in
            let follow = request.uri.queryParameters["follow"].map { $0 == "true" || $0 == "1" } ?? false
            return try await api.runLog(
                project: try api.projectName(context), run: context.parameters.get("id") ?? "", follow: follow)
        }
    }

    /// `?wait=SECONDS` on a run: returns at the run's next change (its start, an attempt, its progress, at most four
    /// times a second) or its end, or after SECONDS (at most `longestWait`); at once for a run that is not queued or
    /// running.
    func waitForChange(of run: Int64, project: String, seconds text: String) async throws {
        guard let seconds = Double(text), seconds >= 0, seconds.isFinite else {
            throw APIError(
                .badRequest, code: "invalid-wait", message: "wait is a number of seconds, such as 30", field: "wait")
        }
        // Another project's run is answered at once (with a 404, by the route).
        guard let activity = await scheduler.activity(of: run), activity.project == project else { return }
        guard let hold = longPolls.hold() else { throw APIError.tooManyWaits(longPolls.limit) }
        defer { withExtendedLifetime(hold) {} }
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int64(min(seconds, Self.longestWait) * 1000))
        await activity.waitForChange(after: activity.version, until: deadline)
        // A change that is only progress waits out the interval unless the run ends in it.
        let soonest = start + Self.progressInterval
        if !activity.isEnded, ContinuousClock.now < soonest { await activity.waitForEnd(until: min(soonest, deadline)) }
    }

    /// `GET /v1/projects/{name}/runs/{id}/log[?follow=true]`: the run's log as text; `id` may be `latest` (the run in
    /// progress, else the last that ended). With `follow`, a run that is queued or running is streamed as its log
    /// grows, until the run ends.
    func runLog(project name: String, run text: String, follow: Bool) async throws -> Response {
        let id: Int64
        if text == "latest" {
            let latest: Int64?
            do throws(SchedulerError) { latest = try await scheduler.latestRun(of: name) } catch {
                throw APIError(error)
            }
            guard let latest else {
                throw APIError(.notFound, code: "not-found", message: "project '\(name)' has not run yet")
            }
            id = latest
        } else {
            guard let number = Int64(text) else {
                throw APIError(
                    .badRequest, code: "invalid-run-id", message: "a run id is a number, or latest", field: "id")
            }
            id = number
        }
        let run: RunRecord?
        do throws(SchedulerError) { run = try await scheduler.run(id) } catch { throw APIError(error) }
        guard let run, run.project == name else {
            throw APIError(.notFound, code: "not-found", message: "no run \(id) of project '\(name)'")
        }
        let activity = follow ? await scheduler.activity(of: id) : nil
        guard let path = scheduler.logPath(project: name, run: id),
            activity != nil || FileManager.default.fileExists(atPath: path)
        else {
            let kept = (await scheduler.projectSpec(name))?.logRetention ?? TreeSpec.defaultLogRetention
            let why =
                run.state == .queued
                ? "it has not started; follow it with ?follow=true"
                : "it ran no rsync, or its log was deleted (the project keeps its newest \(kept))"
            throw APIError(.notFound, code: "no-log", message: "run \(id) of project '\(name)' has no log: \(why)")
        }
        // A follow holds the connection until the run ends: counted until the body is done with, however it ends.
        let hold = activity == nil ? nil : longPolls.hold()
        if activity != nil, hold == nil { throw APIError.tooManyWaits(longPolls.limit) }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody { writer in
                defer { withExtendedLifetime(hold) {} }
                try await Self.stream(path, following: activity, to: &writer)
                try await writer.finish(nil)
            })
    }

    /// Writes the file at `path` to `writer` a piece at a time; while `activity` goes on, waits for it to write more,
    /// and ends once it has ended and everything it wrote is sent.
    static func stream(_ path: String, following activity: RunActivity?, to writer: inout any ResponseBodyWriter)
        async throws
    {
        var fd: Int32 = -1
        defer { if fd >= 0 { close(fd) } }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while !Task.isCancelled {
            // Read before the file: whatever is written after this is a change the wait below sees.
            let version = activity?.version ?? 0
            let ended = activity?.isEnded ?? true
            if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC) }
            while fd >= 0 {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                try await writer.write(ByteBuffer(bytes: buffer[..<n]))
            }
            guard let activity, !ended else { return }
            await activity.waitForChange(after: version, until: .now + .seconds(longestWait))
        }
    }
}
