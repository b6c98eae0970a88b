import Foundation

/// What the scheduler refuses, with the HTTP status that says so.
public struct SchedulerError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, conflict, store, storeFull }
    public var kind: Kind
    public var message: String

    public var description: String { message }

    static func notFound(_ project: String) -> SchedulerError {
        SchedulerError(kind: .notFound, message: "no project '\(project)' on this agent")
    }
}

extension SchedulerError {
    /// A store that could not write: full, or failing for another reason.
    init(_ error: StoreError) {
        self.init(kind: error.isFull ? .storeFull : .store, message: error.message)
    }
}
