/// Plans as a merge-request comment reads them, in the Markdown that GitHub and GitLab both render: the counts, what
/// was refused, the agents that could not be read, then a table per agent with changes (action, object, field
/// changes). A table longer than `collapseAfter` rows is folded into `<details>`; past `maxRows` rows in all, the rest
/// are counted, not listed, so that a huge plan stays under the forges' comment limits (65536 characters on GitHub).
///
///     <!-- mirrorsync-plan -->
///     ### mirrorsync plan: 1 to create, 1 to update, 0 to remove
///
///     | create | update | remove | unchanged | unmanaged | unreachable |
///     |---:|---:|---:|---:|---:|---:|
///     | 1 | 1 | 0 | 3 | 0 | 0 |
///
///     #### master `http://127.0.0.1:7070`: 1 to create, 1 to update
///
///     | action | object | changes |
///     |---|---|---|
///     | update | project `debian` | `interval.every`: `1h` → `15m` |
///     | create | project `fedora` | upstream=local interval=hourly |
///
/// Pure: the same plan gives the same text.
public enum PlanMarkdown {
    public struct Options: Sendable, Hashable {
        /// A table with more rows than this is folded into a `<details>` block.
        public var collapseAfter: Int
        /// At most this many rows over the whole plan; each agent's rest is counted in one line.
        public var maxRows: Int

        public init(collapseAfter: Int = 10, maxRows: Int = 300) {
            self.collapseAfter = collapseAfter
            self.maxRows = maxRows
        }
    }

    /// The first line, hidden when rendered: lets a pipeline find its earlier comment and edit it instead of adding one.
    public static let marker = "<!-- mirrorsync-plan -->"

    public static func render(_ plan: Plan, options: Options = Options()) -> String {
        var out: [String] = [marker]
        let c = plan.counts
        let unreachable = plan.unreachable
        let title: String
        if plan.refusal != nil {
            title = "refused"
        } else if c.changes == 0 {
            title = unreachable.isEmpty ? "no changes" : "no changes on the agents that answered"
        } else {
            title = "\(c.create) to create, \(c.update) to update, \(c.remove) to remove"
        }
        out.append("### mirrorsync plan: " + title)
        out.append("")
        if c.changes == 0 && c.unmanaged == 0 && unreachable.isEmpty && plan.refusal == nil {
            let agents = plan.agents.count
            out.append(
                "Every agent matches `mirrors.d`: \(plural(c.unchanged, "object")) unchanged on \(plural(agents, "agent"))."
            )
            out.append("")
            return out.joined(separator: "\n")
        }
        out.append("| create | update | remove | unchanged | unmanaged | unreachable |")
        out.append("|---:|---:|---:|---:|---:|---:|")
        out.append(
            "| \(c.create) | \(c.update) | \(c.remove) | \(c.unchanged) | \(c.unmanaged) | \(unreachable.count) |")
        out.append("")
        if let refusal = plan.refusal {
            out.append("> **Refused:** " + text(refusal) + ". Nothing would be applied.")
            out.append("")
        }

        var budget = options.maxRows
        func section(_ heading: String, header: [String], rows: [[String]], noun: String, more: String) {
            out.append(heading)
            out.append("")
            let listed = Array(rows.prefix(max(0, budget)))
            budget -= listed.count
            var table = ["| " + header.joined(separator: " | ") + " |", "|" + header.map { _ in "---|" }.joined()]
            table += listed.map { "| " + $0.joined(separator: " | ") + " |" }
            let fold = listed.count > options.collapseAfter
            if fold {
                out.append("<details><summary>\(plural(rows.count, noun))</summary>")
                out.append("")
            }
            if !listed.isEmpty {
                out += table
                out.append("")
            }
            if listed.count < rows.count {
                let rest = rows.count - listed.count
                out.append((listed.isEmpty ? plural(rest, noun) : "… and \(rest) more") + " not listed here; " + more)
                out.append("")
            }
            if fold {
                out.append("</details>")
                out.append("")
            }
        }

        if !unreachable.isEmpty {
            section(
                "#### Unreachable: \(plural(unreachable.count, "agent")), not planned",
                header: ["agent", "API", "error"],
                rows: unreachable.map { [label($0), code($0.api), code($0.error ?? "unknown")] },
                noun: "agent", more: "see `mirrorsync status`.")
        }

        var inSync: [String] = []
        for agent in plan.agents where agent.reachable {
            let shown = agent.actions.filter { $0.change != .unchanged }
            guard !shown.isEmpty else {
                inSync.append(label(agent))
                continue
            }
            var parts: [String] = []
            for (change, word) in [
                (PlanAction.Change.create, "to create"), (.update, "to update"), (.remove, "to remove"),
                (.unmanaged, "unmanaged"),
            ] {
                let n = shown.filter { $0.change == change }.count
                if n > 0 { parts.append("\(n) \(word)") }
            }
            section(
                "#### \(label(agent)) \(code(agent.api)): " + parts.joined(separator: ", "),
                header: ["action", "object", "changes"],
                rows: shown.map(row), noun: "action", more: "run `mirrorsync reconcile --dry-run` for the whole plan.")
        }
        if !inSync.isEmpty {
            out.append("In sync: " + inSync.joined(separator: ", ") + ".")
            out.append("")
        }
        out.append("<sub>Planned by `mirrorsync reconcile --dry-run`; nothing was changed.</sub>")
        out.append("")
        return out.joined(separator: "\n")
    }

    static func row(_ action: PlanAction) -> [String] {
        let object = action.object == .settings ? "settings" : "project " + code(action.name)
        let changes: String
        switch action.change {
        case .create:
            changes = text(action.summary ?? "")
        case .update:
            changes =
                action.fields.isEmpty
                ? "spec changed"
                : action.fields.map { code($0.path) + ": " + value($0.old) + " → " + value($0.new) }.joined(
                    separator: "<br>")
        case .remove:
            changes = action.purge ? "**files deleted** (`--prune`)" : "files kept (use `--prune` to delete them)"
        case .unmanaged:
            changes = "not in `mirrors.d`; left alone (use `--prune` to remove it)"
        case .unchanged:
            changes = ""
        }
        return [action.change.rawValue, object, changes]
    }

    static func label(_ agent: AgentPlan) -> String {
        agent.role == .master ? "master" : "slave " + code(agent.agent)
    }

    static func value(_ text: String?) -> String {
        guard let text else { return "*(none)*" }
        return text.isEmpty ? "*(empty)*" : code(text)
    }

    /// A code span that holds any text: a fence longer than any run of backticks inside, `|` escaped for tables.
    static func code(_ raw: String) -> String {
        let s = raw.map { $0.isNewline ? " " : String($0) }.joined().replacingAll("|", with: "\\|")
        var longest = 0
        var run = 0
        for ch in s {
            run = ch == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        let pad = s.hasPrefix("`") || s.hasSuffix("`") ? " " : ""
        return fence + pad + s + pad + fence
    }

    /// Plain text with Markdown's and HTML's special characters escaped.
    static func text(_ raw: String) -> String {
        var out = ""
        for ch in raw {
            if ch.isNewline {
                out += " "
                continue
            }
            if "\\`*_[]<>|&~".contains(ch) { out += "\\" }
            out.append(ch)
        }
        return out
    }

    static func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for ch in self { if ch == target { out += replacement } else { out.append(ch) } }
        return out
    }
}
