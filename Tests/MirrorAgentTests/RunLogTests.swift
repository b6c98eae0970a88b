import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorHTTP
import MirrorTestSupport

@Suite("Run logs and progress (a real agent, real rsync, real HTTP)")
struct RunLogTests {
    /// An agent with settings, and an upstream tree of `files` files of `bytes` bytes each.
    func agentWithUpstream(files: Int, bytes: Int = 64) async throws -> (AgentHarness, String) {
        let agent = try await AgentHarness()
        let source = agent.scratch.sub("upstream")
        try Tree.generate(at: source, files: files, bytes: bytes)
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        return (agent, source)
    }

    @Test(
        "a slowed sync's log is followed to its end over HTTP while long polls see its progress; the log has the file list and the statistics"
    )
    func followAndProgress() async throws {
        // 2.4 MB at 200 KiB/s: about twelve seconds of rsync, long enough to be seen mid-way on a loaded machine (at
        // 400 KiB/s, beside every other suite, the first progress a poll saw was once the last).
        let (agent, source) = try await agentWithUpstream(files: 30, bytes: 80_000)
        let spec = try AgentHarness.project(source, path: "slow") {
            $0.upstream.bandwidthLimit = ByteSize(bytes: 200 << 10)
            $0.rsyncOptions = ["--itemize-changes"]
        }
        _ = try await agent.put("/v1/projects/slow", spec)
        let id = try await agent.waitForRunning("slow")
        let client = APIClient(token: agent.token, timeout: 10, resourceTimeout: 40)
        let polls = Task {
            var seen: [RunProgress] = []
            while true {
                let run = try APIClient.decode(
                    RunRecord.self, try await client.call("GET", agent.base + "/v1/projects/slow/runs/\(id)?wait=30"))
                if let progress = run.progress { seen.append(progress) }
                if run.state == .finished { return (seen, run) }
            }
        }
        var log = Data()
        var firstPieceAt: Date?
        var pieces = 0
        try await client.stream(agent.base + "/v1/projects/slow/runs/\(id)/log?follow=true") { piece in
            if firstPieceAt == nil { firstPieceAt = Date() }
            pieces += 1
            log.append(contentsOf: piece.readableBytesView)
        }
        let streamEnded = Date()
        let (seen, polled) = try await polls.value
        let run = try #require(try await agent.daemon.scheduler.run(id))
        #expect(run.result == .success && run.progress == nil && polled.progress == nil)
        let ended = try #require(run.endedAt)
        // The log came as the run went, and its stream ended with the run.
        #expect(try #require(firstPieceAt) < ended)
        #expect(streamEnded >= ended && pieces > 1, "\(pieces) pieces")
        let text = String(decoding: log, as: UTF8.self)
        #expect(text.hasPrefix("mirrorsync: pass 1: rsync "), "\(text.prefix(200))")
        #expect(text.contains(">f+++++++++ pool/0/file-0.deb"))
        #expect(text.contains("Number of files: ") && text.contains("Total file size: "))
        #expect(text.hasSuffix("mirrorsync: run \(id) success: \(run.message ?? "")\n"))
        // rsync's progress lines are progress, not log.
        #expect(!text.contains("\r") && !text.contains("to-chk="))
        // Seen while the run went on: bytes so far, short of the whole, and the list's total once rsync had it.
        #expect(seen.contains { $0.bytes > 0 && $0.bytes < 2_400_000 && $0.pass == 1 }, "\(seen)")
        #expect(seen.contains { $0.filesTotal != nil && $0.files > 0 }, "\(seen)")
        // A finished run's log reads whole without follow, as it is on disk.
        let again = try await client.call("GET", agent.base + "/v1/projects/slow/runs/\(id)/log")
        #expect(again == log)
        await agent.stop()
    }

    @Test(
        "each run keeps a log; past logRetention the oldest are deleted; unknown runs, other projects' runs and deleted logs answer 404"
    )
    func retentionAndErrors() async throws {
        let (agent, source) = try await agentWithUpstream(files: 3)
        _ = try await agent.put(
            "/v1/projects/keep", try AgentHarness.project(source, path: "keep") { $0.logRetention = 2 })
        _ = try await agent.put("/v1/projects/other", try AgentHarness.project(source, path: "other"))
        var ids = [try await agent.waitForRun("keep", revision: 1).id]
        for revision in 2...3 {
            let accepted = try await agent.request("POST", "/v1/projects/keep/sync").decode(SyncResponse.self)
            ids.append(accepted.runID)
            #expect(try await agent.waitForRun("keep", revision: revision).id == accepted.runID)
        }
        let folder = agent.scratch.path + "/state/logs/keep"
        try await eventually("the oldest log is deleted", seconds: 10) {
            Set(try FileManager.default.contentsOfDirectory(atPath: folder)) == ["\(ids[1]).log", "\(ids[2]).log"]
        }
        let latest = try await agent.request("GET", "/v1/projects/keep/runs/latest/log")
        let lastMessage = try await agent.daemon.scheduler.run(ids[2])?.message ?? ""
        #expect(
            latest.status == 200 && latest.text.hasSuffix("mirrorsync: run \(ids[2]) success: \(lastMessage)\n"),
            "\(latest.text)")
        let pruned = try await agent.request("GET", "/v1/projects/keep/runs/\(ids[0])/log")
        #expect(
            pruned.status == 404 && pruned.error?.code == "no-log"
                && pruned.error?.message.contains("keeps its newest 2") == true, "\(pruned.text)")
        for (path, status, code) in [
            ("/v1/projects/keep/runs/987654/log", 404, "not-found"),
            ("/v1/projects/other/runs/\(ids[2])/log", 404, "not-found"),
            ("/v1/projects/nope/runs/latest/log", 404, "not-found"),
            ("/v1/projects/keep/runs/first/log", 400, "invalid-run-id"),
            ("/v1/projects/keep/runs/\(ids[2])?wait=soon", 400, "invalid-wait"),
        ] {
            let reply = try await agent.request("GET", path)
            #expect(reply.status == status && reply.error?.code == code, "\(path): \(reply.status) \(reply.text)")
        }
        // A long poll on a finished run answers at once, with the run.
        #expect(
            try await agent.request("GET", "/v1/projects/keep/runs/\(ids[2])?wait=30").decode(RunRecord.self).state
                == .finished)
        await agent.stop()
    }

    @Test("a log that cannot be written leaves the sync a success")
    func unwritableLog() async throws {
        let (agent, source) = try await agentWithUpstream(files: 3)
        // A file where the project's log directory would be: neither the directory nor the log can be made.
        try FileManager.default.createDirectory(
            atPath: agent.scratch.path + "/state/logs", withIntermediateDirectories: true)
        try "x".write(toFile: agent.scratch.path + "/state/logs/blocked", atomically: true, encoding: .utf8)
        _ = try await agent.put("/v1/projects/blocked", try AgentHarness.project(source, path: "blocked"))
        let run = try await agent.waitForRun("blocked")
        #expect(run.result == .success, "\(run.message ?? "")")
        #expect(try await agent.request("GET", "/v1/projects/blocked/runs/\(run.id)/log").error?.code == "no-log")
        await agent.stop()
    }
}

@Suite("rsync's output, read as it comes")
struct RsyncOutputTests {
    @Test(
        "progress2 lines (ended by carriage returns) become progress, not log; other lines are logged whole, across buffers"
    )
    func lines() {
        var output = RsyncOutput(pass: 1)
        var log: [UInt8] = []
        var progressed = 0
        let chunks = [
            "\r         32,768   2%    0.00kB/s    0:00:00  \r        300,000  25%  410.33kB/s    0:00:00 (xfr#1, ir-chk=3/5)\n>f+++++++++ po",
            "ol/0/a.deb\n\r      1,200,000 100%  388.51kB/s    0:00:02 (xfr#4, to-chk=0/5)\n\nNumber of files: 5 (reg: 4, dir: 1)\nTotal file size: 1,200,000 bytes\nrsync warning: x",
        ]
        for chunk in chunks {
            let taken = Array(chunk.utf8).withUnsafeBytes { output.take($0) }
            log += taken.log
            if taken.progressed { progressed += 1 }
        }
        log += output.finish().log
        #expect(
            String(decoding: log, as: UTF8.self)
                == ">f+++++++++ pool/0/a.deb\n\nNumber of files: 5 (reg: 4, dir: 1)\nTotal file size: 1,200,000 bytes\nrsync warning: x\n"
        )
        #expect(progressed == 2)
        #expect(
            output.progress
                == RunProgress(
                    pass: 1, bytes: 1_200_000, files: 4, percent: 100, filesTotal: 5, filesToCheck: 0,
                    bytesTotal: 1_200_000))
        #expect(output.report.filesTotal == 5 && output.report.bytesTotal == 1_200_000)
    }

    @Test(
        "a progress line without its parenthesis keeps the files counted so far; incremental recursion has no total yet"
    )
    func progress() {
        let first = RunProgress.parse(
            "        300,000  25%  410.33kB/s    0:00:00 (xfr#1, ir-chk=3/5)", pass: 1, previous: nil)
        #expect(first == RunProgress(pass: 1, bytes: 300_000, files: 1, percent: 25))
        let between = RunProgress.parse("        496,608  41%  404.80kB/s    0:00:01", pass: 1, previous: first)
        #expect(between == RunProgress(pass: 1, bytes: 496_608, files: 1, percent: 41))
        let listed = RunProgress.parse(
            "        900,000  75%  402.90kB/s    0:00:02 (xfr#3, to-chk=1/5)", pass: 1, previous: between)
        #expect(listed?.filesTotal == 5 && listed?.filesToCheck == 1 && listed?.bytesTotal == 1_200_000)
        #expect(RunProgress.parse("Number of files: 5", pass: 1, previous: nil) == nil)
        #expect(RunProgress.parse(" 12 files to consider", pass: 1, previous: nil) == nil)
    }
}
