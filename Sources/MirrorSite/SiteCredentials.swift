import Foundation
import MirrorCore

/// The credentials `up` makes for the agents it starts, each in the agent's state directory: `credential`, the token
/// the agent sends (made once), and `accepted`, the verifiers of what it accepts: the operator's token (mirrors.d's
/// `master.tokenFile`) and its peers' credentials when they run here too. A slave here never holds the operator's
/// token, only its verifier; lines for agents on other hosts, added with `mirrorsync credential accept`, are kept.
public enum SiteCredentials {
    public static func tokenFile(_ stateDirectory: String) -> String { stateDirectory + "/credential" }
    public static func acceptFile(_ stateDirectory: String) -> String { stateDirectory + "/accepted" }

    /// Makes each agent's credential if missing and puts the verifiers it must accept in its accept file. Returns
    /// what the operator must do for the agents elsewhere, one line each.
    public static func prepare(_ site: LocalSite, operatorTokenFile: String) throws(ValueError) -> [String] {
        let operatorVerifier = CredentialVerifier(role: .operator, token: try TokenFile.read(operatorTokenFile))
        var own: [(component: SiteComponent, verifier: CredentialVerifier)] = []
        for component in site.components {
            guard let dir = component.stateDirectory else { continue }
            try SiteDirectory.make(dir)
            try SiteToken.ensure(tokenFile(dir))
            let role: CredentialRole = component.kind == .master ? .master : .slave(component.name)
            own.append((component, CredentialVerifier(role: role, token: try TokenFile.read(tokenFile(dir)))))
        }
        let master = own.first { $0.component.kind == .master }?.verifier
        let slaves = Dictionary(
            own.compactMap { $0.component.kind == .slave ? ($0.component.name, $0.verifier) : nil },
            uniquingKeysWith: { a, _ in a })
        for (component, _) in own {
            guard let dir = component.stateDirectory else { continue }
            // Credentials are scoped per hop: each agent accepts the slaves that pull from it, and its own "master"
            // is the agent it pulls from; a slave in a tier is never known to the master (docs/security.md).
            let isMaster = component.kind == .master
            let below = slaves.filter { site.tiers[$0.key] == (isMaster ? nil : component.name) }
            var peers = below.keys.sorted().map { below[$0]! }
            if !isMaster, let above = site.tiers[component.name].map({ slaves[$0] }) ?? master {
                peers.append(CredentialVerifier(role: .master, digest: above.digest))
            }
            // A slave moved into a tier leaves the accept file of the agent it pulled from before.
            let gone = slaves.keys.filter { below[$0] == nil }.map { CredentialRole.slave($0) }
            try accept([operatorVerifier] + peers, in: acceptFile(dir), removing: gone)
        }
        var notes: [String] = []
        for agent in site.elsewhere {
            if agent.name == "master" {
                notes.append(
                    "the master is on another host: add each slave's line above to its accept file ('mirrorsync credential accept FILE LINE' there), and its master line to each slave's \(acceptFile("STATE/slave-NAME"))"
                )
            } else if let master {
                notes.append(
                    "slave \(agent.name) is on another host: there, 'mirrorsync credential token FILE --for slave:\(agent.name)' and accept '\(master.line)' and the operator's '\(operatorVerifier.line)'; here, 'mirrorsync credential accept \(acceptFile(site.components.first { $0.kind == .master }?.stateDirectory ?? "STATE/master")) LINE' with the line it printed"
                )
            }
        }
        return notes
    }

    /// Puts `verifiers` in the accept file at `path` in place of the lines of their roles; other lines stay.
    public static func accept(
        _ verifiers: [CredentialVerifier], in path: String, removing gone: [CredentialRole] = []
    ) throws(ValueError) {
        var text =
            FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
            ?? "# Credentials this agent accepts, one a line: ROLE [NAME] sha256:HEX (see 'mirrorsync credential').\n"
        for role in gone {
            let prefix = CredentialVerifier(role: role, digest: []).line.prefix { $0 != ":" }.dropLast("sha256".count)
            text = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix(prefix) }
                .joined(separator: "\n")
        }
        for verifier in verifiers { text = AcceptedCredentials.replacing(text, with: verifier) }
        // Checked before it is written: a file the agent would refuse is never left in place.
        _ = try AcceptedCredentials.parse(text, file: path)
        try SiteToken.place(text, at: path, replacing: true)
    }
}
