import Foundation
import HTTPTypes
import Hummingbird
import MirrorCore
import NIOCore

/// An error the API answers with: a status and `{"error": {"code", "message", "field", "line", "column"}}`.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var body: APIErrorBody

    public init(
        _ status: HTTPResponse.Status, code: String, message: String, field: String? = nil, line: Int? = nil,
        column: Int? = nil
    ) {
        self.status = status
        self.body = APIErrorBody(.init(code: code, message: message, field: field, line: line, column: column))
    }

    /// The first error of a rejected body, with its place in the body.
    init(_ error: ConfigError) {
        let first =
            error.errors.first ?? Diagnostic(file: "request body", code: "invalid", message: "invalid request body")
        self.init(
            .badRequest, code: first.code, message: error.errors.map(\.message).joined(separator: "; "),
            field: first.field, line: first.line, column: first.column)
    }

    /// A root, local upstream or hook program out of the agent's bounds: 403, naming the field, the path and the flag.
    init(_ refusal: PathRefusal) {
        self.init(.forbidden, code: refusal.code, message: refusal.message, field: refusal.field)
    }

    static func masterOnly(_ path: String) -> APIError {
        APIError(.notFound, code: "not-found", message: "\(path) is served by the master agent only")
    }

    /// A long poll or log follow past `--max-long-polls`.
    static func tooManyWaits(_ limit: Int) -> APIError {
        APIError(
            .serviceUnavailable, code: "too-many-waits",
            message:
                "the agent holds \(limit) long polls and log follows, its --max-long-polls; try again shortly, or without waiting"
        )
    }

    init(_ error: SchedulerError) {
        switch error.kind {
        case .notFound: self.init(.notFound, code: "not-found", message: error.message)
        case .conflict: self.init(.conflict, code: "conflict", message: error.message)
        case .store: self.init(.internalServerError, code: "store", message: error.message)
        case .storeFull:
            self.init(
                .serviceUnavailable, code: "storage-full",
                message:
                    "the agent's state directory is full, so nothing was changed; it takes changes again once there is room (\(error.message))"
            )
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try APIResponse.json(body, status: status)
    }
}

enum APIResponse {
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try APICoding.encoder().encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
