// `notify:` across files: a route names a project that some file defines.
extension Assembly {
    mutating func checkRoutes() {
        guard let notify else { return }
        let known = sources.keys.filter { $0.kind == .project }.map(\.name)
        for (project, mark) in notify.routes.sorted(by: { $0.key < $1.key })
        where sources[ObjectRef(.project, project)] == nil {
            decoder.diagnostics.error(
                mark, "unknown-reference",
                "notify's routes name project '\(project)', which no file defines\(Suggestion.hint(for: project, among: known))",
                field: "routes")
        }
    }
}
