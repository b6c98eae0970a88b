import Foundation

/// An upstream that is a program: the master runs `command` (an argv, never a shell) in the project's tree, and its
/// output is the run's log. The environment it gets is tunasync's command provider's (`TUNASYNC_*`) and mirrorsync's
/// own (`MIRRORSYNC_*`), on a clean base (nothing of the agent's), with `env` added, so that tunasync's scripts run
/// unchanged; `docs/providers.md` holds the contract.
public struct CommandUpstream: Codable, Sendable, Hashable {
    /// The program, an absolute path that the agent's `--allow-exec` allows, and its arguments.
    public var command: [String]
    /// The upstream's address, handed to the program as `TUNASYNC_UPSTREAM_URL` (and shown as the upstream).
    public var url: String?
    /// Variables added to the program's environment; they may not replace the `TUNASYNC_*` and `MIRRORSYNC_*` ones.
    public var env: [String: String]
    /// A regex over the output, line by line: the first group of its last match is the tree's size (`1.2G`, `345M`,
    /// `12K`, bytes), as tunasync's `size_pattern`.
    public var sizePattern: String?
    /// A regex over the output, line by line: a match fails the run, as tunasync's `fail_on_match`.
    public var failOnMatch: String?
    /// The exit codes that mean success.
    public var successExitCodes: [Int]

    public init(
        command: [String], url: String? = nil, env: [String: String] = [:], sizePattern: String? = nil,
        failOnMatch: String? = nil, successExitCodes: [Int] = [0]
    ) {
        self.command = command
        self.url = url
        self.env = env
        self.sizePattern = sizePattern
        self.failOnMatch = failOnMatch
        self.successExitCodes = successExitCodes
    }

    /// The rules on each field, as mirrors.d's (`SpecDecoder`) are: an absolute program (no search path decides what
    /// runs), variable names that are names and not the agent's own, regexes that compile, exit codes that exist.
    /// The agent checks again what a stored spec holds before it runs it.
    public func check() throws(ValueError) {
        try HookSpec.check(argv: command, what: "command")
        for (key, value) in env.sorted(by: { $0.key < $1.key }) {
            try ProgramUpstream.checkVariable(key, value: value)
        }
        if let sizePattern {
            do throws(ValueError) { _ = try ProgramUpstream.checkPattern(sizePattern, needsGroup: true) } catch {
                throw ValueError("sizePattern: \(error.message)")
            }
        }
        if let failOnMatch {
            do throws(ValueError) { _ = try ProgramUpstream.checkPattern(failOnMatch, needsGroup: false) } catch {
                throw ValueError("failOnMatch: \(error.message)")
            }
        }
        guard !successExitCodes.isEmpty else { throw ValueError("successExitCodes lists no exit code") }
        if let code = successExitCodes.first(where: { !(0...255).contains($0) }) {
            throw ValueError("\(code) is not an exit code: a program exits with 0 to 255")
        }
    }

    private enum CodingKeys: String, CodingKey {
        case command, url, env, sizePattern, failOnMatch, successExitCodes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        command = try container.decode([String].self, forKey: .command)
        url = try container.decodeIfPresent(String.self, forKey: .url)
        env = try container.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
        sizePattern = try container.decodeIfPresent(String.self, forKey: .sizePattern)
        failOnMatch = try container.decodeIfPresent(String.self, forKey: .failOnMatch)
        successExitCodes = try container.decodeIfPresent([Int].self, forKey: .successExitCodes) ?? [0]
    }

    /// Leaves out what is at its default, so that a spec that never named them is the same JSON.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(command, forKey: .command)
        try container.encodeIfPresent(url, forKey: .url)
        if !env.isEmpty { try container.encode(env, forKey: .env) }
        try container.encodeIfPresent(sizePattern, forKey: .sizePattern)
        try container.encodeIfPresent(failOnMatch, forKey: .failOnMatch)
        if successExitCodes != [0] { try container.encode(successExitCodes, forKey: .successExitCodes) }
    }

    /// A size as tunasync's size patterns catch it, in bytes: `1.2G`, `345M`, `12K`, `3.5T`, `1234` (bytes), with an
    /// optional `B`, `iB` and space (`1.2 GiB`); K, M, G, T and P are powers of 1024. Nil when it is none of these.
    public static func bytes(ofSize text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == "." || $0 == ",") }
            .replacingOccurrences(of: ",", with: "")
        var unit = trimmed.dropFirst(trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == "." || $0 == ",") }.count)
            .trimmingCharacters(in: .whitespaces).uppercased()
        for suffix in ["IB", "B"] where unit.hasSuffix(suffix) {
            unit = String(unit.dropLast(suffix.count))
            break
        }
        let powers: [String: Double] = ["": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5]
        guard let value = Double(number), let power = powers[unit] else { return nil }
        let bytes = value * pow(1024, power)
        guard bytes.isFinite, bytes >= 0, bytes < 9e18 else { return nil }
        return Int64(bytes.rounded())
    }
}
