/// What `validate` can say offline of the programs mirrors.d names (hooks, and upstreams that are programs): an agent runs one only from a
/// directory its `--allow-exec` allows (`ExecAllowlist`). Given the same directories, each program is checked on this
/// host as an agent would check it; without them, each program is a warning that names the flag.
public enum HookPrograms {
    /// The findings for `state`'s hooks; `directory`: mirrors.d, where a finding about the flag itself is placed.
    public static func diagnostics(_ state: DesiredState, directory: String, allowExec: [String]) -> [Diagnostic] {
        // Each program once, at the first project (by name) whose hook names it.
        var seen: Set<String> = []
        var uses: [(program: String, field: String, project: String, mark: SourceMark)] = []
        for (name, project) in state.projects.sorted(by: { $0.key < $1.key }) {
            guard let mark = state.sources[ObjectRef(.project, name)] else { continue }
            // Its hooks, and its upstream's program, which the master runs by the same rule.
            for (field, argv) in [
                ("hooks.onSuccess", project.tree.hooks?.onSuccess), ("hooks.onFailure", project.tree.hooks?.onFailure),
                ("upstream.command", state.upstreams[project.upstream]?.command),
            ] {
                guard let program = argv?.first, seen.insert(program).inserted else { continue }
                uses.append((program, field, name, mark))
            }
        }
        guard !uses.isEmpty else { return [] }
        guard !allowExec.isEmpty else {
            return uses.map { use in
                Diagnostic(
                    .warning, at: use.mark, code: "exec-unchecked",
                    message:
                        "project '\(use.project)': \(use.field) runs \(use.program), which an agent runs only when its \(ExecAllowlist.flag) "
                        + "names a directory that holds it (none by default); check it here with validate \(ExecAllowlist.flag) DIR",
                    field: use.field)
            }
        }
        let trees =
            [(state.master.root, "the master's root")]
            + state.slaves.sorted(by: { $0.key < $1.key }).map { ($1.publicDir, "slave '\($0)''s publicDir") }
        let allowlist: ExecAllowlist
        do throws(ExecAllowlistError) {
            allowlist = try ExecAllowlist(directories: allowExec, user: nil, trees: trees)
        } catch {
            return [Diagnostic(file: directory, code: "forbidden-exec", message: error.message)]
        }
        return uses.compactMap { use in
            do throws(ExecRefusal) { _ = try allowlist.resolve(use.program, trees: trees) } catch {
                return Diagnostic(
                    at: use.mark, code: "forbidden-exec",
                    message: "project '\(use.project)': \(use.field): \(error.message)", field: use.field)
            }
            return nil
        }
    }
}
