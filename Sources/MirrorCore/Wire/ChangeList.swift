import Foundation

/// What one revision of a project changed from the revision before, as the master records it after each successful
/// sync (by comparing the tree it now serves with the one it served before) and hands to its slaves
/// (`GET /v1/projects/{name}/changes`): the paths created, changed and deleted, their types, and which are two-stage
/// files. A change of type is two entries of one path: its deletion (the old type) and its creation (the new).
public struct ChangeList: Sendable, Hashable {
    public var revision: Int
    public var entries: [ChangeEntry]

    public init(revision: Int, entries: [ChangeEntry]) {
        self.revision = revision
        self.entries = entries
    }

    /// The list as text, one entry a line (`ChangeEntry.line`).
    public var text: String { entries.map(\.line).joined(separator: "\n") + (entries.isEmpty ? "" : "\n") }

    /// Reads `text` back; `revision` names it in errors.
    public static func parse(_ text: String, revision: Int) throws(ValueError) -> ChangeList {
        var entries: [ChangeEntry] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            do throws(ValueError) { entries.append(try ChangeEntry(line: line)) } catch {
                throw ValueError("revision \(revision)'s change list, line \(index + 1): \(error.message)")
            }
        }
        return ChangeList(revision: revision, entries: entries)
    }
}

/// One path of a change list.
public struct ChangeEntry: Sendable, Hashable {
    public enum Operation: String, Sendable, Hashable, CaseIterable {
        case created, changed, deleted
        /// `c`, `m` (modified), `d`.
        var letter: Character {
            switch self {
            case .created: "c"
            case .changed: "m"
            case .deleted: "d"
            }
        }
    }

    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case file, directory, symlink
        var letter: Character { rawValue.first! }
    }

    public var operation: Operation
    public var kind: Kind
    /// The path below the project's top, as the bytes of its name (not always UTF-8); empty for the top itself.
    public var path: [UInt8]
    /// Whether the path matches one of the project's `twoStage` patterns: it lands after every other.
    public var twoStage: Bool
    /// A file with other names in the tree (hard links), each of them listed with it: rsync links only files that
    /// one pass lists, so a pass that brings one brings them all.
    public var hardLinked: Bool

    public init(
        _ operation: Operation, _ kind: Kind, _ path: [UInt8], twoStage: Bool = false, hardLinked: Bool = false
    ) {
        self.operation = operation
        self.kind = kind
        self.path = path
        self.twoStage = twoStage
        self.hardLinked = hardLinked
    }

    /// `OP TYPE STAGE PATH`: one letter each (`c`reated, `m` for changed, `d`eleted; `f`ile, `d`irectory,
    /// `s`ymlink; `2` for a two-stage file, `1` otherwise, followed by `h` for a hard-linked file), the path escaped
    /// (`PathEscaping`), `.` for the top.
    public var line: String {
        "\(operation.letter) \(kind.letter) \(twoStage ? "2" : "1")\(hardLinked ? "h" : "") "
            + (path.isEmpty ? "." : PathEscaping.escape(path))
    }

    public init(line: Substring) throws(ValueError) {
        let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, let op = Operation.allCases.first(where: { String($0.letter) == parts[0] }),
            let kind = Kind.allCases.first(where: { String($0.letter) == parts[1] }),
            ["1", "2", "1h", "2h"].contains(parts[2])
        else {
            throw ValueError("'\(line.prefix(80))' is not OP TYPE STAGE PATH")
        }
        let path: [UInt8] = parts[3] == "." ? [] : try PathEscaping.unescape(parts[3])
        self.init(op, kind, path, twoStage: parts[2].hasPrefix("2"), hardLinked: parts[2].hasSuffix("h"))
    }
}

/// Names as bytes in one line of text, reversibly, in rsync's own spelling: a byte that is not printable ASCII (a
/// newline, a control character, every byte of a name that is not ASCII, UTF-8 or not) and the backslash itself are
/// `\#ooo`, three octal digits, as rsync writes names without `-8`.
public enum PathEscaping {
    public static func escape(_ bytes: [UInt8]) -> String {
        var out = ""
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                let octal = String(byte, radix: 8)
                out += "\\#" + String(repeating: "0", count: 3 - octal.count) + octal
            }
        }
        return out
    }

    public static func unescape(_ text: some StringProtocol) throws(ValueError) -> [UInt8] {
        let utf8 = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            let digits = index + 5 <= utf8.count ? utf8[(index + 2)..<(index + 5)] : []
            guard digits.count == 3, utf8[index + 1] == UInt8(ascii: "#"),
                digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }),
                let value = Int(String(decoding: digits, as: UTF8.self), radix: 8), value < 256
            else {
                throw ValueError("a backslash in a name is \\#ooo (three octal digits): '\(text.prefix(80))'")
            }
            out.append(UInt8(value))
            index += 5
        }
        return out
    }
}

/// `GET /v1/projects/{name}/changes?from=M&to=N`: what revisions M+1 through N changed, each revision's list in
/// order, as `ChangeList.text`.
public struct ChangesResponse: Codable, Sendable, Hashable {
    public var project: String
    public var from: Int
    public var to: Int
    /// Each revision after `from` up to `to`, oldest first, with its list's text.
    public var revisions: [Revision]

    public struct Revision: Codable, Sendable, Hashable {
        public var revision: Int
        public var list: String

        public init(revision: Int, list: String) {
            self.revision = revision
            self.list = list
        }
    }

    public init(project: String, from: Int, to: Int, lists: [ChangeList]) {
        self.project = project
        self.from = from
        self.to = to
        revisions = lists.map { Revision(revision: $0.revision, list: $0.text) }
    }

    /// The lists, read back and checked to follow each other from `from` to `to`.
    public func lists() throws(ValueError) -> [ChangeList] {
        var lists: [ChangeList] = []
        for (offset, revision) in revisions.enumerated() {
            guard revision.revision == from + offset + 1 else {
                throw ValueError("the changes skip from revision \(from + offset) to \(revision.revision)")
            }
            lists.append(try ChangeList.parse(revision.list, revision: revision.revision))
        }
        guard from + lists.count == to else {
            throw ValueError("the changes end at revision \(from + lists.count), not \(to)")
        }
        return lists
    }
}
