import Hummingbird

/// The bearer token the agents share, read once from its file.
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

    /// Whether `request` carries this token: a public route shows the operator's view to it, else the public's.
    func authorises(_ request: Request) -> Bool {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        return matches(header.dropFirst("Bearer ".count))
    }
}

/// Every call but health (and, where the settings allow it, the status) needs `Authorization: Bearer <token>`.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: BearerToken
    let isPublic: @Sendable (Request) async -> Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if await isPublic(request) { return try await next(request, context) }
        guard token.authorises(request) else {
            var response = try APIError(.unauthorized, code: "unauthorized",
                                        message: "this call needs the agents' bearer token: Authorization: Bearer <token>")
                .response(from: request, context: context)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }
}
