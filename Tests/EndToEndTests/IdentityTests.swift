import Foundation
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The whole chain (an upstream rsync daemon, the master, two slaves: separate processes, real rsync) held to one
/// rule: after every round of random upstream changes, the master's tree is the upstream's and each slave's is the
/// master's, entry for entry (`RawTree`: contents, types, modes, times, link targets, hard-link groups). In the
/// `tier` mode b pulls from a rather than from the master.
///
/// `make test` runs a few rounds with a fixed seed; `make identity ROUNDS=200 SEED=N` runs more
/// (`MIRRORSYNC_IDENTITY_ROUNDS`, `MIRRORSYNC_IDENTITY_SEED`). A failure names the seed and the round.
@Suite(
    "Identity: random upstream changes reach the master and both slaves whole (separate processes, real rsync)",
    .serialized)
struct IdentityTests {
    static let seed = ProcessInfo.processInfo.environment["MIRRORSYNC_IDENTITY_SEED"].flatMap { UInt64($0) } ?? 21
    static let rounds = ProcessInfo.processInfo.environment["MIRRORSYNC_IDENTITY_ROUNDS"].flatMap { Int($0) } ?? 6

    /// Each way a project is synced and published, as the fields it adds to the project.
    struct Mode: Sendable, CustomTestStringConvertible {
        var name: String
        var fields: String
        var number: UInt64
        var tier = false
        var testDescription: String { name }
    }

    /// `MIRRORSYNC_IDENTITY_MODE`: one mode alone, by its name, to replay a failure.
    static let modes = allModes.filter { mode in
        ProcessInfo.processInfo.environment["MIRRORSYNC_IDENTITY_MODE"].map { $0 == mode.name } ?? true
    }

    static let allModes = [
        Mode(name: "in place", fields: "", number: 0),
        Mode(name: "in place, two-stage", fields: ", twoStage: [dists/, Release*]", number: 1),
        Mode(name: "staged site", fields: ", twoStage: [dists/, Release*], stage: site", number: 2),
        Mode(name: "atomic", fields: ", publish: atomic", number: 3),
        // b pulls from a (a tier), by the lists a keeps of what it pulled.
        Mode(name: "tier", fields: "", number: 4, tier: true),
    ]

    @Test("every round of random changes arrives whole on the master and both slaves", arguments: modes)
    func identity(mode: Mode) async throws {
        let seed = Self.seed &+ mode.number
        let replay =
            "seed \(seed), mode \(mode.name) (MIRRORSYNC_IDENTITY_SEED=\(Self.seed) MIRRORSYNC_IDENTITY_MODE='\(mode.name)' replays it)"
        let site = try Site("identity", tier: mode.tier)
        // A round that fails returns early: its agents stop here too, rather than outlive the test (an agent whose rsync
        // hung once kept the test's process alive).
        defer { for agent in [site.master, site.a, site.b] { agent.stopBlocking(SIGTERM) } }
        let upstream = site.upstream + "/linux"
        try FileManager.default.createDirectory(atPath: upstream + "/dists/stable", withIntermediateDirectories: true)
        for name in ["dists/stable/Release", "dists/stable/Packages.gz", "Release"] {
            try Data("\(name)\n".utf8).write(to: URL(fileURLWithPath: upstream + "/" + name))
        }
        var changes = TreeChanges(root: upstream, seed: seed)
        try changes.settle()
        try await site.start(
            replacing: "linux: { upstream: up, source: linux, interval: hourly, slaves: all }",
            with:
                "linux: { upstream: up, source: linux, interval: hourly, slaves: all, maxDelete: 100000\(mode.fields) }"
        )
        try compare(site, upstream: upstream, context: "\(replay), before the first round")
        var pulls: [String: Int] = [:]
        for round in 1...Self.rounds {
            // One round in three, slave b misses a revision: its next pull spans two lists, over a file rewritten with
            // its old size and time in between (TreeChanges.rewriteKeepingSize), which only a pull that fetches the
            // listed files whatever their size and time brings.
            var made: [String] = []
            var lagging = false
            if Int.random(in: 0..<3, using: &changes.random) == 0, let rewrite = try changes.rewriteKeepingSize() {
                lagging = true
                await site.b.stop()
                try changes.settle()
                let context = "\(replay), round \(round) (MIRRORSYNC_IDENTITY_ROUNDS=\(round)), slave b stopped"
                guard try await Self.sync(site, slaves: ["a"], context: context) else { return }
                made.append(try changes.finish(rewrite))
            }
            made += try changes.round(changes: Int.random(in: 1...10, using: &changes.random))
            let context =
                "\(replay), round \(round) of \(Self.rounds) (MIRRORSYNC_IDENTITY_ROUNDS=\(round)); the changes:\n  "
                + made.joined(separator: "\n  ")
            guard try await Self.sync(site, slaves: lagging ? ["a"] : ["a", "b"], context: context) else { return }
            if lagging {
                try await site.b.start()
                guard try await Self.sync(site, slaves: ["b"], context: context, request: false) else { return }
            }
            guard try compare(site, upstream: upstream, context: context) else { return }
            // Every pull after the first goes by the master's lists.
            for slave in [site.a, site.b] {
                let message = try await slave.state().projects["linux"]?.status.lastRun?.message ?? ""
                let kind = message.hasPrefix("incremental pull") ? "incremental" : String(message.prefix(60))
                pulls[kind, default: 0] += 1
                #expect(kind == "incremental", "\(context)\nslave \(slave.name): \(message)")
            }
        }
        print("identity, \(mode.name): \(Self.rounds) rounds, the slaves' last pulls: \(pulls)")
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }

    /// Asks the master for a sync (unless `request` is false) and waits until `slaves` serve the revision after the one
    /// the master served; records what went wrong and returns false if they do not.
    static func sync(_ site: Site, slaves: [String], context: String, request: Bool = true) async throws -> Bool {
        let before = try await site.status().projects["linux"]?.revision ?? 0
        if request {
            let reply = try await site.master.request("POST", "/v1/projects/linux/sync")
            #expect(reply.status == 202, "\(context)")
        }
        do {
            try await site.wait("served a revision after \(before) on \(slaves)", seconds: 90) { status in
                guard let linux = status.projects["linux"], linux.revision > before || !request,
                    linux.activity == .idle
                else {
                    return false
                }
                return slaves.allSatisfy {
                    linux.slaves[$0]?.revision == linux.revision && linux.slaves[$0]?.result == .success
                }
            }
            return true
        } catch {
            // The master's log's end says what its run was doing (the scratch directory goes with the test).
            let log = (try? String(contentsOfFile: site.master.log, encoding: .utf8))?.suffix(4000) ?? ""
            Issue.record(
                "\(context)\n\(String(describing: error).prefix(300))\n\(await Self.lastRuns(site))\nthe master's log:\n\(log)"
            )
            return false
        }
    }

    /// Each agent's last run of linux, for a failure's message.
    static func lastRuns(_ site: Site) async -> String {
        var lines: [String] = []
        for agent in [site.master, site.a, site.b] {
            let status = try? await agent.state().projects["linux"]?.status
            let run = status?.lastRun
            lines.append(
                "\(agent.name) at revision \(status?.revision ?? -1), \(status?.activity.rawValue ?? "?"): "
                    + "\(run?.result?.rawValue ?? "no run") \(run?.reason ?? "") \(run?.message ?? "") \(run?.stderrTail ?? [])"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The master against the upstream and each slave against the master; records what differs.
    @discardableResult
    func compare(_ site: Site, upstream: String, context: String) throws -> Bool {
        let want = try RawTree.read(upstream)
        let master = URL(fileURLWithPath: site.scratch.path + "/master-root/linux").resolvingSymlinksInPath().path
        let trees = [
            ("the master", master, want), ("slave a", site.tree(site.a, "linux"), nil),
            ("slave b", site.tree(site.b, "linux"), nil),
        ]
        let masterTree = try RawTree.read(master)
        for (name, path, expected) in trees {
            let have = try RawTree.read(URL(fileURLWithPath: path).resolvingSymlinksInPath().path)
            let differences = (expected ?? masterTree).differences(from: have)
            if !differences.isEmpty {
                let against = expected == nil ? "the master" : "the upstream"
                let lines = differences.joined(separator: "\n  ")
                Issue.record("\(context)\n\(name) differs from \(against):\n  \(lines)")
                return false
            }
        }
        return true
    }
}
