/// The site's `defaults:`: project fields a project takes when it leaves them out. Applied when mirrors.d is loaded,
/// so the agents receive each project's fields spelled out, and a change to a default is a change to every project
/// that takes it (its generation, the plan).
struct ProjectDefaults: Sendable, Hashable {
    /// The fields `defaults:` set; every other field of it is at its default, which no project takes from here.
    var tree: TreeSpec

    /// Gives `tree`, a project's, each field it leaves out that the defaults set, as the field's row says.
    func apply(to tree: inout TreeSpec) {
        for inherit in Self.inheritors { inherit(&tree, self.tree) }
    }

    static let inheritors = AgentProjectSpec.fields.compactMap(\.inherit)
}
