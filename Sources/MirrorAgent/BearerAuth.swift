import Hummingbird
import MirrorCore

/// A project's push token, read from its file, compared in constant time.
public struct BearerToken: Sendable {
    let bytes: [UInt8]

    public init(_ token: String) { bytes = Array(token.utf8) }

    /// Compares in time that depends only on the lengths, never on where the first difference is.
    func matches(_ candidate: Substring) -> Bool {
        let given = Array(candidate.utf8)
        var difference = UInt8(truncatingIfNeeded: given.count ^ bytes.count)
        for i in 0..<max(given.count, bytes.count) {
            let a = i < given.count ? given[i] : 0
            let b = i < bytes.count ? bytes[i] : 0xFF
            difference |= a ^ b
        }
        return difference == 0 && given.count == bytes.count
    }
}

/// Every call but health (and, where the settings allow it, the status) needs `Authorization: Bearer <token>`: 401
/// without a credential the agent accepts, 403 with one whose role does not reach the call.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let credentials: AgentCredentials
    let agent: AgentRole
    let isPublic: @Sendable (Request) async -> Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if await isPublic(request) { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            let role = credentials.accepted.role(of: header.dropFirst("Bearer ".count))
        else {
            var response = try APIError(
                .unauthorized, code: "unauthorized",
                message: "this call needs a credential the agent accepts: Authorization: Bearer <token>"
            )
            .response(from: request, context: context)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        guard role.may(request.method.rawValue, request.uri.path, on: agent) else {
            return try APIError.outsideRole(role, "\(request.method.rawValue) \(request.uri.path)").response(
                from: request, context: context)
        }
        return try await Caller.$role.withValue(role) { try await next(request, context) }
    }
}

extension APIError {
    /// 403 `outside-role`: a credential the agent accepts, used for a call its role does not reach.
    static func outsideRole(_ role: CredentialRole, _ what: String) -> APIError {
        APIError(
            .forbidden, code: "outside-role",
            message:
                "the \(role) credential may not \(what): each role's credential reaches only its own calls (docs/security.md)"
        )
    }
}

extension AgentCredentials {
    /// Whether `request` carries the operator's credential (or the one shared token): a public route shows the
    /// operator's view to it, and the public's to anyone else, whatever other credential they hold.
    func authorisesOperator(_ request: Request) -> Bool {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        switch accepted.role(of: header.dropFirst("Bearer ".count)) {
        case .operator?, .shared?: return true
        default: return false
        }
    }
}
