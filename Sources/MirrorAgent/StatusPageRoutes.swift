import Foundation
import HTTPTypes
import Hummingbird
import MirrorCore
import MirrorPresentation
import NIOCore

// The master's status page for people: `GET /` and `GET /projects/{name}`, HTML rendered by `StatusPage` (MirrorCore)
// from the same values as `GET /v1/status`. Public where the settings' `publicStatus` is, like the status itself.
extension AgentAPI {
    /// Whether `path` is one of the status page's: public when the settings' `publicStatus` is true.
    static func isStatusPage(_ path: String) -> Bool { path == "/" || path.hasPrefix("/projects/") }

    func addStatusPage(to router: Router<BasicRequestContext>) {
        let api = self
        router.get("/") { request, _ in
            guard let site = api.site else { throw APIError.masterOnly("/") }
            // The site's status first: it probes the slaves, which takes a moment the project states should not predate.
            let status = await site.status()
            let states = await api.scheduler.projectStates()
            // Without the token (publicStatus), the public's view: no message, stderr, hook or log (PublicView).
            let shown = api.credentials.authorisesOperator(request) ? status : PublicView.status(status)
            let title = await api.siteTitle()
            return Self.htmlResponse(StatusPage.site(shown, states: states, title: title, now: site.clock.now()))
        }
        router.get("/projects/:name") { request, context in
            guard let site = api.site else { throw APIError.masterOnly("/projects/{name}") }
            let name = context.parameters.get("name") ?? ""
            // Only the named project's state is read; its runs come from the store (the one in progress as it is).
            guard (try? ObjectName.validate(name)) != nil, let state = await api.scheduler.projectStates()[name] else {
                return Self.htmlResponse(StatusPage.notFound(name, siteName: await api.siteTitle()), status: .notFound)
            }
            let status = await site.status()
            let title = await api.siteTitle()
            let runs: [RunRecord]
            do throws(SchedulerError) { runs = try await api.scheduler.runs(name, limit: StatusPage.runsShown) } catch {
                throw APIError(error)
            }
            guard api.credentials.authorisesOperator(request) else {
                // The public's page: each run's class, not its message, stderr, hook, log lines or a link to a log it may not read.
                return Self.htmlResponse(
                    StatusPage.project(
                        name, siteName: title, master: status.name, state: PublicView.state(state),
                        site: PublicView.status(status).projects[name], slaves: status.slaves,
                        runs: runs.map { PublicView.run($0) }, showsLogs: false, now: site.clock.now()))
            }
            // The tail of each shown run's log, read from the end of its file: a few KiB whatever the log's size.
            let scheduler = api.scheduler
            let tails = await Task.detached {
                var tails: [Int64: [String]] = [:]
                for run in runs.prefix(StatusPage.logTailsShown) {
                    if let path = scheduler.logPath(project: name, run: run.id),
                        let tail = LogTail.lastLines(of: path, count: StatusPage.logTailLines)
                    {
                        tails[run.id] = tail
                    }
                }
                return tails
            }.value
            return Self.htmlResponse(
                StatusPage.project(
                    name, siteName: title, master: status.name, state: state, site: status.projects[name],
                    slaves: status.slaves, runs: runs, logTails: tails, now: site.clock.now()))
        }
    }

    /// The site's name for its pages: mirrors.d's `site:` as the master's settings carry it, else the agent's name.
    func siteTitle() async -> String {
        StatusPage.title(site: await scheduler.currentSettings().settings?.site, master: name)
    }

    /// The last `count` lines of a file, read from its end (at most 16 KiB); nil when it cannot be read.
    enum LogTail {
        static func lastLines(of path: String, count: Int, window: Int = 16 << 10) -> [String]? {
            guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
            defer { try? handle.close() }
            guard let size = try? handle.seekToEnd() else { return nil }
            let start = size > UInt64(window) ? size - UInt64(window) : 0
            guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else { return nil }
            var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                .map(String.init)
            if start > 0, !lines.isEmpty { lines.removeFirst() }  // cut mid-line
            if lines.last == "" { lines.removeLast() }
            return Array(lines.suffix(count))
        }
    }

    /// An HTML page that may not run scripts or load anything: the page has none, and a string that escaped its
    /// escaping still could not act.
    static func htmlResponse(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy:
                    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
                .xContentTypeOptions: "nosniff",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}
