/// How far a running sync has come, as rsync's `--info=progress2` says it: kept in the agent's memory while the run
/// goes on (never written to the store), shown in its run resource (`GET /v1/projects/{name}/runs/{id}`).
public struct RunProgress: Codable, Sendable, Hashable {
    /// Which rsync pass this is: 1, or 2 for the pass that deletes and brings the second stage.
    public var pass: Int
    /// Bytes of file data this pass has brought so far.
    public var bytes: Int64
    /// Files this pass has brought so far (rsync's `xfr#`).
    public var files: Int
    /// rsync's share of the pass done, 0 to 100: of the files listed so far while rsync still lists the tree.
    public var percent: Int?
    /// The files of the whole tree, once rsync has listed them all (`to-chk=N/TOTAL`); nil while it still lists
    /// (`ir-chk`, incremental recursion).
    public var filesTotal: Int?
    /// Files still to check, of `filesTotal`.
    public var filesToCheck: Int?
    /// The bytes this pass will bring, estimated from `bytes` and `percent` once rsync knows the whole list.
    public var bytesTotal: Int64?

    public init(
        pass: Int = 1, bytes: Int64 = 0, files: Int = 0, percent: Int? = nil, filesTotal: Int? = nil,
        filesToCheck: Int? = nil,
        bytesTotal: Int64? = nil
    ) {
        self.pass = pass
        self.bytes = bytes
        self.files = files
        self.percent = percent
        self.filesTotal = filesTotal
        self.filesToCheck = filesToCheck
        self.bytesTotal = bytesTotal
    }

    /// Reads one progress line of rsync 3.1 and later (`--info=progress2`), such as
    /// `      1,200,000  75%  402.90kB/s    0:00:02 (xfr#3, to-chk=1/5)`; nil for any other line. A line without
    /// the parenthesis (rsync writes one while a file is under way) gives the bytes and the share alone.
    public static func parse(_ line: Substring, pass: Int, previous: RunProgress?) -> RunProgress? {
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count >= 4, words[1].hasSuffix("%"), words[2].hasSuffix("/s"), words[3].contains(":"),
            let bytes = Int64(words[0].filter { $0 != "," }), let percent = Int(words[1].dropLast())
        else { return nil }
        var progress = RunProgress(
            pass: pass, bytes: bytes, files: previous?.pass == pass ? previous?.files ?? 0 : 0, percent: percent)
        if previous?.pass == pass {
            progress.filesTotal = previous?.filesTotal
            progress.filesToCheck = previous?.filesToCheck
        }
        // "(xfr#3, to-chk=1/5)" or "(xfr#3, ir-chk=10/50)".
        if words.count >= 6, words[4].hasPrefix("(xfr#"), let files = Int(words[4].dropFirst(5).filter(\.isNumber)) {
            progress.files = files
            let check = words[5]
            if let equals = check.firstIndex(of: "="), let slash = check.firstIndex(of: "/") {
                let left = Int(check[check.index(after: equals)..<slash])
                let right = Int(check[check.index(after: slash)...].filter(\.isNumber))
                if check.hasPrefix("to-chk") {
                    progress.filesToCheck = left
                    progress.filesTotal = right
                } else {
                    progress.filesToCheck = nil
                    progress.filesTotal = nil
                }
            }
        }
        if progress.filesTotal != nil, percent > 0 { progress.bytesTotal = bytes * 100 / Int64(percent) }
        return progress
    }
}
