import Foundation
import HTTPTypes
import Hummingbird
import MirrorCore
import NIOCore

// The master's status page for people: `GET /` and `GET /projects/{name}`, HTML rendered by `StatusPage` (MirrorCore)
// from the same values as `GET /v1/status`. Public where the settings' `publicStatus` is, like the status itself.
extension AgentAPI {
    /// Whether `path` is one of the status page's: public when the settings' `publicStatus` is true.
    static func isStatusPage(_ path: String) -> Bool { path == "/" || path.hasPrefix("/projects/") }

    func addStatusPage(to router: Router<BasicRequestContext>) {
        let api = self
        router.get("/") { _, _ in
            guard let site = api.site else { throw APIError.masterOnly("/") }
            // The site's status first: it probes the slaves, which takes a moment the project states should not predate.
            let status = await site.status()
            let states = await api.scheduler.projectStates()
            return Self.htmlResponse(StatusPage.site(status, states: states, now: site.clock.now()))
        }
        router.get("/projects/:name") { _, context in
            guard let site = api.site else { throw APIError.masterOnly("/projects/{name}") }
            let name = context.parameters.get("name") ?? ""
            // Only the named project's state is read; its runs come from the store (the one in progress as it is).
            guard (try? ObjectName.validate(name)) != nil, let state = await api.scheduler.projectStates()[name] else {
                return Self.htmlResponse(StatusPage.notFound(name, siteName: api.name), status: .notFound)
            }
            let status = await site.status()
            let runs: [RunRecord]
            do throws(SchedulerError) { runs = try await api.scheduler.runs(name, limit: StatusPage.runsShown) } catch { throw APIError(error) }
            return Self.htmlResponse(StatusPage.project(name, siteName: status.name, state: state, site: status.projects[name],
                                                        slaves: status.slaves, runs: runs, now: site.clock.now()))
        }
    }

    /// An HTML page that may not run scripts or load anything: the page has none, and a string that escaped its
    /// escaping still could not act.
    static func htmlResponse(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status,
                 headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                           .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
                           .xContentTypeOptions: "nosniff"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}
