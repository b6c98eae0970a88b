import ArgumentParser
import Foundation
import MirrorCore
import MirrorSite

/// `mirrorsync credential`: each role's own credential, and the accept files that say which the agents take.
struct CredentialCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credential",
        abstract: "Make a role's credential and put its verifier in an agent's accept file.",
        discussion: """
            Each agent sends a token of its own (--token-file) and accepts the tokens whose SHA-256 is in its accept \
            file (--accept-file), each for one role: operator (reconcile and the CLI: every call), master (on a slave: \
            the triggers), slave NAME (on the master: that slave's reports and rsync credential). See docs/security.md.
            """,
        subcommands: [CredentialTokenCommand.self, CredentialAcceptCommand.self]
    )
}

/// `mirrorsync credential token FILE --for ROLE`: the token, made if missing, and its accept-file line.
struct CredentialTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract:
            "Make FILE (mode 0600) with a fresh token unless it exists, and print the line an accept file takes for it.",
        discussion: """
            With --rotate, FILE is replaced by a fresh token: put the printed line in the accept files that held the old \
            one ('mirrorsync credential accept'), then restart the agent that sends it. For a slave, that is the master's \
            accept file alone; its rsync password changes with it.
            """
    )

    @Argument(help: ArgumentHelp("The token file.", valueName: "file"))
    var file: String

    @Option(name: .customLong("for"), help: ArgumentHelp("operator, master or slave:NAME.", valueName: "role"))
    var role: String

    @Flag(help: "Replace the token with a fresh one.")
    var rotate = false

    func run() throws {
        do throws(ValueError) {
            let role = try CredentialRole.parse(role)
            guard role != .shared else {
                throw ValueError("--for shared: a shared token is the old way; make one for each role instead")
            }
            if rotate { try SiteToken.rotate(file) } else { try SiteToken.ensure(file) }
            Terminal.write(
                CredentialVerifier(role: role, token: try TokenFile.read(file)).line + "\n", to: .standardOutput)
        } catch {
            Terminal.write("mirrorsync credential token: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
    }
}

/// `mirrorsync credential accept FILE LINE...`: puts verifiers in an accept file, each in place of its role's lines.
struct CredentialAcceptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accept",
        abstract:
            "Put each LINE (as 'credential token' prints it) in the accept file FILE, in place of that role's lines; the agent reads it again by itself.",
        discussion: "An invalid line changes nothing. To revoke a slave, delete its line from the master's accept file."
    )

    @Argument(help: ArgumentHelp("The accept file (made, mode 0600, if missing).", valueName: "file"))
    var file: String

    @Argument(help: ArgumentHelp("Lines such as 'slave www sha256:...'.", valueName: "line"))
    var lines: [String]

    func run() throws {
        do throws(ValueError) {
            let verifiers = try AcceptedCredentials.parse(lines.joined(separator: "\n"), file: "the lines given")
                .verifiers
            try SiteCredentials.accept(verifiers, in: file)
        } catch {
            Terminal.write("mirrorsync credential accept: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
    }
}
