import Foundation

/// What a PUT changed.
public struct PutResponse: Codable, Sendable, Hashable {
    public enum Change: String, Codable, Sendable { case created, updated, unchanged }

    public var name: String
    public var generation: String
    public var change: Change

    public init(name: String, generation: String, change: Change) {
        self.name = name
        self.generation = generation
        self.change = change
    }
}

/// `DELETE /v1/projects/{name}`: what was removed.
public struct DeleteResponse: Codable, Sendable, Hashable {
    public var name: String
    public var removed: Bool
    /// Whether the project's files were deleted too (`?purge=true`).
    public var purged: Bool

    public init(name: String, removed: Bool, purged: Bool) {
        self.name = name
        self.removed = removed
        self.purged = purged
    }
}

/// `POST /v1/projects/{name}/sync`: the run that will carry the request out.
public struct SyncResponse: Codable, Sendable, Hashable {
    public var project: String
    public var runID: Int64
    public var state: RunState

    public init(project: String, runID: Int64, state: RunState) {
        self.project = project
        self.runID = runID
        self.state = state
    }
}

/// `POST /v1/projects/{name}/trigger`: what became of an upstream's push.
public struct PushResponse: Codable, Sendable, Hashable {
    public enum Outcome: String, Codable, Sendable, Hashable {
        /// A run was queued for the push and starts as soon as a sync slot is free.
        case queued
        /// A run was already queued and has not started: it brings what the upstream announced.
        case coalesced
        /// A run is in progress (it may have listed the upstream before it changed) or the project's last push
        /// started a run too recently: one more run starts after it, no earlier than `notBefore`.
        case deferred
    }

    public var project: String
    public var outcome: Outcome
    /// The run that carries the push, once there is one.
    public var runID: Int64?
    /// With `deferred`: the earliest the run may start (the run in progress may end later).
    public var notBefore: Date?

    public init(project: String, outcome: Outcome, runID: Int64? = nil, notBefore: Date? = nil) {
        self.project = project
        self.outcome = outcome
        self.runID = runID
        self.notBefore = notBefore
    }
}

/// The body of every 4xx and 5xx answer: `{"error": {"code", "message", "field", "line", "column"}}`.
public struct APIErrorBody: Codable, Sendable, Hashable {
    public struct Detail: Codable, Sendable, Hashable {
        public var code: String
        public var message: String
        public var field: String?
        public var line: Int?
        public var column: Int?

        public init(code: String, message: String, field: String? = nil, line: Int? = nil, column: Int? = nil) {
            self.code = code
            self.message = message
            self.field = field
            self.line = line
            self.column = column
        }
    }

    public var error: Detail

    public init(_ detail: Detail) { self.error = detail }
}
