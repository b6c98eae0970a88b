import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A project's tree published by whole revisions (`publish: atomic`).
///
/// The project's path is a symbolic link to the revision it serves; the revisions live beside it, in
/// `.mirrorsync-revisions/NAME/SERIAL@UNIXTIME` of the same directory (the same filesystem, so a new revision can
/// hard-link the files it shares with the served one; `UNIXTIME` is when it was published, and so when the revision
/// before it stopped being served). A revision being built is `SERIAL.building`: never served, and removed if its
/// build fails or is cut short. Publishing is one `rename(2)` of a new link over the old one: a reader that opens
/// the path sees one whole revision, and a reader inside the old one keeps it until it is pruned.
struct RevisionTree: Sendable {
    /// The project's path as readers open it, without a trailing slash.
    let link: String
    /// Where its revisions live.
    let store: String
    /// The link's target for a revision: relative, so the tree can be served from a chroot or moved whole.
    let relativeStore: String

    static let storeDirectory = ".mirrorsync-revisions"

    /// `destination`: the job's destination, `ROOT/PATH/`.
    init(destination: String) {
        var link = destination
        while link.count > 1 && link.hasSuffix("/") { link.removeLast() }
        self.link = link
        let parent = (link as NSString).deletingLastPathComponent
        let name = (link as NSString).lastPathComponent
        relativeStore = Self.storeDirectory + "/" + name
        store = parent + "/" + relativeStore
    }

    /// A published revision's directory name, `SERIAL@UNIXTIME`, read back.
    struct Revision: Sendable, Hashable {
        var serial: Int
        var publishedAt: Date
        var name: String { "\(serial)@\(Int64(publishedAt.timeIntervalSince1970.rounded(.down)))" }

        init(serial: Int, publishedAt: Date) {
            self.serial = serial
            self.publishedAt = publishedAt
        }

        init?(name: String) {
            let parts = name.split(separator: "@")
            guard parts.count == 2, let serial = Int(parts[0]), let time = Int64(parts[1]) else { return nil }
            self.init(serial: serial, publishedAt: Date(timeIntervalSince1970: TimeInterval(time)))
        }
    }

    /// The published revisions, oldest first.
    func revisions() -> [Revision] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []
        return names.compactMap(Revision.init(name:)).sorted { $0.serial < $1.serial }
    }

    /// What the path is now.
    enum Served: Equatable {
        case nothing
        /// A directory synced in place (before the project asked for atomic publication).
        case directory
        /// A link to one of the revisions, by its directory name.
        case revision(String)
        /// A link this tree did not make, or anything else: left alone.
        case other
    }

    func served() -> Served {
        var info = stat()
        guard lstat(link, &info) == 0 else { return .nothing }
        if info.st_mode & S_IFMT == S_IFDIR { return .directory }
        guard info.st_mode & S_IFMT == S_IFLNK,
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link),
            target.hasPrefix(relativeStore + "/")
        else { return .other }
        let name = String(target.dropFirst(relativeStore.count + 1))
        return Revision(name: name) == nil ? .other : .revision(name)
    }

    /// The directory a new revision is built against (its unchanged files are hard-linked from there): the one
    /// served, whichever way it is served.
    func linkBase() -> String? {
        switch served() {
        case .directory: return link
        case .revision(let name): return store + "/" + name
        case .nothing, .other: return nil
        }
    }

    /// Removes what a failed, cut-short or killed build left behind: `*.building` and a half-made link.
    func removeLeftovers() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []
        let leftovers = names.filter { $0.hasSuffix(".building") || $0.hasPrefix(".link-") }.map { store + "/" + $0 }
        return leftovers.filter { (try? FileManager.default.removeItem(atPath: $0)) != nil }
    }

    /// A fresh, empty directory to build the next revision in.
    func startBuild() throws(PublicationError) -> (serial: Int, directory: String) {
        let serial = (revisions().last?.serial ?? 0) + 1
        let directory = store + "/\(serial).building"
        do {
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        } catch {
            throw PublicationError(
                "cannot make \(directory) to build the next revision in: \(error.localizedDescription)")
        }
        return (serial, directory)
    }

    /// Makes a built revision the served one, at once; returns it. A tree served in place until now is exchanged
    /// for the link in one step and kept, as the revision before, for the grace period.
    func publish(_ directory: String, serial: Int, at now: Date) throws(PublicationError) -> Revision {
        let revision = Revision(serial: serial, publishedAt: now)
        let published = store + "/" + revision.name
        guard rename(directory, published) == 0 else {
            throw PublicationError("cannot name the new revision \(published): \(Self.errorText())")
        }
        let temporary = store + "/.link-\(UUID().uuidString.lowercased())"
        // The link is made in the store and moved beside the tree: its target is relative to the tree's directory.
        guard symlink(relativeStore + "/" + revision.name, temporary) == 0 else {
            throw PublicationError("cannot make the link to the new revision: \(Self.errorText())")
        }
        switch served() {
        case .directory:
            // rename(2) cannot put a link where a directory is; renameat2's exchange swaps the two in one step.
            guard Self.exchange(temporary, link) else {
                unlink(temporary)
                throw PublicationError(
                    "cannot exchange the tree served in place at \(link) for the new revision: \(Self.errorText())")
            }
            // The old tree is now at the temporary name: it becomes the revision before this one.
            let before = Revision(serial: 0, publishedAt: now)
            if rename(temporary, store + "/" + before.name) != 0 {
                _ = try? FileManager.default.removeItem(atPath: temporary)
            }
        case .other:
            unlink(temporary)
            throw PublicationError(
                "\(link) is neither a directory nor a link to one of its revisions; it was left as it is")
        case .nothing, .revision:
            guard rename(temporary, link) == 0 else {
                unlink(temporary)
                throw PublicationError("cannot switch \(link) to the new revision: \(Self.errorText())")
            }
        }
        return revision
    }

    /// Revisions no longer served that are beyond the newest `keep` (the served one included) and were replaced
    /// at least `grace` ago: deleted. Returns their names.
    func prune(keep: Int, grace: TimeInterval, now: Date) -> [String] {
        let all = revisions()
        guard case .revision(let servedName) = served() else { return [] }
        var doomed: [String] = []
        for (i, revision) in all.enumerated() where i < all.count - max(1, keep) && revision.name != servedName {
            // A revision stopped being served when the next one was published.
            let replacedAt = all[i + 1].publishedAt
            if now.timeIntervalSince(replacedAt) >= grace { doomed.append(revision.name) }
        }
        return doomed.filter { (try? FileManager.default.removeItem(atPath: store + "/" + $0)) != nil }
    }

    /// Back to a tree synced in place (`publish: inPlace`): the served revision's directory takes the link's place
    /// in one step, with nothing copied; the other revisions are deleted.
    func unpublish() throws(PublicationError) {
        guard case .revision(let name) = served() else { return }
        let directory = store + "/" + name
        guard Self.exchange(directory, link) else {
            throw PublicationError("cannot put revision \(name) in the place of the link \(link): \(Self.errorText())")
        }
        // The link is now where the revision was.
        unlink(directory)
        try? FileManager.default.removeItem(atPath: store)
    }

    /// `renameat2(..., RENAME_EXCHANGE)`, which Swift's Glibc module does not declare: found at run time.
    static func exchange(_ a: String, _ b: String) -> Bool {
        typealias RenameAt2 =
            @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32
        guard let symbol = dlsym(nil, "renameat2") else {
            errno = ENOSYS
            return false
        }
        let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
        let renameExchange: UInt32 = 1 << 1
        return renameat2(AT_FDCWD, a, AT_FDCWD, b, renameExchange) == 0
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}

/// Why a revision could not be built or published.
struct PublicationError: Error, Sendable {
    var message: String
    init(_ message: String) { self.message = message }
}
