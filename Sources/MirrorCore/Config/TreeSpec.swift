/// What a project copies, where it puts it and how: the fields of a project's own mapping in mirrors.d. Which hosts
/// hold each, how it is read, hashed and shown is its row's to say (`AgentProjectSpec.fields`).
public struct TreeSpec: Sendable, Hashable {
    /// The path inside the upstream; empty for the upstream's whole tree.
    public var source = ""
    /// The path under the master's root and each slave's publicDir.
    public var path: String
    public var exclude: [String] = []
    /// Patterns synced, with deletions, in a second pass (index files such as `Packages*`, `Release*`).
    public var twoStage: [String] = []
    public var rsyncOptions: [String] = []
    /// A suspended project keeps its files and runs no sync.
    public var suspended = false
    /// Overrides the upstream's timeout for this project.
    public var timeout: TimeSpan?
    /// How much one sync may delete before it is stopped with nothing deleted.
    public var maxDelete = DeletionLimit.default
    /// How mirror lists name the project (mirrorz's `cname`); its name when absent. The master alone holds it.
    public var cname: String?
    /// A line about the project for mirror lists (mirrorz's `desc`). The master alone holds it.
    public var desc: String?
    /// Where its help page is: a path on the site or a whole URL (mirrorz's `help`). The master alone holds it.
    public var help: String?
    /// Debian trace files (`project/trace/<host>`, `_traces`, the in-progress marker): true writes them, false never;
    /// nil (left out) writes them when the tree has a `project/trace/` directory, which its upstream brought.
    public var trace: Bool?
    /// Programs run after each sync on the host that ran it.
    public var hooks: HookSpec?
    /// How a sync makes the tree public: in place, or by switching whole revisions at once.
    public var publish = PublishMode.inPlace
    /// With `twoStage`, `site` holds every slave's second stage until every reachable slave has finished its first
    /// (ftpsync's staged mode). The master alone holds it: a slave learns the stage from each trigger.
    public var stage = StageMode.host
    /// The file on the master holding the token with which the upstream announces a new tree; overrides the
    /// upstream's `pushTokenFile`. The master alone holds it.
    public var pushTokenFile: String?
    /// How many run logs (rsync's output of each run) the agent keeps for the project; nil keeps
    /// `defaultLogRetention`.
    public var logRetention: Int?

    /// What each run of the project may use (memory, CPUs, priority), on every host that runs it.
    public var limits: ResourceLimits?
    /// A small file inside the project's tree on the upstream (`project/trace/master`), fetched alone before a
    /// scheduled run: unchanged since the last successful run, the run ends `unchanged` without a walk. Overrides
    /// the upstream's `probe`. The master alone holds it.
    public var probe: String?
    /// The longest a host goes between two full walks of the tree; nil is `defaultVerifyEvery`.
    public var verifyEvery: TimeSpan?

    /// A tree with every field at its default.
    static let blank = TreeSpec(path: "")

    /// The full walk's interval when a project names no `verifyEvery`.
    public static let defaultVerifyEvery = TimeSpan(seconds: 86_400)
    /// The run logs kept when a project names no `logRetention`.
    public static let defaultLogRetention = 20
    /// The most run logs a project may keep.
    public static let logRetentionRange = 1...10_000

    /// The fields of a tree as they were first written; a field added later keeps its default here and is set by
    /// name.
    public init(
        source: String = "", path: String, exclude: [String] = [], twoStage: [String] = [], rsyncOptions: [String] = [],
        suspended: Bool = false, timeout: TimeSpan? = nil, maxDelete: DeletionLimit = .default
    ) {
        self.source = source
        self.path = path
        self.exclude = exclude
        self.twoStage = twoStage
        self.rsyncOptions = rsyncOptions
        self.suspended = suspended
        self.timeout = timeout
        self.maxDelete = maxDelete
    }

    /// Reads the tree's fields out of the project's JSON object, each as its row in `AgentProjectSpec.fields` says.
    init(from container: KeyedDecodingContainer<FieldKey>) throws {
        self.init(path: "")
        for coding in AgentProjectSpec.treeCodings { try coding.decode(container, &self) }
    }

    func encode(into container: inout KeyedEncodingContainer<FieldKey>) throws {
        for coding in AgentProjectSpec.treeCodings { try coding.encode(self, &container) }
    }
}
