import Foundation
import MirrorCore
import MirrorPresentation
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The repository's Prometheus rules, as the release ships them.
let rulesFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
    .appendingPathComponent("deploy/prometheus/mirrorsync-rules.yml").path

/// `promtool`, where Debian's `prometheus` package put it.
let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

@Suite(
    "Operator commands and alert metrics: cancel, sync --host, the slaves' lag (separate processes, real rsync)",
    .serialized)
struct OperatorTests {
    @Test(
        "cancel ends a slowed sync's process group, records it cancelled and not failed, due at its next interval; sync --host pulls on a slave; the lag metrics move when a slave stops; the rules name only exported metrics"
    )
    func operatorCommands() async throws {
        let site = try Site("operator")
        // A third project, big, from the same daemon at 32 KiB/s: 2 MiB takes a minute, long enough to be cancelled.
        try Tree.generate(at: site.upstream + "/big", files: 8, bytes: 256 * 1024, seed: 5)
        var yaml = try String(contentsOfFile: site.directory + "/site.yaml", encoding: .utf8)
        yaml = yaml.replacingOccurrences(
            of: "upstreams:\n", with: "upstreams:\n  slow: { url: \"\(site.daemon.url)\", bandwidthLimit: 32K }\n")
        yaml += "  big: { upstream: slow, source: big, interval: hourly, slaves: [a] }\n"
        try yaml.write(toFile: site.directory + "/site.yaml", atomically: true, encoding: .utf8)
        for agent in [site.master, site.a, site.b] { try await agent.start() }
        try await site.reconcile()

        // big's first run is under way on the master: its rsync and the rest of its process group.
        let bigTree = site.scratch.path + "/master-root/big"
        var groups: Set<pid_t> = []
        try await eventually("saw big's rsync on the master", seconds: 30) {
            groups = processGroups(ofRsyncInto: bigTree)
            return !groups.isEmpty
        }
        let cancel = await run(Binary.path, ["cancel", "big", site.directory])
        #expect(cancel.0 == 0, "\(cancel.1)")
        #expect(cancel.1.contains("of big on master: cancelled after"), "\(cancel.1)")
        // The agent answers once the run has ended: nothing of its process group is left.
        #expect(groups.allSatisfy { members(ofGroup: $0).isEmpty }, "\(groups.map { members(ofGroup: $0) })")
        let big = try #require(try await site.master.state().projects["big"])
        let cancelled = try #require(big.status.lastRun)
        #expect(
            cancelled.result == .cancelled && cancelled.reason == "cancel-requested" && big.status.activity == .idle)
        // Not a failure: no end recorded for the stale check, and the next run an interval after this one's start.
        #expect(big.status.lastEndedAt == nil && big.status.lastSuccessAt == nil)
        let start = try #require(cancelled.startedAt)
        #expect(
            big.status.nextRunAt.map { abs($0.timeIntervalSince(start) - 3600) < 1 } == true,
            "\(String(describing: big.status.nextRunAt))")
        var metrics = try await site.master.metrics()
        #expect(metrics.contains(#"mirrorsync_runs_total{project="big",result="cancelled"} 1"#), "\(metrics)")
        #expect(!metrics.contains(#"result="failed""#))
        #expect(metrics.contains(#"mirrorsync_project_interval_seconds{project="big"} 3600"#))

        // Nothing left to cancel: a clear answer and exit 1; mistakes in names are caught before any call.
        let again = await run(Binary.path, ["cancel", "big", site.directory])
        #expect(
            again.0 == 1 && again.1.contains("has no run in progress or queued; nothing was cancelled on the master"),
            "\(again.1)")
        let typo = await run(Binary.path, ["cancel", "bgi", site.directory])
        #expect(typo.0 == 1 && typo.1.contains("mirrors.d has no project 'bgi'; did you mean 'big'?"), "\(typo.1)")
        let host = await run(Binary.path, ["sync", "linux", site.directory, "--host", "aa"])
        #expect(
            host.0 == 1 && host.1.contains("mirrors.d has no host 'aa'; did you mean 'a'? (hosts: master, a, b)"),
            "\(host.1)")
        let unserved = await run(Binary.path, ["cancel", "tools", site.directory, "--host", "b"])
        #expect(
            unserved.0 == 1 && unserved.1.contains("slave b does not serve project 'tools' (served by a)"),
            "\(unserved.1)")

        // sync --host: the slave pulls now, on request.
        try await site.wait("served revision 1 everywhere", site.atRevision(1))
        let sync = await run(Binary.path, ["sync", "linux", site.directory, "--host", "b", "-o", "json"])
        #expect(sync.0 == 0, "\(sync.1)")
        let accepted = try APICoding.decoder().decode(SyncResponse.self, from: Data(sync.1.utf8))
        let pulled = try await site.b.wait("finished the requested pull") {
            $0.projects["linux"]?.status.lastRun?.id == accepted.runID
        }
        #expect(
            pulled.projects["linux"]?.status.lastRun?.trigger == .request
                && pulled.projects["linux"]?.status.lastRun?.result == .success)

        // Every metric the rules name is one the master exports.
        metrics = try await site.master.metrics()
        let exported = metricNames(metrics)
        // Written only while a project is stuck (StuckProjectTests renders it); every other one is here now.
        let conditional: Set = ["mirrorsync_project_stuck_runs"]
        let named = try ruleMetricNames()
        #expect(AlertMetrics.help.contains { $0.name == "mirrorsync_project_stuck_runs" })
        #expect(
            !named.isEmpty && named.subtracting(conditional).isSubset(of: exported),
            "named by the rules but not exported: \(named.subtracting(exported).sorted())")
        #expect(
            metrics.contains(#"mirrorsync_slave_up{slave="b"} 1"#) && metrics.contains("mirrorsync_rsyncd_up 1"),
            "\(metrics)")
        #expect(metrics.contains(#"mirrorsync_slave_behind_revisions{slave="b",project="linux"} 0"#))

        // b stops and the master makes revision 2: b shows down, one revision behind, and its lag grows.
        await site.b.stop()
        try await site.changeUpstream("second")
        try await site.wait("served revision 2 on a", site.atRevision(2, slaves: ["a"]))
        var lag = 0.0
        try await eventually("saw b down and behind", seconds: 10) {
            let text = try await site.master.metrics()
            guard text.contains(#"mirrorsync_slave_up{slave="b"} 0"#),
                text.contains(#"mirrorsync_slave_behind_revisions{slave="b",project="linux"} 1"#)
            else { return false }
            lag = sample(text, #"mirrorsync_slave_lag_seconds{slave="b",project="linux"}"#) ?? 0
            return lag > 0
        }
        try await eventually("saw b's lag grow", seconds: 10) {
            (sample(try await site.master.metrics(), #"mirrorsync_slave_lag_seconds{slave="b",project="linux"}"#) ?? 0)
                > lag + 1
        }
        metrics = try await site.master.metrics()
        #expect(
            metrics.contains(#"mirrorsync_slave_up{slave="a"} 1"#)
                && metrics.contains(#"mirrorsync_slave_lag_seconds{slave="a",project="linux"} 0"#))

        // Back, b catches up and the lag is gone.
        try await site.b.start()
        try await site.wait("caught up on b", site.atRevision(2))
        try await eventually("saw b up and current", seconds: 10) {
            let text = try await site.master.metrics()
            return text.contains(#"mirrorsync_slave_up{slave="b"} 1"#)
                && text.contains(#"mirrorsync_slave_lag_seconds{slave="b",project="linux"} 0"#)
        }
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }

    @Test(
        "promtool check rules and promtool test rules accept the rules file",
        .enabled(
            if: promtool != nil,
            "promtool is not installed (Debian: apt-get install --no-install-recommends prometheus)"))
    func promtoolChecks() async throws {
        let check = try await runProgram(promtool!, ["check", "rules", rulesFile])
        #expect(check.status == 0 && check.stdout.contains("SUCCESS: 5 rules found"), "\(check.stdout)\(check.stderr)")
        // Each alert fires on series as the agents export them, and stays quiet where it should.
        let test = try await runProgram(
            promtool!,
            [
                "test", "rules",
                URL(fileURLWithPath: rulesFile).deletingLastPathComponent().path + "/mirrorsync-rules.test.yml",
            ])
        #expect(test.status == 0 && test.stdout.contains("SUCCESS"), "\(test.stdout)\(test.stderr)")
    }
}

extension AgentProcess {
    func metrics() async throws -> String { String(decoding: try await request("GET", "/metrics").body, as: UTF8.self) }
}

/// The names of the metrics in Prometheus's text format.
func metricNames(_ text: String) -> Set<String> {
    Set(
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
            line.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init)
        })
}

/// One sample's value: the line that starts with `series` and a space.
func sample(_ text: String, _ series: String) -> Double? {
    text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
}

/// Every `mirrorsync_...` name in the rules' expressions, read with the project's own YAML reader.
func ruleMetricNames() throws -> Set<String> {
    let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: rulesFile)))
    let result = YAMLReader().read(bytes, file: rulesFile)
    let root = try #require(result.root, "\(result.diagnostics)")
    guard case .sequence(let groups)? = root.entry("groups")?.value.content else {
        throw ValueError("no groups in \(rulesFile)")
    }
    var names: Set<String> = []
    var alerts: [String] = []
    for group in groups {
        guard case .sequence(let rules)? = group.entry("rules")?.value.content else {
            throw ValueError("a group without rules")
        }
        for rule in rules {
            guard case .scalar(let expr)? = rule.entry("expr")?.value.content else {
                throw ValueError("a rule without expr")
            }
            if case .scalar(let alert)? = rule.entry("alert")?.value.content { alerts.append(alert.text) }
            let regex = try Regex("mirrorsync_[a-z_]+")
            for match in expr.text.matches(of: regex) { names.insert(String(expr.text[match.range])) }
        }
    }
    #expect(
        alerts == [
            "MirrorsyncProjectStale", "MirrorsyncProjectStuck", "MirrorsyncSlaveBehind", "MirrorsyncSlaveDown",
            "MirrorsyncRsyncdDown",
        ])
    return names
}

/// The process groups of the rsyncs writing into `tree`, from /proc.
func processGroups(ofRsyncInto tree: String) -> Set<pid_t> {
    var groups: Set<pid_t> = []
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else {
            continue
        }
        let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard argv.first.map({ $0.hasSuffix("rsync") }) == true, argv.contains(where: { $0.hasPrefix(tree) }) else {
            continue
        }
        let group = getpgid(pid)
        if group > 0 { groups.insert(group) }
    }
    return groups
}

/// The live (not zombie) members of a process group, from /proc/PID/stat.
func members(ofGroup group: pid_t) -> [pid_t] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
        guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/stat"),
            let close = data.lastIndex(of: UInt8(ascii: ")"))
        else { return nil }
        let fields = data[data.index(after: close)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 2, let state = fields[0].first, state != UInt8(ascii: "Z"),
            pid_t(String(decoding: fields[2], as: UTF8.self)) == group
        else { return nil }
        return pid
    }
}
