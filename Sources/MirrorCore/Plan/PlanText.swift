/// Plans as people read them: agents with changes, a line per object, a summary at the end.
///
///     master  http://127.0.0.1:7070
///       + project fedora      upstream=fedora interval=hourly
///       ~ project debian      interval.every: 1h -> 15m
///       - project centos      files kept (use --prune to delete them)
///     slave ftp1  http://127.0.0.1:7071
///       + project fedora
///     Plan: 2 to create, 1 to update, 1 to remove.
public enum PlanText {
    /// What a piece of the text says, for a caller that shows it in colour: the core names it, the terminal paints it.
    public enum Tone: Sendable {
        case heading, create, update, remove, unmanaged, refusal
    }

    /// The plan as text; `paint` marks up each piece by its tone (nothing by default).
    public static func render(_ plan: Plan, paint: (String, Tone) -> String = { text, _ in text }) -> String {
        var lines: [String] = []
        let width = max(20, (plan.agents.flatMap(\.actions).map { label($0).count }.max() ?? 0) + 2)
        for agent in plan.agents {
            let title = (agent.role == .master ? "master" : "slave \(agent.agent)") + "  " + agent.api
            guard agent.reachable else {
                lines.append(
                    paint(title, .heading) + "  " + paint("unreachable: \(agent.error ?? "unknown")", .refusal))
                continue
            }
            let shown = agent.actions.filter { $0.change != .unchanged }
            guard !shown.isEmpty else { continue }
            lines.append(paint(title, .heading))
            for action in shown {
                let (mark, tone): (String, Tone?) =
                    switch action.change {
                    case .create: ("+", .create)
                    case .update: ("~", .update)
                    case .remove: ("-", .remove)
                    case .unmanaged: ("?", .unmanaged)
                    case .unchanged: (" ", nil)
                    }
                let text = mark + " " + label(action).padding(toLength: width, withPad: " ", startingAt: 0)
                let head = "  " + (tone.map { paint(text, $0) } ?? text)
                switch action.change {
                case .create:
                    lines.append((head + (action.summary ?? "")).trimmingTrailingSpaces())
                case .update:
                    let changes = action.fields.map { "\($0.path): \($0.old ?? "(none)") -> \($0.new ?? "(none)")" }
                    lines.append(head + (changes.first ?? "spec changed"))
                    for more in changes.dropFirst() { lines.append(String(repeating: " ", count: width + 4) + more) }
                case .remove:
                    lines.append(
                        head + (action.purge ? "files deleted (--prune)" : "files kept (use --prune to delete them)"))
                case .unmanaged:
                    lines.append(head + "not in mirrors.d; left alone (use --prune to remove it)")
                case .unchanged:
                    break
                }
            }
        }
        let c = plan.counts
        if let refusal = plan.refusal { lines.append(paint("Refused: \(refusal)", .refusal)) }
        if c.changes == 0 {
            lines.append(
                plan.unreachable.isEmpty
                    ? "No changes: every agent matches mirrors.d."
                    : "No changes on the agents that answered; \(plan.unreachable.count) could not be read.")
        } else {
            lines.append("Plan: \(c.create) to create, \(c.update) to update, \(c.remove) to remove.")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func label(_ action: PlanAction) -> String {
        action.object == .settings ? "settings" : "project \(action.name)"
    }
}

extension String {
    /// The string without spaces at its end, for padded columns.
    public func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
