import ArgumentParser

/// `mirrorsync`: keeps a mirror site's master and slaves in step with `mirrors.d/`.
public struct MirrorsyncCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mirrorsync",
        abstract: "Keep a software mirror site in step with the YAML in mirrors.d/.",
        discussion: """
            Edit mirrors.d/*.yaml (projects, upstreams, intervals, slaves and the master), commit, \
            and mirrorsync drives the master and slave agents until they match. \
            Start with 'mirrorsync init' and 'mirrorsync up', or 'mirrorsync validate mirrors.d'.
            """,
        version: "0.1.0",
        subcommands: [
            InitCommand.self, UpCommand.self, ValidateCommand.self, ReconcileCommand.self, StatusCommand.self,
            SyncCommand.self, LogsCommand.self,
            CancelCommand.self, CredentialCommand.self, MasterCommand.self, SlaveCommand.self, SchemaCommand.self,
        ]
    )

    public init() {}
}

/// How a command prints what a person would read as a table or a list.
public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json, markdown
}
