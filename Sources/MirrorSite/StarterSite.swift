import Foundation
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// What `mirrorsync init` writes: a commented, valid `mirrors.d` for one host (the master, and one slave that serves
/// the public tree), ready for `mirrorsync up`, with the JSON Schema beside it for editors.
public struct StarterSite: Sendable {
    /// Where `up` keeps the agents' stores and the token (absolute).
    public var stateDirectory: String
    /// The master's tree (absolute).
    public var root: String
    /// The public tree the local slave serves (absolute).
    public var publicDir: String
    public var masterPort = 7070
    public var slavePort = 7071
    public var rsyncdPort = 8730

    public init(stateDirectory: String, root: String, publicDir: String) {
        self.stateDirectory = stateDirectory
        self.root = root
        self.publicDir = publicDir
    }

    /// The schema file's name inside the directory: not `*.yaml`, so the loader does not read it.
    public static let schemaFileName = "mirrors.schema.json"

    /// The files, by name, in the order they are written.
    public var files: [(name: String, text: String)] {
        let schemaLine = "# yaml-language-server: $schema=\(Self.schemaFileName)\n"
        return [
            (
                "00-master.yaml",
                schemaLine + """
                    # The master: it pulls every project from its upstream into root, and serves the slaves with its own
                    # rsync daemon. `mirrorsync up` runs it here because its API is on this host.
                    master:
                      api: http://127.0.0.1:\(masterPort)
                      # The operator's token (reconcile and the CLI): `mirrorsync up` makes it (mode 0600) if it does not
                      # exist, and gives each agent a credential of its own beside its store (docs/security.md).
                      tokenFile: \(quoted(stateDirectory + "/token"))
                      # The master's tree: each project lives at ROOT/PATH.
                      root: \(quoted(root))
                      rsyncd:
                        address: 127.0.0.1                 # 0.0.0.0 once the slaves are other hosts
                        port: \(rsyncdPort)                       # 873 is rsync's usual port, for a daemon run as root
                      maxConcurrentSyncs: 2
                      publicStatus: false                  # true: GET /v1/status answers without the token

                    """
            ),
            (
                "10-intervals.yaml",
                schemaLine + """
                    # Named schedules the projects refer to. Upstreams ask their mirrors not to sync all at the same
                    # minute: give the periodic ones a jitter.
                    intervals:
                      every-6h: { every: 6h, jitter: 20m }
                      # hourly: { every: 1h }
                      # nightly: { cron: "30 2 * * *", timezone: UTC }   # cron-style, in a time zone

                    """
            ),
            (
                "20-upstreams.yaml",
                schemaLine + """
                    # Where projects come from: an rsync module (rsync://HOST/MODULE/) or an absolute local path.
                    upstreams:
                      gnu:
                        url: rsync://ftp.gnu.org/gnu/
                        timeout: 2h                        # the longest a run may take
                      # partner:                           # a module that needs a login
                      #   url: rsync://mirror@rsync.partner.example/pub/
                      #   passwordFile: /etc/mirrorsync/partner.secret   # the password's file, never the password
                      #   bandwidthLimit: 20MiB
                      # linux-git:                         # a program instead of rsync (docs/providers.md): the
                      #   command: [/usr/share/mirrorsync/providers/git-mirror]   # master runs it inside --allow-exec
                      #   url: https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git
                      #   # and its project: publish: atomic, so an emptied upstream publishes nothing

                    """
            ),
            (
                "30-slaves.yaml",
                schemaLine + """
                    # The public hosts: each pulls the projects it serves from the master's rsync daemon into its
                    # publicDir, which your web or FTP server publishes. This one is on this host too.
                    slaves:
                      www:
                        api: http://127.0.0.1:\(slavePort)
                        # The tree your web or FTP server publishes.
                        publicDir: \(quoted(publicDir))
                      # ftp2:                              # another host: run `mirrorsync slave` there
                      #   api: http://ftp2.example.org:7071
                      #   publicDir: /srv/ftp/pub
                      #   trace:                           # its Debian trace files, as ftpsync's settings say it
                      #     host: ftp2.example.org         # the public name project/trace/HOST is named after
                      #     maintainer: "Mirror admins <mirror@example.org>"
                      #     country: DE                    # and sponsor, location, throughput

                    """
            ),
            (
                "40-projects.yaml",
                schemaLine + """
                    # The trees this site mirrors. Add one, save, and `mirrorsync up` applies it within a second.
                    projects:
                      gnu-hello:                           # GNU Hello: a small tree to start with
                        upstream: gnu
                        source: hello/                     # the path inside the upstream (default: all of it)
                        path: gnu/hello                    # under root and every publicDir (default: the name)
                        interval: every-6h
                        slaves: all                        # or a list of slave names; [] for the master only
                        exclude: ["*.tmp"]
                        maxDelete: 10%                     # a sync that would delete more stops, deleting nothing
                      # debian:                            # an apt archive, synced in two passes as ftpsync does
                      #   upstream: debian                 # (define it under upstreams: first)
                      #   interval: every-6h
                      #   twoStage: ["Packages*", "Sources*", "Release*", "InRelease", "Contents-*", "i18n/*"]
                      #   rsyncOptions: ["--no-owner", "--no-group", "--chmod=D755,F644"]
                      #   suspended: true                  # keeps its files, runs no sync

                    """
            ),
        ]
    }

    /// A path as a YAML double-quoted string, whatever it holds.
    func quoted(_ path: String) -> String {
        "\"" + path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Writes every file into `directory` (made if missing), and the schema beside them; refuses, before writing
    /// anything, when one of them exists. Returns the paths written.
    public func write(into directory: String) throws(ValueError) -> [String] {
        try SiteDirectory.make(directory, mode: 0o755)
        let all = files + [(Self.schemaFileName, ConfigSchema.json)]
        let existing = all.map { directory + "/" + $0.name }.filter { FileManager.default.fileExists(atPath: $0) }
        guard existing.isEmpty else {
            throw ValueError(
                "\(existing.joined(separator: ", ")) already exist\(existing.count == 1 ? "s" : ""); init writes nothing over a file"
            )
        }
        var written: [String] = []
        for (name, text) in all {
            let path = directory + "/" + name
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ValueError("cannot create \(path): \(String(cString: strerror(errno)))") }
            let bytes = Array(text.utf8)
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard count == bytes.count else {
                throw ValueError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            written.append(path)
        }
        return written
    }
}
