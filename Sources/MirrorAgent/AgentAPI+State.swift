import Foundation
import Hummingbird
import MirrorCore
import NIOCore

// `GET /v1/state` whole, and with `ifDigest`: built from each project's JSON, kept while the project stays the same
// (`ProjectJSONCache`); the delta (`since`) is in AgentAPI+StateDelta.swift.

extension AgentAPI {
    /// `GET /v1/state`: served as it was while nothing changed; else assembled from each project's JSON, which is
    /// encoded once for as long as that project stays the same. A thousand projects cost microseconds when idle,
    /// and only the changed projects' encoding when busy.
    func stateResponse() async throws -> Response {
        Self.jsonResponse(try await wholeStateBody())
    }

    /// Every project's JSON as of the scheduler's state version now, and the whole response: the cached one while
    /// the version is the same.
    func stateSnapshot() async throws -> ProjectJSONCache.Snapshot {
        let cached = stateCache.snapshot()
        // What changed since the states kept (every project, the first time): after an edit of one project, one
        // project's state is built.
        let kept = stateCache.kept()
        let (version, changed) = await scheduler.projectStates(changedSince: kept.version)
        if let cached, cached.version == version { return cached }
        let encoded = try stateCache.merged(kept, changed: changed, version: version, encoder: APICoding.encoder())
        let digest = ProjectsDigest.of(
            encoded.lazy.map { (name: $0.name, generation: $0.entry.state.generation, managed: $0.entry.state.managed) }
        )
        // The whole body is written when a whole read asks for it: a reconciler following deltas never does.
        let snapshot = ProjectJSONCache.Snapshot(version: version, entries: encoded, digest: digest, body: nil)
        stateCache.store(snapshot)
        return snapshot
    }

    /// The whole state's JSON as of now, written once per state version.
    func wholeStateBody() async throws -> ByteBuffer {
        let snapshot = try await stateSnapshot()
        if let body = snapshot.body { return body }
        let body = try await stateBody(snapshot.entries, digest: snapshot.digest, version: snapshot.version, since: nil)
        stateCache.store(body: body, version: snapshot.version)
        return body
    }

    /// The state's JSON with `entries` as its projects; `since` marks a delta (`projectsSince`), whose digest is
    /// still that of every project.
    func stateBody(
        _ entries: [(name: String, entry: ProjectJSONCache.Entry)], digest: String, version: UInt64, since: UInt64?
    ) async throws -> ByteBuffer {
        let (settings, generation) = await scheduler.currentSettings()
        let encoder = APICoding.encoder()
        var out = ByteBuffer()
        out.reserveCapacity(entries.count * 512 + 512)
        func key(_ name: String) { out.writeString("\"\(name)\":") }
        out.writeString("{")
        key("bootID")
        out.writeBytes(try encoder.encode(bootID))
        out.writeString(",")
        key("name")
        out.writeBytes(try encoder.encode(name))
        out.writeString(",")
        key("projects")
        out.writeString("{")
        for (index, (project, entry)) in entries.enumerated() {
            if index > 0 { out.writeString(",") }
            // Project names are [a-z0-9._-]: nothing in them needs escaping.
            key(project)
            out.writeBytes(entry.json)
        }
        out.writeString("},")
        key("projectsDigest")
        out.writeBytes(try encoder.encode(digest))
        out.writeString(",")
        if let since {
            key("projectsSince")
            out.writeString("\(since),")
        }
        key("role")
        out.writeBytes(try encoder.encode(role))
        out.writeString(",")
        if let settings {
            key("settings")
            out.writeBytes(try encoder.encode(settings))
            out.writeString(",")
        }
        if let generation {
            key("settingsGeneration")
            out.writeBytes(try encoder.encode(generation))
            out.writeString(",")
        }
        if credentials.accepted.acceptsShared {
            key("sharedToken")
            out.writeString("true,")
        }
        key("stateVersion")
        out.writeString("\(version),")
        key("version")
        out.writeBytes(try encoder.encode(self.version))
        out.writeString("}")
        return out
    }

    /// `GET /v1/state?ifDigest=D`: when the agent's projects have the digest D, the state without them; else nil.
    /// A reconciler that knows what every agent should hold reads a hundred agents in sync without their projects.
    func stateWithoutProjects(ifDigest wanted: String) async throws -> Response? {
        let digest = try await stateSnapshot().digest
        guard digest == wanted else { return nil }
        let (settings, generation) = await scheduler.currentSettings()
        var state = AgentState(
            role: role, name: name, bootID: bootID, version: version, settings: settings,
            settingsGeneration: generation, projects: [:], projectsDigest: digest, projectsOmitted: true)
        state.sharedToken = credentials.accepted.acceptsShared ? true : nil
        return try APIResponse.json(state)
    }

    static func jsonResponse(_ body: ByteBuffer) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: body))
    }
}
