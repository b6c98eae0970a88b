import Foundation
import Testing
import MirrorCore
import MirrorTestSupport

/// A command run to its end off the cooperative pool, its standard output and error together.
func runTool(_ arguments: [String], in directory: String, environment: [String: String] = [:]) async throws -> (
    status: Int32, output: String
) {
    let result = try await runProgram(
        "/usr/bin/env", arguments, in: directory,
        environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    return (result.status, result.stdout + result.stderr)
}

@Suite("GitOps: the pre-commit hook, --output markdown, the CI examples", .serialized)
struct GitOpsTests {
    /// The repository's `.pre-commit-hooks.yaml` as pre-commit (from PyPI) meets it: committed in a hooks repository,
    /// installed in a site's repository with the built mirrorsync first on PATH, and run by `git commit`.
    @Test("pre-commit runs mirrorsync validate: a good commit goes in, a bad one is refused with FILE:LINE:COLUMN")
    func preCommitHook() async throws {
        let scratch = Scratch("pre-commit")
        let binDirectory = URL(fileURLWithPath: Binary.path).deletingLastPathComponent().path
        let environment = [
            "PATH": binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            "PRE_COMMIT_HOME": scratch.path + "/cache", "NO_COLOR": "1",
            "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.org",
            "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.org",
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
        ]
        func run(_ arguments: [String], in directory: String) async throws -> (status: Int32, output: String) {
            try await runTool(arguments, in: directory, environment: environment)
        }
        let version = try await run(["pre-commit", "--version"], in: scratch.path)
        try #require(version.status == 0, "pre-commit is not installed (make deps installs it): \(version.output)")

        let hooks = scratch.sub("hooks")
        try FileManager.default.copyItem(
            atPath: Binary.repositoryRoot + "/.pre-commit-hooks.yaml", toPath: hooks + "/.pre-commit-hooks.yaml")
        for step in [
            ["git", "init", "-q", "-b", "main"], ["git", "add", "."], ["git", "commit", "-q", "-m", "hooks"],
        ] {
            let result = try await run(step, in: hooks)
            try #require(result.status == 0, "\(step): \(result.output)")
        }
        let rev = try await run(["git", "rev-parse", "HEAD"], in: hooks).output.trimmingCharacters(
            in: .whitespacesAndNewlines)

        let site = scratch.sub("site")
        try FileManager.default.copyItem(atPath: Binary.repositoryRoot + "/mirrors.d", toPath: site + "/mirrors.d")
        try """
        repos:
          - repo: \(hooks)
            rev: \(rev)
            hooks:
              - id: mirrorsync-validate

        """.write(toFile: site + "/.pre-commit-config.yaml", atomically: true, encoding: .utf8)
        try "a site\n".write(toFile: site + "/README", atomically: true, encoding: .utf8)
        for step in [["git", "init", "-q", "-b", "main"], ["pre-commit", "install"], ["git", "add", "."]] {
            let result = try await run(step, in: site)
            try #require(result.status == 0, "\(step): \(result.output)")
        }
        let good = try await run(["git", "commit", "-m", "the site"], in: site)
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("mirrorsync validate") && good.output.contains("Passed"), "\(good.output)")
        // pre-commit warns about what it deprecates (language: system, ...); the manifest must not earn any.
        #expect(!good.output.contains("[WARNING]"), "\(good.output)")

        let file = site + "/mirrors.d/40-projects-debian.yaml"
        var lines = try String(contentsOfFile: file, encoding: .utf8).components(separatedBy: "\n")
        let index = try #require(
            lines.firstIndex { $0.hasPrefix("    interval:") }, "no '    interval:' line in 40-projects-debian.yaml")
        lines[index] = lines[index].replacingOccurrences(of: "interval:", with: "intervall:")
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        _ = try await run(["git", "add", "mirrors.d"], in: site)
        let bad = try await run(["git", "commit", "-m", "a typo"], in: site)
        #expect(bad.status != 0, "\(bad.output)")
        #expect(
            bad.output.contains("mirrors.d/40-projects-debian.yaml:\(index + 1):5: error: unknown key 'intervall'"),
            "\(bad.output)")
        #expect(bad.output.contains("Failed"), "\(bad.output)")
        let log = try await run(["git", "log", "--format=%s"], in: site)
        #expect(log.output == "the site\n", "the bad commit went in: \(log.output)")

        // A commit that does not touch mirrors.d does not run the hook.
        _ = try await run(["git", "reset", "-q"], in: site)
        _ = try await run(["git", "checkout", "-q", "--", "mirrors.d"], in: site)
        try "a site, still\n".write(toFile: site + "/README", atomically: true, encoding: .utf8)
        _ = try await run(["git", "add", "README"], in: site)
        let other = try await run(["git", "commit", "-m", "readme"], in: site)
        #expect(other.status == 0 && other.output.contains("(no files to check)Skipped"), "\(other.output)")
    }

    @Test("--output markdown goes with reconcile --dry-run only: a usage error elsewhere")
    func markdownOnlyWithDryRun() async throws {
        for (arguments, words) in [
            (["validate", "--output", "markdown"], "only for 'reconcile --dry-run'; validate prints"),
            (["status", "--output", "markdown"], "only for 'reconcile --dry-run'; status prints"),
            (["sync", "linux", "--output", "markdown"], "only for 'reconcile --dry-run'; sync prints"),
            (["reconcile", "--output", "markdown"], "it goes with --dry-run only"),
            (["reconcile", "--watch", "--output", "markdown"], "it goes with --dry-run only, not with --watch"),
        ] {
            let result = try await Binary.run(arguments)
            #expect(result.status == 64, "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains(words), "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }

    /// The CI examples as YAML (PyYAML reads them, as their CI systems' parsers would), and what each job does.
    @Test(
        "the CI examples parse, validate on every merge request, post the markdown plan, and apply on the main branch")
    func ciExamples() async throws {
        let script = """
            import json, sys, yaml
            print(json.dumps({name: yaml.safe_load(open(name)) for name in sys.argv[1:]}, default=str))
            """
        let directory = Binary.repositoryRoot + "/examples/ci"
        let result = try await runTool(["python3", "-c", script, "gitlab-ci.yml", "github-actions.yml"], in: directory)
        try #require(result.status == 0, "\(result.output)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])

        let gitlab = try #require(parsed["gitlab-ci.yml"] as? [String: Any])
        func gitlabJob(_ name: String) throws -> (script: String, rules: String) {
            let job = try #require(gitlab[name] as? [String: Any], "no job \(name)")
            let script = try #require(job["script"] as? [String], "job \(name) has no script").joined(separator: "\n")
            return (script, "\(job["rules"] ?? "")")
        }
        #expect(gitlab["stages"] as? [String] == ["validate", "plan", "apply"])
        let validate = try gitlabJob("validate")
        let plan = try gitlabJob("plan")
        let apply = try gitlabJob("apply")
        #expect(validate.script.contains("mirrorsync validate") && validate.rules.contains("merge_request_event"))
        #expect(
            plan.script.contains("reconcile \"$MIRRORS_DIR\" --dry-run --output markdown")
                && plan.rules.contains("merge_request_event"))
        #expect(
            plan.script.contains(PlanMarkdown.marker)
                && plan.script.contains("merge_requests/$CI_MERGE_REQUEST_IID/notes"))
        #expect(
            apply.script.contains("mirrorsync reconcile \"$MIRRORS_DIR\" --token-file")
                && apply.rules.contains("$CI_DEFAULT_BRANCH"))
        #expect(!apply.script.contains("--dry-run"))

        let github = try #require(parsed["github-actions.yml"] as? [String: Any])
        // YAML 1.1 reads the key `on` as true, which JSON spells "true".
        let triggers = try #require((github["on"] ?? github["true"]) as? [String: Any])
        #expect(triggers["pull_request"] != nil && "\(triggers["push"] ?? "")".contains("main"))
        let jobs = try #require(github["jobs"] as? [String: [String: Any]])
        func steps(_ name: String) throws -> String {
            let job = try #require(jobs[name], "no job \(name)")
            let steps = try #require(job["steps"] as? [[String: Any]])
            return steps.map { "\($0["run"] ?? "") \($0["with"] ?? "")" }.joined(separator: "\n")
        }
        #expect(try steps("validate").contains("mirrorsync validate"))
        #expect(
            try steps("plan").contains("--dry-run --output markdown") && steps("plan").contains(PlanMarkdown.marker))
        let planCondition = "\(jobs["plan"]?["if"] ?? "")"
        let applyCondition = "\(jobs["apply"]?["if"] ?? "")"
        #expect(planCondition.contains("pull_request"))
        #expect(
            try steps("apply").contains("mirrorsync reconcile \"$MIRRORS_DIR\" --token-file")
                && !steps("apply").contains("--dry-run"))
        #expect(applyCondition.contains("refs/heads/main"))
    }
}
