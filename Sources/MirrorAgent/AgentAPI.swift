import Foundation
import Synchronization
import HTTPTypes
import Hummingbird
import Logging
import MirrorCore
import MirrorPresentation
import MirrorHTTP
import NIOCore

/// The agent's HTTP API under `/v1`, and `/metrics`.
public struct AgentAPI: Sendable {
    public let role: AgentRole
    public let name: String
    public let bootID: String
    public let version: String
    let scheduler: SyncScheduler
    let metrics: AgentMetrics
    /// The credentials it accepts, and for which role each.
    let credentials: AgentCredentials
    /// What a root or a local upstream may be, as the agent's flags allow: anything else is refused with 403.
    let bounds: PathBounds
    let stateCache = ProjectJSONCache()
    /// The master's part: the site's status, the revisions, the rsync credential and the slaves' reports.
    let site: SiteStatusSource?
    /// The master's staged pulls (`stage: site`), told of the slaves' first stages.
    let stages: StagedRollouts?
    /// On a slave, its part in a tier: the routes of the master's it serves to the slaves that pull from it.
    let hop: TierHop?
    /// The master's change lists, read by its slaves' incremental pulls.
    let changes: ChangeLog?
    /// The long polls and log follows held open now, and their cap (`--max-long-polls`).
    let longPolls: HeldCount
    /// Bodies larger than this are refused with 413: a spec is a few hundred bytes.
    public var maxBodySize = 1 << 20
    /// The zone of tunasync's time strings (`GET /jobs`): the host's, as tunasync's manager writes them.
    public var timeZone = TimeZone.current

    /// Paths that answer without a token when the settings' `publicStatus` is true.
    static let publicWhenStatusIs: Set<String> = ["/v1/status", "/mirrorz.json", "/jobs"]

    init(
        role: AgentRole, name: String, bootID: String, version: String, scheduler: SyncScheduler, metrics: AgentMetrics,
        credentials: AgentCredentials,
        bounds: PathBounds, site: SiteStatusSource? = nil, stages: StagedRollouts? = nil, changes: ChangeLog? = nil,
        maxLongPolls: Int = ConnectionLimits().maxLongPolls, hop: TierHop? = nil
    ) {
        self.hop = hop
        self.changes = changes
        self.longPolls = HeldCount(limit: maxLongPolls)
        self.bounds = bounds
        self.site = site
        self.stages = stages
        self.role = role
        self.name = name
        self.bootID = bootID
        self.version = version
        self.scheduler = scheduler
        self.metrics = metrics
        self.credentials = credentials
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let scheduler = self.scheduler
        router.add(
            middleware: BearerAuthMiddleware(credentials: credentials, agent: role) { request in
                let path = request.uri.path
                if path == "/v1/health" { return true }
                // An upstream's push carries the project's push token, which its route checks.
                if request.method == .post, AgentAPI.isPush(path) { return true }
                // The status and the mirror world's formats of it are public where the settings say so.
                if AgentAPI.publicWhenStatusIs.contains(path) || AgentAPI.isStatusPage(path) {
                    return await scheduler.currentSettings().settings?.publicStatus ?? false
                }
                return false
            })
        let api = self
        router.get("/v1/health") { _, _ in
            try APIResponse.json(
                AgentHealth(
                    role: api.role, name: api.name, bootID: api.bootID, version: api.version,
                    sharedToken: api.credentials.accepted.acceptsShared ? true : nil))
        }
        router.get("/v1/state") { request, _ in
            if let wanted = request.uri.queryParameters["ifDigest"],
                let omitted = try await api.stateWithoutProjects(ifDigest: String(wanted))
            {
                return omitted
            }
            // ?since=BOOTID:VERSION: only the projects changed since (AgentAPI+StateDelta.swift).
            if let since = request.uri.queryParameters["since"],
                let delta = try await api.stateDelta(since: String(since))
            {
                return delta
            }
            return try await api.stateResponse()
        }
        // Without the token (publicStatus), the public's view: no message, stderr, hook or spec (PublicView).
        router.get("/v1/status") { request, _ in
            let withToken = api.credentials.authorisesOperator(request)
            guard let site = api.site else {
                if withToken { return try await api.stateResponse() }
                return try APIResponse.json(
                    PublicView.status(
                        of: api.name, role: api.role, projects: await scheduler.projectStates(), now: Date()))
            }
            let status = await site.status()
            return try APIResponse.json(withToken ? status : PublicView.status(status))
        }
        router.get("/mirrorz.json") { _, _ in
            guard api.site != nil else { throw APIError.masterOnly("/mirrorz.json") }
            guard let site = await scheduler.currentSettings().settings?.site else {
                throw APIError(
                    .notFound, code: "no-site",
                    message:
                        "mirrorz.json needs the site's url and abbr: add a site: section to mirrors.d and reconcile")
            }
            return try APIResponse.json(MirrorzDocument.build(site: site, projects: await scheduler.projectStates()))
                .readableAnywhere()
        }
        router.get("/jobs") { _, _ in
            guard api.site != nil else { throw APIError.masterOnly("/jobs") }
            return try APIResponse.json(TunasyncJob.jobs(await scheduler.projectStates(), timeZone: api.timeZone))
                .readableAnywhere()
        }
        // The master's, and a tier slave's for the slaves that pull from it (TierHop.swift).
        router.get("/v1/revisions") { _, _ in
            guard api.site != nil || api.hop != nil else { throw APIError.masterOnly("/v1/revisions") }
            return try APIResponse.json(RevisionsResponse(projects: await scheduler.revisions()))
        }
        router.get("/v1/rsyncd/credential") { _, _ in
            guard let supervisor = api.site?.supervisor ?? api.hop?.supervisor else {
                throw APIError.masterOnly("/v1/rsyncd/credential")
            }
            return try APIResponse.json(try supervisor.credential(for: Caller.role))
        }
        router.post("/v1/reports") { request, _ in
            guard api.site != nil || api.hop != nil else { throw APIError.masterOnly("/v1/reports") }
            let report = try api.decodeJSON(SlaveReport.self, try await api.body(request))
            try await api.accept(report)
            return try APIResponse.json(report, status: .accepted)
        }
        router.put("/v1/settings") { request, _ in
            let body = try await api.body(request)
            let settings: AgentSettings
            do throws(ConfigError) { settings = try AgentRequest.settings(body) } catch { throw APIError(error) }
            if let refusal = api.bounds.checkRoot(settings.root) { throw APIError(refusal) }
            if let refusal = api.bounds.check(settings.notify, root: settings.root) { throw APIError(refusal) }
            // A CA file the agent cannot use would fail every call to that peer later: refused now, nothing changed.
            for (peer, transport) in settings.peers.sorted(by: { $0.key < $1.key }) {
                guard let caFile = transport.caFile else { continue }
                do throws(TLSFileError) { try AgentTLS.checkCAFile(caFile) } catch {
                    throw APIError(
                        .unprocessableContent, code: "invalid-ca-file",
                        message: "settings: peers: \(peer): \(error.message) on this host", field: "peers")
                }
            }
            let response: PutResponse
            do throws(SchedulerError) { response = try await scheduler.putSettings(settings) } catch {
                throw APIError(error)
            }
            return try APIResponse.json(response)
        }
        router.put("/v1/projects/:name") { request, context in
            let name = try api.projectName(context)
            let managed = request.uri.queryParameters["managed"].map { $0 == "true" || $0 == "1" } ?? false
            let body = try await api.body(request)
            let spec: AgentProjectSpec
            do throws(ConfigError) { spec = try AgentRequest.project(body, name: name) } catch { throw APIError(error) }
            if let refusal = api.bounds.check(spec, root: await scheduler.currentSettings().settings?.root) {
                throw APIError(refusal)
            }
            // A push token the master cannot use would refuse every push later: refused now, nothing changed.
            if api.site != nil, let file = spec.effectivePushTokenFile {
                _ = try api.pushToken(file, root: await scheduler.currentSettings().settings?.root)
            }
            let response: PutResponse
            do throws(SchedulerError) {
                response = try await scheduler.putProject(name, spec: spec, managed: managed)
            } catch { throw APIError(error) }
            return try APIResponse.json(response, status: response.change == .created ? .created : .ok)
        }
        router.delete("/v1/projects/:name") { request, context in
            let name = try api.projectName(context)
            let purge = request.uri.queryParameters["purge"].map { $0 == "true" || $0 == "1" } ?? false
            do throws(SchedulerError) { try await scheduler.removeProject(name, purge: purge) } catch {
                throw APIError(error)
            }
            return try APIResponse.json(DeleteResponse(name: name, removed: true, purged: purge))
        }
        router.post("/v1/projects/:name/sync") { request, context in
            let name = try api.projectName(context)
            // The master's trigger names the revision to pull; a sync asked for by hand has no body.
            let body = try await api.body(request)
            let trigger =
                body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
                ? nil
                : try api.decodeJSON(TriggerRequest.self, body)
            let stage = try trigger?.stage.map { stage throws(APIError) in try api.checkStage(stage) }
            let run: RunRecord
            do throws(SchedulerError) {
                if let trigger, let stage {
                    // A stage of a `stage: site` pull (SyncScheduler+Stages.swift).
                    run = try await scheduler.requestStage(
                        name, revision: trigger.revision, stage: stage,
                        timeout: trigger.stageTimeout ?? StagedRollouts.defaultTimeout)
                } else {
                    run = try await scheduler.requestRun(
                        name, trigger: trigger == nil ? .request : .trigger, revision: trigger?.revision)
                }
            } catch { throw APIError(error) }
            return try APIResponse.json(SyncResponse(project: name, runID: run.id, state: run.state), status: .accepted)
        }
        router.get("/v1/projects/:name/runs/:id") { request, context in
            let name = try api.projectName(context)
            guard let id = context.parameters.get("id").flatMap(Int64.init) else {
                throw APIError(.badRequest, code: "invalid-run-id", message: "a run id is a number", field: "id")
            }
            // ?wait=SECONDS: a long poll that answers at the run's next change (AgentAPI+Runs.swift).
            if let wait = request.uri.queryParameters["wait"] {
                try await api.waitForChange(of: id, project: name, seconds: String(wait))
            }
            let run: RunRecord?
            do throws(SchedulerError) { run = try await scheduler.run(id) } catch { throw APIError(error) }
            guard let run, run.project == name else {
                throw APIError(.notFound, code: "not-found", message: "no run \(id) of project '\(name)'")
            }
            return try APIResponse.json(run)
        }
        router.post("/v1/projects/:name/trigger") { request, context in
            guard api.site != nil else { throw APIError.masterOnly("/v1/projects/{name}/trigger") }
            let name = try api.projectName(context)
            do throws(APIError) { try await api.authorisePush(request, project: name) } catch {
                var response = try error.response(from: request, context: context)
                if error.status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
                return response
            }
            let response: PushResponse
            do throws(SchedulerError) { response = try await scheduler.push(name) } catch { throw APIError(error) }
            return try APIResponse.json(response, status: .accepted)
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: await api.metricsText())))
        }
        // Operator calls: `mirrorsync cancel` (AgentAPI+Operator.swift).
        router.post("/v1/projects/:name/cancel") { _, context in
            try APIResponse.json(try await api.cancel(try api.projectName(context)))
        }
        // The status page for people: `GET /` and `GET /projects/{name}` (StatusPageRoutes.swift).
        addStatusPage(to: router)
        // Run logs (AgentAPI+Runs.swift).
        api.addRunLogRoutes(to: router)
        // The master's change lists, for the slaves' incremental pulls (AgentAPI+Changes.swift).
        api.addChangeRoutes(to: router)
        return router
    }
}

extension Response {
    /// The mirror world's documents are read by pages of other sites (mirrorz.org fetches each site's mirrorz.json
    /// from the browser): any origin may read them.
    func readableAnywhere() -> Response {
        var response = self
        response.headers[.accessControlAllowOrigin] = "*"
        return response
    }
}
