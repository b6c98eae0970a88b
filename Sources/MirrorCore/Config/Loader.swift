import Dispatch
import Synchronization
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The desired state could not be built; `diagnostics` says every reason, sorted by file, line and column.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics.sorted(by: Diagnostic.inSourceOrder) }

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A valid desired state, and the warnings found on the way.
public struct LoadedConfig: Sendable {
    public var state: DesiredState
    public var warnings: [Diagnostic]
}

/// Loads `mirrors.d/`: every `*.yaml` / `*.yml` in lexical order, merged and validated as one desired state.
///
/// All or nothing: one error anywhere means no desired state at all, so that nothing is applied half-way.
public struct DesiredStateLoader: Sendable {
    public var reader: YAMLReader
    /// Whether files are read and decoded on every core; the checks that span files run after, in file order.
    public var parallel: Bool
    /// The files decoded by the last load, for a caller that loads the same directory again and again (the watch
    /// loop): a file whose bytes did not change is not decoded again. Every file is still read, and the checks that
    /// span files run over all of them.
    public var decodedFiles: DecodedFiles?

    public init(reader: YAMLReader = YAMLReader(), parallel: Bool = true) {
        self.reader = reader
        self.parallel = parallel
    }

    public static let topLevelKeys = [
        "master", "tls", "intervals", "upstreams", "slaves", "projects", "site", "defaults", "notify",
    ]

    /// Whether a directory entry is a config file: `*.yaml` or `*.yml`, not hidden, not an editor's leftover.
    public static func isConfigFileName(_ name: String) -> Bool {
        guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { return false }
        return !(name.hasPrefix(".") || name.hasPrefix("#") || name.hasSuffix("~"))
    }

    /// The config files of `directory`, in lexical (byte) order.
    public static func configFiles(in directory: String) throws(ConfigError) -> [String] {
        var info = stat()
        guard stat(directory, &info) == 0 else {
            let reason = errno == ENOENT ? "no such directory" : String(cString: strerror(errno))
            throw ConfigError([
                Diagnostic(file: directory, code: "no-directory", message: "cannot read the desired state: \(reason)")
            ])
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ConfigError([
                Diagnostic(
                    file: directory, code: "not-a-directory",
                    message: "is not a directory; give the directory that holds the *.yaml files (such as mirrors.d)")
            ])
        }
        guard let dir = opendir(directory) else {
            throw ConfigError([
                Diagnostic(
                    file: directory, code: "unreadable",
                    message: "cannot list the directory: \(String(cString: strerror(errno)))")
            ])
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard isConfigFileName(name) else { continue }
            let path = join(directory, name)
            // A subdirectory named like a file is ignored, as any subdirectory is; links to files count.
            var fileInfo = stat()
            if stat(path, &fileInfo) == 0 && fileInfo.st_mode & S_IFMT == S_IFDIR { continue }
            names.append(name)
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { join(directory, $0) }
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Reads a whole file; the reason for a failure comes from the system.
    public static func readFile(_ path: String) throws(ValueError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValueError("cannot read the file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var info = stat()
        if fstat(fd, &info) == 0 { bytes.reserveCapacity(Int(info.st_size)) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ValueError("cannot read the file: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        return bytes
    }

    /// Loads and validates every config file of `directory`.
    public func load(directory: String) throws(ConfigError) -> LoadedConfig {
        let paths = try Self.configFiles(in: directory)
        guard !paths.isEmpty else {
            throw ConfigError([
                Diagnostic(
                    file: directory, code: "no-files",
                    message: "holds no *.yaml or *.yml files; the desired state needs at least a 'master'")
            ])
        }
        let known = decodedFiles?.files() ?? [:]
        let read = forEachFile(paths.count) { i -> (bytes: [UInt8]?, objects: FileObjects) in
            do throws(ValueError) {
                let bytes = try Self.readFile(paths[i])
                if let kept = known[paths[i]], kept.bytes == bytes { return kept }
                return (bytes, decode(bytes, file: paths[i]))
            } catch {
                // Not kept: the next load reads it again.
                return (
                    nil,
                    FileObjects(
                        path: paths[i],
                        diagnostics: [Diagnostic(file: paths[i], code: "unreadable", message: error.message)])
                )
            }
        }
        decodedFiles?.keep(
            Dictionary(
                zip(paths, read).compactMap { path, file in
                    file.bytes.map { (path, (bytes: $0, objects: file.objects)) }
                },
                uniquingKeysWith: { _, last in last }))
        return try assemble(read.map(\.objects), directory: directory)
    }

    /// Loads and validates files already in memory; `directory` names the whole for directory-level findings.
    public func load(files: [(path: String, bytes: [UInt8])], directory: String) throws(ConfigError) -> LoadedConfig {
        try assemble(
            forEachFile(files.count) { i in decode(files[i].bytes, file: files[i].path) }, directory: directory)
    }

    /// Runs `body` for every file, on every core when there are enough files to pay for it; results keep file order.
    func forEachFile<Result: Sendable>(_ count: Int, _ body: @Sendable (Int) -> Result) -> [Result] {
        guard parallel && count >= 4 else { return (0..<count).map(body) }
        let results = Mutex([Result?](repeating: nil, count: count))
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let objects = body(i)
            results.withLock { $0[i] = objects }
        }
        return results.withLock { $0.map { $0! } }
    }

    /// Reads one file and decodes each object in it on its own; what spans files waits for `assemble`.
    func decode(_ bytes: [UInt8], file: String) -> FileObjects {
        let result = reader.read(bytes, file: file)
        var objects = FileObjects(path: file, diagnostics: result.diagnostics)
        if let root = result.root { objects.decode(root) }
        return objects
    }

    func assemble(_ files: [FileObjects], directory: String) throws(ConfigError) -> LoadedConfig {
        var assembly = Assembly(directory: directory)
        for file in files { assembly.add(file) }
        return try assembly.finish(files: files.map(\.path))
    }
}
