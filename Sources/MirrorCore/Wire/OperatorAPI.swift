import Foundation

/// `POST /v1/projects/{name}/cancel`: the runs an operator's cancel ended, as the agent recorded them.
public struct CancelResponse: Codable, Sendable, Hashable {
    public var project: String
    /// The agent that ran them: `master`, or the slave's name.
    public var agent: String
    /// The run that was in progress (its rsync's process group ended), then the one queued behind it, if any; each
    /// with result `cancelled`.
    public var runs: [RunRecord]

    public init(project: String, agent: String, runs: [RunRecord]) {
        self.project = project
        self.agent = agent
        self.runs = runs
    }
}
