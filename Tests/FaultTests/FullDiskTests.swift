import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// A small tmpfs the test mounts, and unmounts at its end.
final class SmallDisk: Sendable {
    let path: String

    static let unavailable: String? = getuid() == 0 ? nil : "mounting a tmpfs needs root"

    init(at path: String, size: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try NetworkLab.run("/usr/bin/env", ["mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path])
    }

    func resize(_ size: String) throws {
        try NetworkLab.run("/usr/bin/env", ["mount", "-o", "remount,size=\(size)", path])
    }

    /// Bytes in use.
    var used: Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return -1 }
        return Int(info.f_blocks - info.f_bfree) * Int(info.f_frsize)
    }

    deinit { _ = try? NetworkLab.run("/usr/bin/env", ["umount", "-l", path]) }
}

@Suite(
    "Faults: full disks", .serialized,
    .enabled(if: SmallDisk.unavailable == nil, Comment(rawValue: SmallDisk.unavailable ?? "")))
struct FullDiskTests {
    /// The story both trees share: `agent` serves revision 1 from `tree` on `disk`; revision 2 holds 4 MB more than the
    /// disk has room for. The run fails at once (a full disk is not retried), naming the host and the tree; the served
    /// files and the revision stay; no holding directory is left to fill the disk for the next try.
    func fillsUp(_ site: KillSite, agent: String, host: String, tree: String, disk: SmallDisk) async throws {
        try await eventually("\(agent) at revision 1", seconds: 60) {
            try await site.state(agent).projects["linux"]?.status.revision == 1
        }
        let served = try Tree.snapshot(tree)
        let usedBefore = disk.used
        try Tree.generate(at: site.upstream + "/linux/big", files: 40, bytes: 100_000, seed: 4)
        _ = try await site.request("master", "POST", "/v1/projects/linux/sync")
        var failure: RunRecord?
        try await eventually("\(agent)'s run failing at once", seconds: 30) {
            let run = try await site.state(agent).projects["linux"]?.status.lastRun
            if run?.result == .failed { failure = run }
            return failure != nil
        }
        let message = failure?.message ?? ""
        #expect(message.contains("No space left on device"), "\(message)")
        #expect(message.contains("in \(host)'s tree \(tree) "), "the message names the host and the tree: \(message)")
        #expect(failure?.reason == "no-space" && failure?.attempts == 1)
        #expect(try await site.state(agent).projects["linux"]?.status.revision == 1)
        let after = try Tree.snapshot(tree)
        #expect(
            served.allSatisfy { after[$0.key] == $0.value },
            "served files changed or went: \(served.keys.filter { after[$0] != served[$0] }.sorted().prefix(5))")
        #expect(
            after.keys.filter { $0.contains(".~tmp~") }.isEmpty,
            "debris left: \(after.keys.filter { $0.contains(".~tmp~") }.sorted().prefix(5))")
        #expect(disk.used <= usedBefore + 64 << 10, "the failed run left \(disk.used - usedBefore) bytes behind")
    }

    @Test(
        "a slave's public directory too small for the new revision: the pull fails saying so, deletes nothing served, leaves no debris, and succeeds once there is room"
    )
    func slavePublicDirFull() async throws {
        let site = try KillSite()
        let disk = try SmallDisk(at: site.scratch.path + "/b-public", size: "3m")
        for name in site.agents + ["reconcile"] { try site.start(name) }
        try await fillsUp(site, agent: "b", host: "slave b", tree: site.scratch.path + "/b-public/linux", disk: disk)
        try disk.resize("16m")
        try await eventually("b serving revision 2 once there is room", seconds: 90) {
            try await site.state("b").projects["linux"]?.status.revision == 2
        }
        #expect(try Tree.snapshot(site.scratch.path + "/b-public/linux") == Tree.snapshot(site.upstream + "/linux"))
        await site.stopAll()
    }

    @Test(
        "the master's root too small for the upstream's new files: the sync fails saying so and is not retried, the served tree and its revision stay, no debris; once there is room it succeeds and the slaves follow"
    )
    func masterRootFull() async throws {
        let site = try KillSite()
        let disk = try SmallDisk(at: site.scratch.path + "/master-root", size: "4m")
        for name in site.agents + ["reconcile"] { try site.start(name) }
        try await fillsUp(
            site, agent: "master", host: "master", tree: site.scratch.path + "/master-root/linux", disk: disk)
        try disk.resize("32m")
        _ = try await site.request("master", "POST", "/v1/projects/linux/sync")
        try await eventually("revision 2 on the master and both slaves", seconds: 90) {
            let (m, a, b) = try await (site.state("master"), site.state("a"), site.state("b"))
            return [m, a, b].allSatisfy { $0.projects["linux"]?.status.revision == 2 }
        }
        #expect(try Tree.snapshot(site.scratch.path + "/a-public/linux") == Tree.snapshot(site.upstream + "/linux"))
        await site.stopAll()
    }

    @Test(
        "the agent's own state directory full: a change is answered 503 with the reason and changes nothing; the agent keeps serving, and takes changes again once there is room"
    )
    func stateDirectoryFull() async throws {
        let site = try KillSite()
        let disk = try SmallDisk(at: site.scratch.path + "/master-state", size: "2m")
        try site.start("master")
        _ = try await site.state("master")
        // Everything the disk has left, taken by a file that is not the agent's.
        let filler = disk.path + "/filler"
        _ = try? NetworkLab.run("/usr/bin/env", ["dd", "if=/dev/zero", "of=\(filler)", "bs=64k"], check: false)
        let body = #"{"upstream": {"url": "\#(site.daemon.url)"}, "source": "tools", "interval": {"every": "1h"}}"#
        func put() async throws -> (status: Int, body: String) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(site.ports["master"]!)/v1/projects/tools")!)
            request.httpMethod = "PUT"
            request.httpBody = Data(body.utf8)
            request.setValue("Bearer \(try TokenFile.read(site.tokenFile))", forHTTPHeaderField: "Authorization")
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        let refused = try await put()
        #expect(refused.status == 503, "\(refused)")
        #expect(
            refused.body.contains("storage-full") && refused.body.contains("No space left on device"), "\(refused.body)"
        )
        #expect(try await site.state("master").projects["tools"] == nil, "nothing changed")
        #expect(site.processes["master"]?.isRunning == true)
        try FileManager.default.removeItem(atPath: filler)
        let accepted = try await put()
        #expect(accepted.status == 201, "\(accepted)")
        #expect(try await site.state("master").projects["tools"] != nil)
        await site.stopAll()
    }
}
