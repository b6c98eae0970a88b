import Foundation
import Hummingbird
import MirrorCore

/// An upstream's push (`POST /v1/projects/{name}/trigger`, the HTTP form of Debian's push mirroring): authorised by
/// the project's push token, never the agents' token; a burst of pushes becomes one or two runs, and pushes that
/// come faster than `pushGap` wait for it.
extension SyncScheduler {
    /// Starts the project's sync as soon as the queue, the run in progress and the push gap allow.
    public func push(_ name: String) throws(SchedulerError) -> PushResponse {
        guard var entry = entries[name] else { throw .notFound(name) }
        if entry.spec.suspended {
            throw SchedulerError(
                kind: .conflict, message: "project '\(name)' is suspended; set suspended: false to sync it")
        }
        // A queued run has not listed the upstream yet: it brings what was pushed.
        if let queued = entry.queued { return PushResponse(project: name, outcome: .coalesced, runID: queued.id) }
        let now = clock.now()
        let allowed = pushAllowed(entry)
        entry.pushPending = true
        entries[name] = entry
        if entry.running != nil { markUpdateRequired(name, entry) }
        if entry.running == nil, allowed <= now {
            let run = try queue(name, trigger: .push)
            return PushResponse(project: name, outcome: .queued, runID: run.id)
        }
        wake.signal()
        return PushResponse(project: name, outcome: .deferred, notBefore: max(allowed, now))
    }

    /// A push or a trigger came while the project syncs: its tree says another sync is due until that sync starts
    /// (`Archive-Update-Required-<host>`, as ftpsync writes it).
    func markUpdateRequired(_ name: String, _ entry: Entry) {
        guard let settings else { return }
        var job = SyncJob(project: name, spec: entry.spec, root: settings.root, previousFiles: nil)
        job.traceInfo = settings.trace
        execution.runner.markUpdateRequired(job, logger: logger)
    }

    /// The earliest a run for a push may start: `pushGap` after the last one a push started.
    func pushAllowed(_ entry: Entry) -> Date {
        entry.lastPushStartAt.map { $0.addingTimeInterval(policy.pushGap) } ?? .distantPast
    }
}

extension AgentAPI {
    /// Whether a request is an upstream's push, which carries the project's push token rather than the agents'.
    static func isPush(_ path: String) -> Bool {
        path.hasPrefix("/v1/projects/") && path.hasSuffix("/trigger")
            && path.utf8.count > "/v1/projects//trigger".utf8.count
    }

    /// The push token of a project, read from its file now, so that a new token takes effect without a reconcile.
    /// Refused when the file breaks the rules of secret files (`SecretFileRules`), is empty, holds a credential the agent accepts,
    /// or holds a token of less than 128 bits.
    func pushToken(_ file: String, root: String?) throws(APIError) -> BearerToken {
        func refuse(_ message: String) -> APIError {
            APIError(.unprocessableContent, code: "invalid-push-token-file", message: message, field: "pushTokenFile")
        }
        let text: String
        do throws(SecretRefusal) { text = try bounds.secrets(root: root).read(file, field: "pushTokenFile") } catch {
            scheduler.logger.warning(
                "a push token file is refused", metadata: ["file": "\(file)", "why": "\(error.detail ?? error.reason)"])
            throw refuse("\(error.message) on this host")
        }
        if text.isEmpty { throw refuse("pushTokenFile: the file \(file) is empty") }
        if credentials.accepted.role(of: text) != nil {
            throw refuse(
                "pushTokenFile: \(file) holds a credential the agents accept; an upstream's push token must be a token of its own"
            )
        }
        let bits = PushTokenStrength.bits(text)
        if bits < PushTokenStrength.minimumBits {
            throw refuse(
                "pushTokenFile: the token in \(file) carries about \(Int(bits)) bits; a push token needs at least 128 bits "
                    + "(32 hex digits or 22 base64 characters: openssl rand -hex 16)")
        }
        return BearerToken(text)
    }

    /// Checks a push's bearer token against the project's push token, in constant time.
    func authorisePush(_ request: Request, project name: String) async throws(APIError) {
        guard let spec = await scheduler.projectSpec(name) else {
            throw APIError(.notFound, code: "not-found", message: "no project '\(name)' on this master")
        }
        guard let file = spec.effectivePushTokenFile else {
            throw APIError(
                .forbidden, code: "push-not-enabled",
                message: "project '\(name)' takes no pushes: name a pushTokenFile in the project or its upstream")
        }
        let expected: BearerToken
        do throws(APIError) {
            expected = try pushToken(file, root: await scheduler.currentSettings().settings?.root)
        } catch {
            // The caller is not yet known to be the upstream: the reason goes to the master's log, not to it.
            scheduler.logger.error(
                "a push cannot be checked", metadata: ["project": "\(name)", "error": "\(error.body.error.message)"])
            throw APIError(
                .serviceUnavailable, code: "push-token-unavailable",
                message: "the master cannot read project '\(name)''s push token; its log says why")
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            expected.matches(header.dropFirst("Bearer ".count))
        else {
            throw APIError(
                .unauthorized, code: "unauthorized",
                message: "a push to '\(name)' needs the project's push token: Authorization: Bearer <token>")
        }
    }
}
