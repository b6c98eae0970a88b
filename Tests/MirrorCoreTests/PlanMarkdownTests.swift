import Foundation
import Testing
@testable import MirrorCore

/// `reconcile --dry-run --output markdown`: each plan against its expected text in `Fixtures/plans/NAME.md`, compared
/// exactly. After a deliberate change of the rendering, `MIRRORSYNC_UPDATE_GOLDEN=1 swift test --filter PlanMarkdown`
/// rewrites the files; read their diff before committing it.
@Suite("The Markdown plan (golden)")
struct PlanMarkdownTests {
    let plans = PlanTests()

    func expect(
        _ plan: Plan, matches name: String, options: PlanMarkdown.Options = .init(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let rendered = PlanMarkdown.render(plan, options: options)
        let path = Corpus.root + "/plans/" + name + ".md"
        if ProcessInfo.processInfo.environment["MIRRORSYNC_UPDATE_GOLDEN"] != nil {
            try rendered.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: path, encoding: .utf8)
        #expect(rendered == expected, "\(name).md differs; rendered:\n\(rendered)", sourceLocation: sourceLocation)
    }

    @Test("every agent in sync: one line")
    func inSync() throws {
        let agents = try plans.desired("projects:\n  linux: { upstream: kernel-org, interval: hourly }\n")
        try expect(Planner.plan(desired: agents, observed: plans.inSync(agents)), matches: "in-sync")
    }

    @Test("creates, updates with their field changes, removes and a project put by hand, on the master and the slaves")
    func changes() throws {
        let before = try plans.desired(
            """
            projects:
              centos: { upstream: local, interval: hourly }
              debian: { upstream: kernel-org, interval: hourly, slaves: [ftp1] }
              gnu: { upstream: local, interval: hourly, slaves: [ftp2], exclude: ["*.tmp"] }
            """)
        let after = try plans.desired(
            """
            projects:
              debian: { upstream: kernel-org, interval: frequent, slaves: [ftp1], exclude: ["*.tmp", ".~tmp~/"], rsyncOptions: [--no-owner] }
              fedora: { upstream: local, interval: hourly, slaves: [ftp1] }
              gnu: { upstream: local, interval: hourly, slaves: [ftp2], exclude: ["*.tmp"], path: pub/gnu }
            """,
            site: PlanTests.site.replacingOccurrences(
                of: "rsyncd: { port: 8873 }", with: "rsyncd: { port: 8873 }, maxConcurrentSyncs: 8"))
        var observed = plans.inSync(before)
        if case .state(var master)? = observed["master"] {
            master.projects["handmade"] = ProjectState(
                spec: after[0].projects["fedora"]!, generation: "x",
                status: ProjectStatus(activity: .idle, revision: 0))
            observed["master"] = .state(master)
        }
        try expect(Planner.plan(desired: after, observed: observed), matches: "changes")
        try expect(
            Planner.plan(desired: after, observed: observed, options: .init(prune: true, allowMassRemoval: true)),
            matches: "changes-pruned")
    }

    @Test("a refused plan says so first")
    func refused() throws {
        let full = try plans.desired(
            "projects:\n" + (0..<3).map { "  p\($0): { upstream: local, interval: hourly, slaves: [] }\n" }.joined())
        let one = try plans.desired("projects:\n  p0: { upstream: local, interval: hourly, slaves: [] }\n")
        try expect(Planner.plan(desired: one, observed: plans.inSync(full)), matches: "refused")
    }

    @Test("an unreachable agent is listed with its error; the others are planned")
    func unreachable() throws {
        let before = try plans.desired("projects:\n  linux: { upstream: kernel-org, interval: hourly }\n")
        let after = try plans.desired("projects:\n  linux: { upstream: kernel-org, interval: frequent }\n")
        var observed = plans.inSync(before)
        observed["ftp2"] = .unreachable("GET http://127.0.0.1:7072/v1/state: connection refused")
        try expect(Planner.plan(desired: after, observed: observed), matches: "unreachable")
        var quiet = plans.inSync(after)
        quiet["ftp1"] = .unreachable("timed out after 5 s")
        try expect(Planner.plan(desired: after, observed: quiet), matches: "unreachable-no-changes")
    }

    @Test("a long plan folds each long table into <details>, and past maxRows counts the rest")
    func long() throws {
        let agents = try plans.desired(
            "projects:\n"
                + (0..<14).map {
                    "  p\($0 < 10 ? "0" : "")\($0): { upstream: local, interval: hourly, slaves: [ftp1] }\n"
                }.joined())
        var observed = plans.inSync(agents)
        for name in ["master", "ftp1"] {
            if case .state(var state)? = observed[name] {
                state.projects = [:]
                observed[name] = .state(state)
            }
        }
        let plan = Planner.plan(desired: agents, observed: observed)
        try expect(plan, matches: "long")
        try expect(plan, matches: "long-truncated", options: .init(collapseAfter: 10, maxRows: 20))
    }

    @Test("any value fits in a table cell's code span: backticks, pipes, newlines")
    func escaping() {
        #expect(PlanMarkdown.code("a|b") == #"`a\|b`"#)
        #expect(PlanMarkdown.code("x`y") == "``x`y``")
        #expect(PlanMarkdown.code("`x``") == "``` `x`` ```")
        #expect(PlanMarkdown.code("a\nb") == "`a b`")
        #expect(
            PlanMarkdown.text("see <b>*this*</b> | [x](y) & more") == #"see \<b\>\*this\*\</b\> \| \[x\](y) \& more"#)
        #expect(PlanMarkdown.value(nil) == "*(none)*" && PlanMarkdown.value("") == "*(empty)*")
    }
}
