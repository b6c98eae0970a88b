import Foundation
import MirrorCore
import MirrorTestSupport
import Testing

/// Slave `a`'s host taken: its token, its accept file and its state directory (with its rsync credential) used from
/// its own network namespace against the master and against slave `b`, while the site syncs a new revision.
@Suite(
    "Faults: a compromised slave", .serialized,
    .enabled(if: NetworkLab.unavailable == nil, Comment(rawValue: NetworkLab.unavailable ?? "")))
struct CompromisedSlaveTests {
    /// The HTTP status of a call from `from` to `host`'s API with `token`.
    static func call(
        _ site: LabSite, from: String, _ host: String, _ method: String, _ path: String, token: String,
        body: String? = nil
    ) async -> String {
        let data = body.map { ["-H", "Content-Type: application/json", "--data", $0] } ?? []
        return await site.lab.run(
            on: from,
            [
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-X", method,
                "-H", "Authorization: Bearer \(token)",
            ] + data + ["\(site.apiURL(host))\(path)"]
        ).output
    }

    /// An rsync from `from` to the master's daemon as `user` with `password`: its exit status and output.
    static func rsync(_ site: LabSite, from: String, user: String, password: String, _ arguments: [String]) async -> (
        Int32, String
    ) {
        await site.lab.run(
            on: from, ["env", "RSYNC_PASSWORD=\(password)", "rsync", "--contimeout=5", "--timeout=10"] + arguments)
    }

    @Test(
        "with every file of slave a, from a's host: no call changes the master or b, b's report is not forged, no other rsync user is reached and nothing is written to the master's daemon, while both slaves take the new revision"
    )
    func compromisedSlave() async throws {
        let site = try LabSite("lab-compromised", scoped: true)
        try await site.start()
        try await site.wait("served revision 1 on both slaves") { site.atRevision(1, slaves: ["a", "b"])($0) }
        let token = try TokenFile.read(site.scratch.path + "/a.token")
        let rsyncUser = try TokenFile.read(site.scratch.path + "/a-state/master-rsync.secret.user")
        let rsyncPassword = try TokenFile.read(site.scratch.path + "/a-state/master-rsync.secret")
        #expect(rsyncUser == "mirrorsync-a")
        let bBefore = try await site.api("b", "GET", "/v1/state")

        // The site syncs a new revision meanwhile.
        try Data("second".utf8).write(to: URL(fileURLWithPath: site.upstream + "/linux/pool/1/file-1.deb"))
        _ = try await site.api("master", "POST", "/v1/projects/linux/sync")

        let project = #"{"upstream": {"url": "rsync://10.0.0.1/pub/"}, "path": "evil", "interval": "1h"}"#
        let report = String(
            decoding: try APICoding.encoder().encode(
                SlaveReport(
                    slave: "b", project: "linux", revision: 99, result: .success, runID: 9, startedAt: nil,
                    endedAt: Date(), durationSeconds: 1)), as: UTF8.self)
        var answers: [String: String] = [:]
        for (host, method, path, body) in [
            ("master", "PUT", "/v1/projects/evil", project), ("master", "PUT", "/v1/settings", "{}"),
            ("master", "DELETE", "/v1/projects/linux", nil),
            ("master", "POST", "/v1/projects/linux/sync", nil), ("master", "POST", "/v1/projects/linux/cancel", nil),
            ("master", "GET", "/v1/state", nil),
            ("master", "POST", "/v1/reports", report),
            ("b", "PUT", "/v1/projects/evil", project), ("b", "POST", "/v1/projects/linux/sync", #"{"revision": 99}"#),
            ("b", "DELETE", "/v1/projects/linux", nil),
        ] as [(String, String, String, String?)] {
            answers["\(host) \(method) \(path)"] = await Self.call(
                site, from: "a", host, method, path, token: token, body: body)
        }
        for (call, status) in answers {
            // The master knows a's credential and refuses it outside a's role; b does not know it at all.
            #expect(status == (call.hasPrefix("master") ? "403" : "401"), "\(call): \(status)")
        }

        // The rsync daemon: a's own user reads, as it must; it writes nothing, and a's password opens no other user.
        #expect(
            await Self.rsync(
                site, from: "a", user: rsyncUser, password: rsyncPassword,
                ["--list-only", "rsync://\(rsyncUser)@\(site.lab.address("master"))/linux/"]
            ).0 == 0)
        let planted = site.scratch.path + "/planted"
        try "x".write(toFile: planted, atomically: true, encoding: .utf8)
        #expect(
            await Self.rsync(
                site, from: "a", user: rsyncUser, password: rsyncPassword,
                [planted, "rsync://\(rsyncUser)@\(site.lab.address("master"))/linux/"]
            ).0 != 0)
        for other in ["mirrorsync-b", "mirrorsync"] {
            let (status, output) = await Self.rsync(
                site, from: "a", user: other, password: rsyncPassword,
                ["--list-only", "rsync://\(other)@\(site.lab.address("master"))/linux/"])
            #expect(status != 0 && output.contains("auth failed"), "\(other): \(output)")
        }

        // Both slaves take revision 2; nothing of the attack is on the master or on b.
        let status = try await site.wait("served revision 2 on both slaves") {
            site.atRevision(2, slaves: ["a", "b"])($0)
        }
        #expect(status.projects.keys.sorted() == ["linux"])
        #expect(!FileManager.default.fileExists(atPath: site.masterTree + "/planted"))
        let bAfter = try APICoding.decoder().decode(AgentState.self, from: try await site.api("b", "GET", "/v1/state"))
        let bEarlier = try APICoding.decoder().decode(AgentState.self, from: bBefore)
        #expect(
            bAfter.projects.keys.sorted() == bEarlier.projects.keys.sorted() && bAfter.settings == bEarlier.settings)
        #expect(try Tree.snapshot(site.publicTree("b")) == Tree.snapshot(site.upstream + "/linux"))
    }
}
