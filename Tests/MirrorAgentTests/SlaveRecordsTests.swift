import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

@Suite("The master's records of its slaves")
struct SlaveRecordsTests {
    @Test(
        "a slave's sighting is written at once, then at most every writeEvery seconds; the newest is read from memory")
    func sightingsCoalesce() throws {
        let scratch = Scratch("slave-records")
        let store = try AgentStore(directory: scratch.path)
        let clock = ManualClock()
        let start = clock.now()
        let records = SlaveRecords(store: store, clock: clock, logger: testLogger)

        records.markSeen(["a", "b"])
        #expect(try store.lastSeen() == ["a": start, "b": start])

        // A burst (every trigger answered, every status read) writes nothing more, and reads the newest sighting.
        clock.advance(by: 3)
        for _ in 0..<100 { records.markSeen(["a"]) }
        #expect(try store.lastSeen()["a"] == start)
        #expect(records.all().seen == ["a": start.addingTimeInterval(3), "b": start])

        // Past writeEvery, the next sighting is written; a report writes its slave's at once.
        clock.advance(by: SlaveRecords.writeEvery)
        records.markSeen(["a"])
        #expect(try store.lastSeen()["a"] == start.addingTimeInterval(3 + SlaveRecords.writeEvery))
        clock.advance(by: 1)
        try records.put(
            SlaveReport(
                slave: "b", project: "p", revision: 1, result: .success, runID: 1, startedAt: nil, endedAt: clock.now(),
                durationSeconds: 1))
        #expect(try store.lastSeen()["b"] == clock.now())
    }

    @Test(
        "when the master made the first revision after each a copy is at: read in one go, as MIN(endedAt) of the runs past it defines it (seeded)"
    )
    func firstRevisionTimes() throws {
        let scratch = Scratch("slave-records-revisions")
        let store = try AgentStore(directory: scratch.path, runRetention: 20)
        var generator = SeededGenerator(state: 26)
        var expected: [String: [Int: Date]] = [:]
        var wanted: [String: Set<Int>] = [:]
        var now = Date(timeIntervalSince1970: 1_800_000_000)
        // 12 projects, each 0 to 30 runs, a third of them failed (no revision); 20 kept, so the oldest are pruned.
        for index in 0..<12 {
            let project = "p\(index)"
            _ = try store.putProject(
                project,
                spec: AgentProjectSpec(
                    upstream: UpstreamSpec(url: .local(path: "/srv/upstream")), path: project,
                    interval: .every(TimeSpan(seconds: 3600))), at: now)
            var ends: [(revision: Int, end: Date)] = []
            for _ in 0..<Int.random(in: 0...30, using: &generator) {
                now = now.addingTimeInterval(Double.random(in: 60...7200, using: &generator))
                var run = try store.queueRun(project: project, trigger: .schedule, at: now)
                try store.startRun(run.id, project: project, at: now)
                let success = Int.random(in: 0..<3, using: &generator) > 0
                run.result = success ? .success : .failed
                run.endedAt = now.addingTimeInterval(30)
                run = try store.finishRun(run)
                if let revision = run.revision { ends.append((revision, now.addingTimeInterval(30))) }
            }
            // What the runs still kept say, by the definition: the earliest end of a run past the revision.
            let kept = try store.runs(project: project, limit: 1000).compactMap { run in
                run.revision.map { ($0, run.endedAt!) }
            }
            let top = ends.last?.revision ?? 0
            let asked = Set((0..<4).map { _ in Int.random(in: 0...(top + 1), using: &generator) })
            wanted[project] = asked
            for revision in asked {
                if let first = kept.filter({ $0.0 > revision }).map(\.1).min() {
                    expected[project, default: [:]][revision] = first
                }
            }
        }
        #expect(try store.firstRevisionTimes(after: wanted) == expected, "seed 26")
        #expect(try store.firstRevisionTimes(after: [:]).isEmpty)
    }

    @Test("the reports are read from the store once, then kept in step with every report put")
    func reportsKept() throws {
        let scratch = Scratch("slave-records-reports")
        let store = try AgentStore(directory: scratch.path)
        let clock = ManualClock()
        func report(_ slave: String, _ project: String, _ revision: Int) -> SlaveReport {
            SlaveReport(
                slave: slave, project: project, revision: revision, result: .success, runID: Int64(revision),
                startedAt: nil, endedAt: clock.now(), durationSeconds: 1)
        }
        // Reports an earlier run of the master kept.
        try store.putReport(report("a", "p", 1), at: clock.now())
        let records = SlaveRecords(store: store, clock: clock, logger: testLogger)
        #expect(records.all().reports["a"]?["p"]?.report.revision == 1)
        // Written behind its back, the store is not read again: the records are the only writer.
        try store.putReport(report("a", "q", 9), at: clock.now())
        #expect(records.all().reports["a"]?["q"] == nil)
        clock.advance(by: 5)
        try records.put(report("a", "p", 2))
        try records.put(report("b", "p", 2))
        let reports = records.all().reports
        #expect(reports["a"]?["p"]?.report.revision == 2 && reports["a"]?["p"]?.at == clock.now())
        #expect(reports["b"]?["p"]?.report.revision == 2)
        // A restart reads what was put.
        let again = SlaveRecords(store: store, clock: clock, logger: testLogger).all().reports
        #expect(again["a"]?["p"]?.report.revision == 2 && again["b"]?["p"]?.report.revision == 2)
    }
}
