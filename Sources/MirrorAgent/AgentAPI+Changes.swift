import Foundation
import Hummingbird
import MirrorCore

// `GET /v1/projects/{name}/changes?from=M&to=N` on the master, or on a slave that others pull from (a tier): what
// revisions M+1 through N changed, for a slave's incremental pull (ChangeLog.swift). The operator and the slaves that
// pull the project from this agent may read it.

extension AgentAPI {
    func addChangeRoutes(to router: Router<BasicRequestContext>) {
        let api = self
        router.get("/v1/projects/:name/changes") { request, context in
            guard let changes = api.changes else { throw APIError.masterOnly("/v1/projects/{name}/changes") }
            let name = try api.projectName(context)
            func revision(_ key: Substring) throws -> Int {
                guard let text = request.uri.queryParameters[key], let value = Int(String(text)), value >= 0 else {
                    throw APIError(
                        .badRequest, code: "invalid-revision", message: "\(key) is a revision, a whole number",
                        field: String(key))
                }
                return value
            }
            let (from, to) = (try revision("from"), try revision("to"))
            let holder = api.role == .master ? "the master" : "this slave"
            guard let spec = await api.scheduler.projectSpec(name) else {
                throw APIError(.notFound, code: "not-found", message: "no project '\(name)' on \(holder)")
            }
            // A slave reads the changes of the projects it serves only.
            if case .slave(let caller) = Caller.role, !spec.slaves.contains(caller) {
                throw APIError.outsideRole(.slave(caller), "changes of project '\(name)', which it does not serve")
            }
            guard to > from, to - from <= 10_000, let lists = await changes.lists(project: name, from: from, to: to)
            else {
                throw APIError(
                    .notFound, code: "changes-unavailable",
                    message:
                        "\(holder) keeps no complete list of the changes of '\(name)' from revision \(from) to \(to)")
            }
            return try APIResponse.json(ChangesResponse(project: name, from: from, to: to, lists: lists))
        }
    }
}
