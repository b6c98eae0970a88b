/// The mirror site as people see it, from `site:` in mirrors.d: what `GET /mirrorz.json` says of the site.
///
/// The fields are mirrorz's `site` object (data format 1.7); only `url` and `abbr` are required there. mirrors.d
/// writes them in its own camelCase (`logoDarkmode` for mirrorz's `logo_darkmode`); the master holds them in its
/// settings.
public struct SiteSpec: Sendable, Hashable, Codable {
    /// The site's address, such as `https://mirrors.example.org`, without a trailing `/`: every project's `url` in
    /// mirrorz.json is a path under it.
    public var url: String
    /// A short name, such as `EXAMPLE`.
    public var abbr: String
    public var name: String?
    public var logo: String?
    public var logoDarkmode: String?
    public var homepage: String?
    public var issue: String?
    public var request: String?
    public var email: String?
    public var group: String?
    public var disk: String?
    public var note: String?
    /// A big file for speed tests, such as `/speedtest/1000mb.bin`.
    public var big: String?
    /// The site is out of service: mirrorz marks it disabled and redirects nobody to it.
    public var disable: Bool?

    public init(
        url: String, abbr: String, name: String? = nil, logo: String? = nil, logoDarkmode: String? = nil,
        homepage: String? = nil, issue: String? = nil, request: String? = nil, email: String? = nil,
        group: String? = nil,
        disk: String? = nil, note: String? = nil, big: String? = nil, disable: Bool? = nil
    ) {
        self.url = url
        self.abbr = abbr
        self.name = name
        self.logo = logo
        self.logoDarkmode = logoDarkmode
        self.homepage = homepage
        self.issue = issue
        self.request = request
        self.email = email
        self.group = group
        self.disk = disk
        self.note = note
        self.big = big
        self.disable = disable
    }

    /// The optional text fields, by their key in mirrors.d; `link` ones hold a path on the site or a whole URL, the
    /// others free text.
    public static let optionalFields: [(key: String, path: WritableKeyPath<SiteSpec, String?> & Sendable, link: Bool)] =
        [
            ("name", \.name, false), ("logo", \.logo, true), ("logoDarkmode", \.logoDarkmode, true),
            ("homepage", \.homepage, true),
            ("issue", \.issue, true), ("request", \.request, true), ("email", \.email, false),
            ("group", \.group, false),
            ("disk", \.disk, false), ("note", \.note, false), ("big", \.big, true),
        ]

    /// The keys of `site:`, in mirrors.d's spelling.
    public static let keys = ["url", "abbr"] + optionalFields.map(\.key) + ["disable"]
}
