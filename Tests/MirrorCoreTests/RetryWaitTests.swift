import Foundation
import Testing
import MirrorCore

/// `retrying` on the wire: written `running` with `retry` beside it, so that a client that knows four activities still
/// reads the state; read back as `retrying` by one that knows `retry`.
@Suite("The retrying activity on the wire")
struct RetryWaitTests {
    /// What a client from before `retrying` decodes: four activities, and no `retry`.
    struct OldStatus: Decodable {
        enum Activity: String, Decodable { case idle, queued, running, suspended }
        var activity: Activity
        var revision: Int
    }

    static let retry = RetryWait(
        at: Date(timeIntervalSince1970: 1_800_000_060), failedAt: Date(timeIntervalSince1970: 1_800_000_000),
        attempts: 2, reason: "rsync-exit-10", message: "Connection refused")

    @Test("a project's status: written running with retry, read back as retrying; an older client reads running")
    func projectStatus() throws {
        let status = ProjectStatus(activity: .retrying, revision: 4, retry: Self.retry)
        let data = try APICoding.encoder().encode(status)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["activity"] as? String == "running")
        #expect((object["retry"] as? [String: Any])?["attempts"] as? Int == 2)
        #expect(try APICoding.decoder().decode(ProjectStatus.self, from: data) == status)
        let old = try APICoding.decoder().decode(OldStatus.self, from: data)
        #expect(old.activity == .running && old.revision == 4)
        // Without retry, running is running; the other activities are as they were.
        for activity in [ProjectStatus.Activity.idle, .queued, .running, .suspended] {
            let plain = ProjectStatus(activity: activity, revision: 1)
            let read = try APICoding.decoder().decode(ProjectStatus.self, from: try APICoding.encoder().encode(plain))
            #expect(read == plain)
        }
    }

    @Test("the site's status and a whole agent state carry it the same way")
    func siteAndState() throws {
        let project = SiteProject(
            revision: 4, activity: .retrying, lastRun: nil, lastSuccessAt: nil, nextRunAt: nil, slaves: [:],
            retry: Self.retry)
        let data = try APICoding.encoder().encode(project)
        #expect(String(decoding: data, as: UTF8.self).contains(#""activity":"running""#))
        #expect(try APICoding.decoder().decode(SiteProject.self, from: data) == project)
        let spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: .local(path: "/srv/upstream")), path: "p",
            interval: .every(TimeSpan(seconds: 3600)))
        let state = AgentState(
            role: .master, name: "master", bootID: "b", version: "0", settings: nil, settingsGeneration: nil,
            projects: [
                "p": ProjectState(
                    spec: spec, generation: "g",
                    status: ProjectStatus(activity: .retrying, revision: 1, retry: Self.retry))
            ])
        let read = try APICoding.decoder().decode(AgentState.self, from: try APICoding.encoder().encode(state))
        #expect(read.projects["p"]?.status.activity == .retrying && read.projects["p"]?.status.retry == Self.retry)
    }

    @Test("an activity this version does not know, from a later agent, reads as running rather than failing the state")
    func unknownActivity() throws {
        let json = #"{"activity":"hibernating","revision":2}"#
        let status = try APICoding.decoder().decode(ProjectStatus.self, from: Data(json.utf8))
        #expect(status.activity == .running && status.retry == nil)
        #expect(
            try APICoding.decoder().decode(ProjectStatus.Activity.self, from: Data(#""retrying""#.utf8)) == .retrying)
    }
}
