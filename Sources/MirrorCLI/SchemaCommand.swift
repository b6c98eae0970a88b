import ArgumentParser
import MirrorCore

/// `mirrorsync schema [--reference]`: the JSON Schema of a file of mirrors.d, or the configuration reference.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema of one file of mirrors.d, or with --reference the configuration reference.",
        discussion: """
            The schema (JSON Schema 2020-12) is what yaml-language-server reads for editors: point a file at it with \
            a first line '# yaml-language-server: $schema=PATH'. 'mirrorsync init' writes it beside the files it \
            makes, and schemas/mirrors.schema.json holds it. --reference prints the same document as Markdown: every \
            object and each of its keys with its type, default, description and examples, as docs/configuration.md \
            holds it ('make schema' writes both).
            """
    )

    @Flag(help: "Print the configuration reference as Markdown instead of the JSON Schema.")
    var reference = false

    func run() {
        Terminal.write(reference ? ConfigSchema.reference : ConfigSchema.json, to: .standardOutput)
    }
}
