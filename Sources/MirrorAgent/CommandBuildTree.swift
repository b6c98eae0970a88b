import Foundation
import Subprocess
#if canImport(System)
    import System
#else
    import SystemPackage
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The revision a program builds in, with `publish: atomic`: a copy of the served revision in which every file is a
/// hard link of the served one (`cp -al`), so that the program starts from the tree it left and only what it changes
/// costs space. A program that writes a new file and renames it (rsync, lftp's mirror, git's refs and packs) leaves
/// the served file alone; one that writes a file in place would write through the link into the served revision. So
/// the files known to be rewritten in place (`CommandProvider.copiedInPlace`: git's `FETCH_HEAD`, its reflogs) are
/// real copies, and after the run any served file still shared with the build whose inode changed (its change time
/// is later than the link's) is named: the run fails and nothing is published.
struct CommandBuildTree: Sendable {
    let base: String
    let build: String
    /// The time once the build was made: every link's change time is at or before it.
    let linkedAt: timespec

    /// Copies `base` into the empty `build` as hard links, with real copies of the files that `copying` (shell
    /// patterns over the path from the tree's root, `*` crossing '/') names and are at most `copyLimit` bytes.
    static func prepare(base: String, build: String, copying patterns: [String], copyLimit: Int64 = 1 << 20)
        async -> Result<CommandBuildTree, CommandTreeError>
    {
        do {
            let result = try await Subprocess.run(
                .path(FilePath("/bin/cp")), arguments: ["-al", "--", base + "/.", build + "/"],
                environment: .custom(["PATH": "/usr/bin:/bin", "LC_ALL": "C"]), output: .discarded,
                error: .string(limit: 4096))
            guard case .exited(0) = result.terminationStatus else {
                return .failure(
                    CommandTreeError(
                        "cannot copy the served revision into the build as hard links: cp -al said \(result.standardError.trimmingCharacters(in: .whitespacesAndNewlines))"
                    ))
            }
        } catch {
            return .failure(CommandTreeError("cannot run /bin/cp -al: \(error)"))
        }
        let unshared = await Task.detached { unshare(in: build, matching: patterns, limit: copyLimit) }.value
        if let failure = unshared { return .failure(failure) }
        // The fine clock's time is at or after every change time the links got (the kernel takes them from its coarse
        // clock, or from the fine one where it hands out fine-grained ones). Waiting more than a tick of the coarse clock
        // makes whatever the program changes get a change time after `now`.
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        try? await Task.sleep(for: .milliseconds(25))
        return .success(CommandBuildTree(base: base, build: build, linkedAt: now))
    }

    /// Replaces the links that `patterns` name with copies of their files; the error of the first that fails.
    static func unshare(in build: String, matching patterns: [String], limit: Int64) -> CommandTreeError? {
        guard !patterns.isEmpty, let walker = FileManager.default.enumerator(atPath: build) else { return nil }
        var info = stat()
        while let relative = walker.nextObject() as? String {
            let path = build + "/" + relative
            guard patterns.contains(where: { fnmatch($0, relative, 0) == 0 }), lstat(path, &info) == 0,
                info.st_mode & S_IFMT == S_IFREG, info.st_nlink > 1, Int64(info.st_size) <= limit
            else { continue }
            let copy = path + ".mirrorsync-unshared"
            guard let data = FileManager.default.contents(atPath: path),
                FileManager.default.createFile(
                    atPath: copy, contents: data, attributes: [.posixPermissions: Int(info.st_mode & 0o7777)])
            else { return CommandTreeError("cannot copy \(relative) out of its hard link") }
            var times = [info.st_atim, info.st_mtim]
            _ = utimensat(AT_FDCWD, copy, &times, 0)
            guard rename(copy, path) == 0 else {
                return CommandTreeError(
                    "cannot put the copy of \(relative) in place: \(String(cString: strerror(errno)))")
            }
        }
        return nil
    }

    /// The files of the served revision, from its root, that the program changed in place through their links.
    func rewrittenInPlace() async -> [String] {
        let (base, build, linkedAt) = (self.base, self.build, self.linkedAt)
        return await Task.detached { () -> [String] in
            guard let walker = FileManager.default.enumerator(atPath: base) else { return [] }
            var found: [String] = []
            var served = stat()
            var built = stat()
            while let relative = walker.nextObject() as? String {
                guard lstat(base + "/" + relative, &served) == 0, served.st_mode & S_IFMT == S_IFREG,
                    lstat(build + "/" + relative, &built) == 0, built.st_ino == served.st_ino,
                    built.st_dev == served.st_dev
                else { continue }
                let changed =
                    served.st_ctim.tv_sec > linkedAt.tv_sec
                    || (served.st_ctim.tv_sec == linkedAt.tv_sec && served.st_ctim.tv_nsec > linkedAt.tv_nsec)
                if changed { found.append(relative) }
            }
            return found.sorted()
        }.value
    }

    /// How many entries other than directories `tree` holds, and the bytes of its regular files.
    static func measure(_ tree: String) async -> (files: Int, bytes: Int64) {
        await Task.detached {
            guard let walker = FileManager.default.enumerator(atPath: tree) else { return (0, 0) }
            var files = 0
            var bytes: Int64 = 0
            var info = stat()
            while let relative = walker.nextObject() as? String {
                guard lstat(tree + "/" + relative, &info) == 0, info.st_mode & S_IFMT != S_IFDIR else { continue }
                files += 1
                if info.st_mode & S_IFMT == S_IFREG { bytes += Int64(info.st_size) }
            }
            return (files, bytes)
        }.value
    }
}

/// Why a program's build could not be prepared.
struct CommandTreeError: Error, Sendable {
    var message: String
    init(_ message: String) { self.message = message }
}
