import Foundation
import MirrorCore
import MirrorTestSupport
import Testing

@Suite("Upstream push across the site (separate processes, real rsync, curl as the upstream)", .serialized)
struct PushSiteTests {
    @Test(
        "the upstream's one curl, as docs/operations.md writes it, brings its new tree to both slaves; a wrong token moves nothing"
    )
    func push() async throws {
        let site = try Site("push")
        let token = "push-\(UUID().uuidString)"
        let tokenFile = site.scratch.path + "/linux.push"
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        try await site.start(
            replacing: "up: { url: \"\(site.daemon.url)\" }",
            with: "up: { url: \"\(site.daemon.url)\", pushTokenFile: \(tokenFile) }")

        func curl(_ bearer: String) async -> (Int32, String) {
            await run(
                "/usr/bin/curl",
                [
                    "-sS", "-w", "\n%{http_code}", "-X", "POST", "-H", "Authorization: Bearer \(bearer)",
                    site.master.base + "/v1/projects/linux/trigger",
                ])
        }
        try Data("published by the upstream\n".utf8).write(
            to: URL(fileURLWithPath: site.upstream + "/linux/pool/1/file-1.deb"))
        // A wrong token and the agents' token: 401 and the site stays at revision 1.
        for wrong in ["wrong", try String(contentsOfFile: site.master.tokenFile, encoding: .utf8)] {
            let (status, output) = await curl(wrong)
            #expect(status == 0 && output.hasSuffix("\n401") && output.contains("push token"), "\(output)")
        }
        #expect(try await site.status().projects["linux"]?.revision == 1, "a refused push started nothing")

        let (status, output) = await curl(token)
        #expect(status == 0 && output.hasSuffix("\n202") && output.contains("\"outcome\":\"queued\""), "\(output)")
        let served = try await site.wait("served the pushed tree on both slaves", site.atRevision(2))
        #expect(served.projects["linux"]?.lastRun?.trigger == .push)
        for slave in [site.a, site.b] {
            #expect(
                try String(contentsOfFile: site.tree(slave, "linux") + "/pool/1/file-1.deb", encoding: .utf8)
                    == "published by the upstream\n")
        }
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }
}
