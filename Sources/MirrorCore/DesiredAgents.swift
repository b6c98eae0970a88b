import Foundation

/// What one agent should hold, computed from the desired state.
public struct AgentDesired: Sendable, Hashable {
    public var role: AgentRole
    /// `master`, or the slave's name.
    public var name: String
    public var api: String
    public var settings: AgentSettings
    public var projects: [String: AgentProjectSpec]
    /// A short line per project for plans: the names of its upstream and interval, as mirrors.d writes them.
    public var summaries: [String: String]

    /// `master` or `slave ftp1`, as plans and logs name agents.
    public var label: String { role == .master ? "master" : "slave \(name)" }
}

/// The desired state, split by agent: the master holds every project with the slaves that serve it; each slave holds
/// the projects assigned to it, pulled from the master's rsync daemon into its public directory.
public enum DesiredAgents {
    /// How often a slave pulls even without a trigger from the master, in case a trigger was lost.
    public static let slaveFallbackInterval = TimeSpan(seconds: 6 * 3_600)
    /// The rsync user the slaves log in to the master's daemon as.
    public static let slaveRsyncUser = "mirrorsync"

    public static func from(_ state: DesiredState) -> [AgentDesired] {
        let masterHost = URLComponents(string: state.master.api)?.host.map { $0.hasPrefix("[") ? String($0.dropFirst().dropLast()) : $0 } ?? "localhost"
        var master = AgentDesired(
            role: .master, name: "master", api: state.master.api,
            settings: AgentSettings(root: state.master.root, maxConcurrentSyncs: state.master.maxConcurrentSyncs,
                                    publicStatus: state.master.publicStatus, rsyncd: state.master.rsyncd),
            projects: [:], summaries: [:])
        var slaves: [String: AgentDesired] = [:]
        for (name, slave) in state.slaves {
            slaves[name] = AgentDesired(role: .slave, name: name, api: slave.api, settings: AgentSettings(root: slave.publicDir),
                                        projects: [:], summaries: [:])
        }
        for (name, project) in state.projects {
            guard let upstream = state.upstreams[project.upstream], let interval = state.intervals[project.interval] else { continue }
            let servers = state.slaves(serving: project)
            master.projects[name] = AgentProjectSpec(
                upstream: upstream, source: project.source, path: project.path, interval: interval, exclude: project.exclude,
                twoStage: project.twoStage, rsyncOptions: project.rsyncOptions, suspended: project.suspended,
                timeout: project.timeout, maxDelete: project.maxDelete, slaves: servers)
            master.summaries[name] = "upstream=\(project.upstream) interval=\(project.interval)"
                + (project.suspended ? " suspended" : "")
            // A slave pulls the master's copy: one module per project on the master's rsync daemon.
            let module = UpstreamSpec(
                url: .rsync(user: slaveRsyncUser, host: masterHost, port: state.master.rsyncd.port == 873 ? nil : state.master.rsyncd.port, path: name),
                timeout: project.timeout ?? upstream.timeout, ioTimeout: upstream.ioTimeout)
            for server in servers {
                slaves[server]?.projects[name] = AgentProjectSpec(
                    upstream: module, path: project.path, interval: .every(slaveFallbackInterval), twoStage: project.twoStage,
                    suspended: project.suspended, maxDelete: project.maxDelete)
                slaves[server]?.summaries[name] = "from master"
            }
        }
        return [master] + slaves.keys.sorted().map { slaves[$0]! }
    }

    /// A digest of what every agent should hold: equal digests, equal desired states.
    public static func digest(_ agents: [AgentDesired]) -> String {
        Generation.of(agents.map { DigestEntry(name: $0.name, settings: $0.settings, projects: $0.projects) })
    }

    private struct DigestEntry: Encodable {
        var name: String
        var settings: AgentSettings
        var projects: [String: AgentProjectSpec]
    }
}
