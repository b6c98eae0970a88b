import Foundation

/// Where a two-stage project's second stage waits for its first.
public enum StageMode: String, Sendable, Hashable, Codable, WordChoice {
    /// Each host runs its second stage (the index files) right after its own first.
    case host
    /// The slaves run their first stage, and only once every reachable slave has finished it does the master tell
    /// them all to run the second: the public hosts switch their indices within seconds of each other.
    case site

    public static let what = "a stage"
}
