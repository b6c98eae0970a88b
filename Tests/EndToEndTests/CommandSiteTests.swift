import Foundation
import MirrorCore
import MirrorTestSupport
import Testing

/// Upstreams that are programs, through mirrors.d: the shipped git and lftp providers on the master, each slave
/// pulling the master's copy by rsync.
@Suite("The site: command upstreams (the shipped providers, separate processes, real git, lftp and rsync)", .serialized)
struct CommandSiteTests {
    static let providers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("providers").path
    static let git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]

    @discardableResult
    static func run(_ argv: [String]) async throws -> String {
        let ran = try await runProgram("/usr/bin/env", argv)
        guard ran.status == 0 else { throw ValueError("\(argv) exited with \(ran.status): \(ran.stderr)") }
        return ran.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Both projects at `revision` on the master, and served at it by both slaves.
    static func served(_ revision: Int) -> (SiteStatus) -> Bool {
        { status in
            ["repo", "web"].allSatisfy { name in
                guard let project = status.projects[name], project.revision == revision else { return false }
                return ["a", "b"].allSatisfy {
                    project.slaves[$0]?.revision == revision && project.slaves[$0]?.result == .success
                }
            }
        }
    }

    @Test(
        "a git repository and an HTTP tree through command upstreams reach both slaves; their changes follow; an emptied HTTP upstream publishes nothing, saying why"
    )
    func programs() async throws {
        let site = try Site("command") { $0 == "master" ? ["--allow-exec", Self.providers] : [] }
        let repo = site.scratch.sub("repo.git")
        try await Self.run(Self.git + ["init", "-q", "-b", "main", repo])
        try "one\n".write(toFile: repo + "/README", atomically: true, encoding: .utf8)
        try await Self.run(Self.git + ["-C", repo, "add", "README"])
        try await Self.run(Self.git + ["-C", repo, "commit", "-q", "-m", "one"])
        let web = site.scratch.sub("web")
        // Plain files in directories: what an HTTP index shows (no links, which HTTP cannot carry).
        var webFiles: [String: Data] = [:]
        for i in 0..<30 {
            let path = "dir\(i % 5)/file-\(i).bin"
            webFiles[path] = Data((0..<(100 + i * 37)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
            try FileManager.default.createDirectory(
                atPath: web + "/dir\(i % 5)", withIntermediateDirectories: true)
            try webFiles[path]!.write(to: URL(fileURLWithPath: web + "/" + path))
        }
        let server = try await HTTPServer(serving: web)
        defer { server.stop() }

        try await site.start(
            replacing: "slaves:\n  a:",
            with: """
                  gitup: { command: [\(Self.providers)/git-mirror], url: "\(repo)" }
                  webup: { command: [\(Self.providers)/lftp-mirror], url: "\(server.url)" }
                slaves:
                  a:
                """)
        var yaml = try String(contentsOfFile: site.directory + "/site.yaml", encoding: .utf8)
        yaml +=
            "  repo: { upstream: gitup, interval: hourly, publish: atomic }\n"
            + "  web: { upstream: webup, interval: hourly, publish: atomic, maxDelete: 20% }\n"
        try yaml.write(toFile: site.directory + "/site.yaml", atomically: true, encoding: .utf8)
        try await site.reconcile()
        try await site.wait("served both programs' trees at revision 1 everywhere", Self.served(1))

        let head = { (dir: String) in try await Self.run(["git", "--git-dir=" + dir, "rev-parse", "refs/heads/main"]) }
        for slave in [site.a, site.b] {
            #expect(try await head(site.tree(slave, "repo")) == head(repo + "/.git"), "\(slave.name)'s mirror")
            let served = site.tree(slave, "web")
            for (path, data) in webFiles {
                #expect(
                    FileManager.default.contents(atPath: served + "/" + path) == data, "\(slave.name) serves \(path)")
            }
        }

        // A new commit and new files upstream: the next runs bring them, and both slaves serve them.
        try "two\n".write(toFile: repo + "/README", atomically: true, encoding: .utf8)
        try await Self.run(Self.git + ["-C", repo, "commit", "-q", "-am", "two"])
        try FileManager.default.createDirectory(atPath: web + "/new", withIntermediateDirectories: true)
        try Data("new file\n".utf8).write(to: URL(fileURLWithPath: web + "/new/file.txt"))
        for project in ["repo", "web"] {
            #expect(try await site.master.request("POST", "/v1/projects/\(project)/sync").status == 202)
        }
        try await site.wait("served revision 2 of both everywhere", Self.served(2))
        for slave in [site.a, site.b] {
            #expect(try await head(site.tree(slave, "repo")) == head(repo + "/.git"), "\(slave.name)'s new commit")
            #expect(
                try String(contentsOfFile: site.tree(slave, "web") + "/new/file.txt", encoding: .utf8) == "new file\n")
        }

        // The HTTP upstream emptied: lftp deletes everything in its copy, which is not published; the run says why.
        for name in try FileManager.default.contentsOfDirectory(atPath: web) {
            try FileManager.default.removeItem(atPath: web + "/" + name)
        }
        #expect(try await site.master.request("POST", "/v1/projects/web/sync").status == 202)
        let failed = try await site.wait("refused the emptied tree") {
            $0.projects["web"]?.lastRun?.result == .failed
        }
        let message = failed.projects["web"]?.lastRun?.message ?? ""
        #expect(message.contains("lists no files") && message.contains("nothing was published"), "\(message)")
        #expect(failed.projects["web"]?.revision == 2)
        for tree in [site.scratch.path + "/master-root/web", site.tree(site.a, "web"), site.tree(site.b, "web")] {
            #expect(
                FileManager.default.fileExists(atPath: tree + "/new/file.txt"), "\(tree) still serves revision 2")
        }
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }
}
