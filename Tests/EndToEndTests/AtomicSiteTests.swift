import Foundation
import MirrorCore
import MirrorTestSupport
import Testing

@Suite("Atomic publication across the site (separate processes, real rsync)", .serialized)
struct AtomicSiteTests {
    @Test(
        "master and both slaves publish whole revisions; the slaves pull the master's published one, never one it is building"
    )
    func site() async throws {
        let site = try Site("atomic")
        try await site.start(
            replacing: "linux: { upstream: up, source: linux, interval: hourly, slaves: all }",
            with: "linux: { upstream: up, source: linux, interval: hourly, slaves: all, publish: atomic }")
        let masterTree = site.scratch.path + "/master-root/linux"
        let trees = [masterTree, site.tree(site.a, "linux"), site.tree(site.b, "linux")]
        for tree in trees {
            #expect(
                try FileManager.default.destinationOfSymbolicLink(atPath: tree).hasPrefix(
                    ".mirrorsync-revisions/linux/1@"), "\(tree)")
            #expect(
                try Tree.snapshot(URL(fileURLWithPath: tree).resolvingSymlinksInPath().path)
                    == Tree.snapshot(site.upstream + "/linux"))
        }
        // tools stays in place.
        var info = stat()
        #expect(lstat(site.tree(site.a, "tools"), &info) == 0 && info.st_mode & S_IFMT == S_IFDIR)

        try await site.changeUpstream("revision 2\n")
        try await site.wait("served revision 2 everywhere", site.atRevision(2))
        for tree in trees {
            #expect(
                try FileManager.default.destinationOfSymbolicLink(atPath: tree).hasPrefix(
                    ".mirrorsync-revisions/linux/2@"), "\(tree)")
            #expect(try String(contentsOfFile: tree + "/pool/1/file-1.deb", encoding: .utf8) == "revision 2\n")
            let store = (tree as NSString).deletingLastPathComponent + "/.mirrorsync-revisions/linux"
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: store).count == 2,
                "the revision before is kept for its grace")
        }
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }
}
