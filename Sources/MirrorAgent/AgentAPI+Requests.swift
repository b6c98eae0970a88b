import Foundation
import Hummingbird
import MirrorCore
import NIOCore

// What every route reads from a request: its body (capped), its JSON, the project's name, a trigger's stage; each
// refused with the API's error body, which names the field.

extension AgentAPI {
    /// A JSON body as `T`, or a 400 that names the field and what is wrong with it.
    func decodeJSON<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        do { return try APICoding.decoder().decode(type, from: Data(body)) } catch let error as DecodingError {
            func path(_ codingPath: [any CodingKey]) -> String { codingPath.map(\.stringValue).joined(separator: ".") }
            switch error {
            case .keyNotFound(let key, let context):
                let field = path(context.codingPath + [key])
                throw APIError(
                    .badRequest, code: "missing-key", message: "the body has no '\(field)', which it needs",
                    field: field)
            case .typeMismatch(let expected, let context), .valueNotFound(let expected, let context):
                let field = path(context.codingPath)
                throw APIError(
                    .badRequest, code: "invalid-type", message: "\(field): expected \(expected)", field: field)
            case .dataCorrupted(let context):
                let field = path(context.codingPath)
                throw APIError(
                    .badRequest, code: "invalid-body",
                    message: field.isEmpty
                        ? "the body is not JSON: \(context.debugDescription)" : "\(field): \(context.debugDescription)",
                    field: field.isEmpty ? nil : field)
            @unknown default:
                throw APIError(.badRequest, code: "invalid-body", message: "\(error)")
            }
        }
    }

    /// A trigger's stage: 1 or 2, and only a slave runs stages.
    func checkStage(_ stage: Int) throws(APIError) -> Int {
        guard site == nil else {
            throw APIError(
                .conflict, code: "slave-only",
                message: "only a slave runs the stages of a stage: site pull; a master syncs both at once",
                field: "stage")
        }
        guard stage == 1 || stage == 2 else {
            throw APIError(
                .unprocessableContent, code: "invalid-value", message: "stage is 1 or 2, not \(stage)", field: "stage")
        }
        return stage
    }

    func projectName(_ context: some RequestContext) throws -> String {
        let name = context.parameters.get("name") ?? ""
        do throws(ValueError) { try ObjectName.validate(name) } catch {
            throw APIError(
                .badRequest, code: "invalid-name", message: "invalid project name: \(error.message)", field: "name")
        }
        return name
    }

    func body(_ request: Request) async throws -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: maxBodySize)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "too-large", message: "the body is larger than \(maxBodySize) bytes")
        }
    }
}
