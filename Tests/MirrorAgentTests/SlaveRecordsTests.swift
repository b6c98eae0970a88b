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
}
