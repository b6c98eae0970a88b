import Foundation
import MirrorCore
import MirrorTestSupport
import Testing

@Suite("Debian trace files and hooks across the site (separate processes, real rsync)", .serialized)
struct TraceSiteTests {
    @Test(
        "master and slaves each write their own trace, which the checker parses; each slave keeps the master's; the site's hook runs on every host"
    )
    func traces() async throws {
        let site = try Site("trace") { ["--trace-host", "\($0).mirror.example", "--allow-exec", "/bin"] }
        // linux's upstream is a Debian-style mirror: its own trace/master with the archive serial. tools has none.
        try FileManager.default.createDirectory(
            atPath: site.upstream + "/linux/project/trace", withIntermediateDirectories: true)
        try "Sun Nov 29 06:00:00 UTC 2026\nDate: Sun, 29 Nov 2026 06:00:00 +0000\nArchive serial: 2026112901\n"
            .write(toFile: site.upstream + "/linux/project/trace/master", atomically: true, encoding: .utf8)
        let hooks = site.scratch.sub("hooks")
        // Slave b names and describes itself in mirrors.d (trace:), over its --trace-host; a keeps the flag's name.
        let described = try String(contentsOfFile: site.directory + "/site.yaml", encoding: .utf8).replacingOccurrences(
            of: "/b-public }",
            with:
                "/b-public, trace: { host: ftp-b.example.org, maintainer: \"Mirror admins <mirror@example.org>\", country: DE } }"
        )
        #expect(described.contains("ftp-b.example.org"))
        let yaml =
            described + """
                defaults:
                  hooks:
                    onSuccess: [/bin/sh, -c, 'echo "$MIRRORSYNC_REVISION" > "$0/$MIRRORSYNC_HOST-$MIRRORSYNC_PROJECT"', \(hooks)]

                """
        try yaml.write(toFile: site.directory + "/site.yaml", atomically: true, encoding: .utf8)
        for agent in [site.master, site.a, site.b] { try await agent.start() }
        try await site.reconcile()
        try await site.wait("served revision 1 everywhere", site.atRevision(1))

        let masterTree = site.scratch.path + "/master-root/linux"
        let masterTrace = try #require(CheckedTrace(file: masterTree + "/project/trace/master.mirror.example"))
        #expect(masterTrace.fields["Archive serial"] == "2026112901")
        #expect(masterTrace.fields["Running on host"] == "master.mirror.example")
        #expect(masterTrace.fields["Upstream-mirror"] == "127.0.0.1")
        #expect(masterTrace.fields["Creator"]?.hasPrefix("mirrorsync ") == true)
        for slave in [site.a, site.b] {
            let tree = site.tree(slave, "linux")
            let name = slave.name == "b" ? "ftp-b.example.org" : "\(slave.name).mirror.example"
            let own = try #require(CheckedTrace(file: tree + "/project/trace/\(name)"), "\(slave.name)")
            #expect(own.fields["Archive serial"] == "2026112901")
            #expect(own.fields["Running on host"] == "\(slave.name).mirror.example")
            #expect(own.fields["Trigger"] == "push")
            #expect(own.fields["Maintainer"] == (slave.name == "b" ? "Mirror admins <mirror@example.org>" : nil))
            #expect(own.fields["Country"] == (slave.name == "b" ? "DE" : nil))
            #expect(own.date >= masterTrace.date)
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: tree + "/project/trace/master.mirror.example"))
                    == Data(contentsOf: URL(fileURLWithPath: masterTree + "/project/trace/master.mirror.example")))
            #expect(
                try String(contentsOfFile: tree + "/project/trace/_traces", encoding: .utf8)
                    == "master\nmaster.mirror.example\n\(name)\n")
            #expect(
                try String(contentsOfFile: tree + "/project/trace/_hierarchy", encoding: .utf8)
                    == "master.mirror.example master.mirror.example master.mirror.example 127.0.0.1\n"
                    + "\(name) \(name) \(slave.name).mirror.example 127.0.0.1\n")
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: tree).allSatisfy {
                    !$0.hasPrefix("Archive-Update-")
                })
        }
        // tools' upstream has no project/trace/: no trace there (trace left out).
        #expect(!FileManager.default.fileExists(atPath: site.tree(site.a, "tools") + "/project/trace"))
        // The site's default hook ran on each host that synced, with that host's name and revision.
        try await eventually("the hooks ran on every host", seconds: 30) {
            ["master-linux", "a-linux", "b-linux", "master-tools", "a-tools"].allSatisfy {
                (try? String(contentsOfFile: hooks + "/" + $0, encoding: .utf8)) == "1\n"
            }
        }
        try await eventually("a's run records its hook", seconds: 10) {
            let hook = try await site.a.state().projects["linux"]?.status.lastRun?.hook
            return hook?.exitCode == 0 && hook?.event == "onSuccess"
        }
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }
}
