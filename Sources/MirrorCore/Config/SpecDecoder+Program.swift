import Foundation

// The keys of an upstream that is a program (`command`, `env`, `sizePattern`, `failOnMatch`, `successExitCodes`),
// each read as its row of the field table says, and the rules that tie them to the rest of the upstream.
extension SpecDecoder {
    /// An argv: a list of strings whose first is an absolute path (`HookSpec.check`); a hook's or a command's.
    /// `field`: what an error names, when not `key` itself (a hook's errors name `hooks`).
    mutating func argv(_ f: Fields, _ key: String, what: String, field: String? = nil) -> [String]? {
        guard let argv = list(f, key, { (text: String) throws(ValueError) -> String in text }) else { return nil }
        do throws(ValueError) {
            try HookSpec.check(argv: argv, what: what)
            return argv
        } catch {
            diagnostics.error(
                f[key]!.value.mark, "invalid-value", "\(f.what): \(key): \(error.message)", field: field ?? key)
            return nil
        }
    }

    /// A mapping of environment variables to their values: names of letters, digits and '_', none the agent's own.
    mutating func variables(_ f: Fields, _ key: String) -> [String: String]? {
        guard let entry = f[key] else { return nil }
        guard entry.value.isMapping else {
            diagnostics.error(
                entry.value.mark, "invalid-type",
                "\(f.what): \(key): expected a mapping of variable names to values, got \(entry.value.kindName)",
                field: key)
            return nil
        }
        var out: [String: String] = [:]
        for variable in entry.value.entries(notIn: []) {
            guard let value = scalarText(variable.value, what: f.what, key: "\(key).\(variable.key)") else { continue }
            do throws(ValueError) {
                try ProgramUpstream.checkVariable(variable.key, value: value)
                out[variable.key] = value
            } catch {
                diagnostics.error(
                    variable.keyMark, "invalid-value", "\(f.what): \(key): \(error.message)", field: key)
            }
        }
        return out
    }

    /// A list of exit codes, each a whole number from 0 to 255.
    mutating func exitCodes(_ f: Fields, _ key: String) -> [Int]? {
        guard let entry = f[key] else { return nil }
        guard case .sequence(let items) = entry.value.content, !items.isEmpty else {
            diagnostics.error(
                entry.value.mark, "invalid-type", "\(f.what): \(key): expected a list of exit codes (0 to 255)",
                field: key)
            return nil
        }
        var out: [Int] = []
        for item in items {
            guard let s = item.scalar, s.isPlain, let code = Int(s.text), (0...255).contains(code),
                s.text == String(code)
            else {
                diagnostics.error(
                    item.mark, "invalid-value", "\(f.what): \(key): expected an exit code from 0 to 255", field: key)
                continue
            }
            out.append(code)
        }
        return out
    }

    /// A project's `limits`: memory (a size), cpus (a number), nice (0 to 19), io (idle or best-effort).
    mutating func limits(_ f: Fields) -> ResourceLimits? {
        guard let entry = f["limits"],
            let l = fields(entry.value, what: Subject("limits of project", f.what.name), known: ResourceLimits.keys)
        else { return nil }
        let errorsBefore = diagnostics.all.count
        var limits = ResourceLimits()
        limits.memory = optional(l, "memory") { text, _ throws(ValueError) in try ByteSize.parse(text) }
        limits.cpus = optional(l, "cpus") { text, scalar throws(ValueError) in
            guard scalar.isPlain, let cpus = Double(text), cpus.isFinite else {
                throw ValueError("'\(text)' is not a number of CPUs; write one such as 0.5, 1 or 1.5")
            }
            return cpus
        }
        limits.nice = integer(l, "nice", in: 0...19)
        limits.io = optional(l, "io") { text, _ throws(ValueError) in
            guard let io = ResourceLimits.IOClass(rawValue: text) else {
                throw ValueError("'\(text)' is not an I/O class; write idle or best-effort")
            }
            return io
        }
        guard diagnostics.all.count == errorsBefore else { return nil }
        do throws(ValueError) { try limits.check() } catch {
            diagnostics.error(entry.value.mark, "invalid-value", "\(l.what): \(error.message)", field: "limits")
            return nil
        }
        return limits.isEmpty ? nil : limits
    }

    /// An upstream's rules on its program's keys: `command` takes no rsync password or rsync option, and the
    /// program's other keys go with a `command`.
    mutating func programRules(_ f: Fields) -> Bool {
        let errorsBefore = diagnostics.all.count
        if f["command"] != nil {
            for key in ["passwordFile", "credential", "bandwidthLimit"] {
                guard let entry = f[key] else { continue }
                diagnostics.error(
                    entry.keyMark, "conflicting-keys",
                    "\(f.what): \(key) is rsync's; an upstream with a command is the program's to reach", field: key)
            }
        } else {
            for key in ProgramUpstream.keys where key != "command" {
                guard let entry = f[key] else { continue }
                diagnostics.error(
                    entry.keyMark, "conflicting-keys", "\(f.what): \(key) goes with command, which it has not",
                    field: key)
            }
        }
        return diagnostics.all.count == errorsBefore
    }
}

/// The rules of an upstream that is a program, shared by the decoder and the agent.
public enum ProgramUpstream {
    /// The keys only an upstream with a `command` has.
    public static let keys = ["command", "env", "sizePattern", "failOnMatch", "successExitCodes"]

    /// The prefixes of the variables the agent sets itself (tunasync's and its own).
    public static let reservedPrefixes = ["TUNASYNC_", "MIRRORSYNC_"]

    /// A variable of `env`: a name of letters, digits and '_' not starting with a digit, none the agent sets itself.
    public static func checkVariable(_ name: String, value: String) throws(ValueError) {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isLetter(first),
            name.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || isLetter($0) || (0x30...0x39).contains($0) })
        else {
            throw ValueError("'\(name)' is not a variable's name: letters, digits and '_', not starting with a digit")
        }
        if let prefix = reservedPrefixes.first(where: { name.hasPrefix($0) }) {
            throw ValueError("'\(name)' is set by the agent itself (every \(prefix)* variable is); choose another name")
        }
        if ["PATH", "LANG"].contains(name) {
            throw ValueError("'\(name)' is set by the agent itself; choose another name")
        }
        if value.contains("\0") { throw ValueError("the value of \(name) holds a NUL character") }
    }

    /// A regex over the program's output; `needsGroup`: its first group is what it catches (`sizePattern`).
    public static func checkPattern(_ pattern: String, needsGroup: Bool) throws(ValueError) -> String {
        let compiled: NSRegularExpression
        do { compiled = try NSRegularExpression(pattern: pattern) } catch {
            throw ValueError("'\(pattern)' is not a regular expression")
        }
        if needsGroup, compiled.numberOfCaptureGroups == 0 {
            throw ValueError("'\(pattern)' needs a group, '(...)', around what it catches")
        }
        return pattern
    }

    private static func isLetter(_ byte: UInt8) -> Bool { (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte) }
}
