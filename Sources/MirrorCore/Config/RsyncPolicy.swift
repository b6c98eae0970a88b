/// What a spec may hand to rsync: exclude patterns that stay patterns, and options from an allowlist.
///
/// rsync reads `--exclude='+ x'` as an *include* rule and `--exclude='!'` as "clear the list", so patterns
/// that start like a rule are refused; options that run commands, read or write arbitrary files or
/// override mirrorsync's own safety choices are refused with the reason. No option that follows or keeps a link
/// across the tree's edge passes, in any spelling rsync reads (`-L`, `-aL`, `--copy-l`, `--keep-dirlinks=x`).
public enum RsyncPolicy {
    /// Options that take no value and are safe on a public mirror.
    public static let allowedFlags: [String] = [
        "--acls", "--checksum", "--compress", "--delete-excluded",
        "--executability", "--fuzzy", "--ignore-times", "--ipv4", "--ipv6", "--itemize-changes", "--no-group",
        "--no-motd",
        "--no-owner", "--no-perms", "--no-times", "--numeric-ids", "--omit-dir-times", "--omit-link-times",
        "--perms", "--prune-empty-dirs", "--size-only", "--sparse", "--verbose", "--xattrs",
    ]

    /// Options of the form `--name=value`, each with the check its value must pass.
    public static let allowedValueOptions: [(name: String, pattern: String, check: @Sendable (String) -> Bool)] = [
        (
            "--chmod", "[DFugoa+=rwxXst0-7,-]+",
            { v in !v.isEmpty && v.utf8.allSatisfy { "DFugoa+=rwxXst01234567,-".utf8.contains($0) } }
        ),
        ("--compress-level", "[0-9]", { v in v.utf8.count == 1 && isDigits(v) }),
        ("--contimeout", "[1-9][0-9]{0,3}", { v in v.utf8.count <= 4 && isDigits(v) && !v.hasPrefix("0") }),
        ("--modify-window", "[0-9]{1,4}", { v in v.utf8.count <= 4 && isDigits(v) }),
        ("--max-size", "[0-9]+(\\.[0-9]+)?[KMGkmg]?", { v in isRsyncSize(v) }),
        ("--min-size", "[0-9]+(\\.[0-9]+)?[KMGkmg]?", { v in isRsyncSize(v) }),
    ]

    /// Why well-known options are refused, to say more than "not allowed".
    static let refusals: [String: String] = [
        "-e": "it runs a remote shell command", "--rsh": "it runs a remote shell command",
        "--rsync-path": "it runs a program on the remote host", "--daemon": "it starts a daemon",
        "--config": "it reads a daemon configuration", "--dparam": "it changes daemon settings",
        "--server": "it is rsync's internal mode", "--sender": "it is rsync's internal mode",
        "--files-from": "it reads a list of files from a path", "--exclude-from": "it reads rules from a file",
        "--include-from": "it reads rules from a file",
        "--filter": "it accepts merge rules that read files; use 'exclude'",
        "--write-batch": "it writes files outside the tree", "--only-write-batch": "it writes files outside the tree",
        "--read-batch": "it reads files outside the tree", "--log-file": "it writes files outside the tree",
        "--backup-dir": "it writes files outside the tree", "--temp-dir": "it writes files outside the tree",
        "--partial-dir": "it writes files outside the tree", "--compare-dest": "it reads trees outside the mirror",
        "--copy-dest": "it reads trees outside the mirror", "--link-dest": "it reads trees outside the mirror",
        "--password-file": "use the upstream's passwordFile",
        "--remove-source-files": "it deletes files on the upstream",
        "--exclude": "use the project's 'exclude' list",
        "--include": "use the project's 'exclude' and 'twoStage' lists",
        "--bwlimit": "use the upstream's bandwidthLimit", "--timeout": "use the upstream's ioTimeout",
        "--max-delete": "use the project's maxDelete", "--delete": "mirrorsync deletes in its own safe order",
        "--delete-before": "mirrorsync deletes in its own safe order",
        "--delete-during": "mirrorsync deletes in its own safe order",
        "--delete-after": "mirrorsync deletes in its own safe order",
        "--delete-delay": "mirrorsync deletes in its own safe order",
        "--del": "mirrorsync deletes in its own safe order", "--delay-updates": "it is already on",
        "--safe-links": "it is already on", "--hard-links": "it is already on",
        "--port": "put the port in the upstream's url",
        "--address": "it binds to a chosen address", "--sockopts": "it changes socket options",
        "--out-format": "mirrorsync parses rsync's output",
        "--info": "mirrorsync parses rsync's output", "--debug": "mirrorsync parses rsync's output",
        "--quiet": "mirrorsync parses rsync's statistics",
        "--dry-run": "mirrorsync decides when to copy", "--list-only": "mirrorsync decides when to copy",
        "--usermap": "it changes ownership", "--groupmap": "it changes ownership", "--chown": "it changes ownership",
        "--iconv": "it renames files",
    ]

    /// Options that follow a symlink, or keep one, across the tree's edge: the sender would copy what a link in the
    /// upstream points at (a key outside it), or the receiver would write through a link in the mirror. Each long
    /// form with its short letter, if it has one.
    public static let linkOptions: [(name: String, letter: Character?, reason: String)] = [
        ("--copy-links", "L", "it copies what a symlink points at, which may lie outside the tree"),
        ("--copy-unsafe-links", nil, "it copies what a symlink out of the tree points at"),
        ("--copy-dirlinks", "k", "it copies the directory a symlink points at, which may lie outside the tree"),
        ("--keep-dirlinks", "K", "it lets a symlink on the receiver lead writes outside the tree"),
    ]

    /// Why `option` follows or keeps links across the tree's edge; nil if it does not. rsync reads a short cluster
    /// (`-aL`) letter by letter and takes an unambiguous start of a long name (`--copy-l`) for the whole.
    static func linkRefusal(_ option: String) -> String? {
        if option.hasPrefix("--") {
            let name = option.split(separator: "=", maxSplits: 1).first.map(String.init) ?? option
            guard name.utf8.count > 3 else { return nil }
            return linkOptions.first { $0.name.hasPrefix(name) }.map {
                "rsync option '\(name)' is not allowed: \($0.reason)"
            }
        }
        guard option.hasPrefix("-") else { return nil }
        let letters = option.dropFirst().prefix { $0 != "=" }
        return linkOptions.first { $0.letter.map(letters.contains) ?? false }.map {
            "rsync option '\(option)' is not allowed: -\($0.letter!) (\($0.name)) \($0.reason)"
        }
    }

    static func isDigits<S: StringProtocol>(_ v: S) -> Bool {
        !v.isEmpty && v.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    static func isRsyncSize(_ v: String) -> Bool {
        var body = Substring(v)
        if let last = body.last, "KMGkmg".contains(last) { body = body.dropLast() }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        return !body.isEmpty && parts.count <= 2
            && parts.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
    }

    static let allowedFlagSet = Set(allowedFlags)

    /// Checks one entry of `rsyncOptions`.
    public static func checkOption(_ option: String) throws(ValueError) {
        if allowedFlagSet.contains(option) { return }
        if let bad = option.utf8.first(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw ValueError(
                "rsync option '\(option.debugDescription.dropFirst().dropLast())' holds \(MirrorPath.describe(byte: bad))"
            )
        }
        guard option.hasPrefix("-") else {
            throw ValueError("'\(option)' is not an rsync option; options start with '--'")
        }
        if let refusal = linkRefusal(option) { throw ValueError(refusal) }
        let name = option.split(separator: "=", maxSplits: 1).first.map(String.init) ?? option
        if let reason = refusals[name] ?? refusals[option] {
            throw ValueError("rsync option '\(name)' is not allowed: \(reason)")
        }
        guard option.hasPrefix("--") else {
            throw ValueError(
                "rsync option '\(option)' is a short option; write the long form (such as --compress), from the allowlist"
            )
        }
        let hasValue = option.utf8.contains(UInt8(ascii: "="))
        if !hasValue, allowedFlags.contains(option) { return }
        if let allowed = allowedValueOptions.first(where: { $0.name == name }) {
            guard hasValue else { throw ValueError("rsync option '\(name)' needs a value: \(name)=VALUE") }
            let value = String(option.dropFirst(name.count + 1))
            guard allowed.check(value) else {
                throw ValueError("rsync option '\(option)' has an invalid value '\(value)'")
            }
            return
        }
        if allowedFlags.contains(name) { throw ValueError("rsync option '\(name)' takes no value") }
        let known = allowedFlags + allowedValueOptions.map(\.name)
        throw ValueError("rsync option '\(name)' is not in the allowlist\(Suggestion.hint(for: name, among: known))")
    }

    /// The JSON Schema pattern for an exclude or twoStage pattern; `checkPattern` is the same rule.
    public static let filterPatternSchema = "^(?![-+!]|[.:,] |[.:,]$)[^\\x00-\\x1f\\x7f]{1,1024}$"

    /// Checks one entry of `exclude` or `twoStage`.
    public static func checkPattern(_ pattern: String) throws(ValueError) {
        let bytes = pattern.utf8
        guard let first = bytes.first else { throw ValueError("a pattern may not be empty") }
        if let bad = bytes.first(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw ValueError(
                "pattern \(pattern.debugDescription) holds \(MirrorPath.describe(byte: bad)), which would split it into rsync rules"
            )
        }
        if bytes.count > 1024 && pattern.unicodeScalars.count > 1024 {
            throw ValueError("a pattern may be at most 1024 characters long")
        }
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: "!") {
            throw ValueError(
                "pattern '\(pattern)' starts with '\(Character(Unicode.Scalar(first)))', which rsync reads as a filter rule, not a pattern"
            )
        }
        // `. FILE` and `: FILE` are merge rules, `, ` a modifier; alone, each is a rule too.
        if first == UInt8(ascii: ".") || first == UInt8(ascii: ":") || first == UInt8(ascii: ",") {
            let second = bytes.dropFirst().first
            if second == UInt8(ascii: " ") {
                throw ValueError(
                    "pattern '\(pattern)' starts like an rsync merge rule ('\(Character(Unicode.Scalar(first))) ')")
            }
            if second == nil { throw ValueError("pattern '\(pattern)' is an rsync rule, not a pattern") }
        }
    }
}
