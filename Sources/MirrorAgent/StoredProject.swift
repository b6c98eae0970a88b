import Foundation
import MirrorCore

/// A project as the store keeps it: its spec, and what the agent has done with it.
public struct StoredProject: Sendable, Hashable {
    public var name: String
    public var spec: AgentProjectSpec
    public var generation: String
    public var revision: Int
    public var lastSuccessAt: Date?
    /// When the last run started; the next scheduled run counts from here, so a restart runs nothing twice.
    public var lastStartAt: Date?
    /// Files in the tree after the last successful sync: what the deletion cap is a share of.
    public var syncedFiles: Int?
    /// Put there by the reconciler.
    public var managed: Bool
    /// The tree's size in bytes after the last successful sync.
    public var syncedBytes: Int64?
    /// When the last run that succeeded or failed ended.
    public var lastEndAt: Date?
    /// When the project was first stored.
    public var createdAt: Date?
}
