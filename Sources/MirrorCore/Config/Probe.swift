import Foundation

/// A project's probe: a small file inside its tree on the upstream (`project/trace/master`), fetched alone before a
/// scheduled run to learn whether the upstream changed since the last successful one.
public enum Probe {
    /// A probe is a path inside the tree, checked as every path there is (`MirrorPath`), and names one file.
    public static func check(_ text: String) throws(ValueError) -> String {
        if text.hasSuffix("/") { throw ValueError("'\(text)' ends in '/'; a probe names one file, not a directory") }
        return try MirrorPath.normalize(text)
    }

    /// Where a program upstream's probe is fetched from: its `url` (http or https) with the probe's path below it;
    /// nil for any other address, which cannot be probed.
    public static func httpURL(upstream url: String, probe: String) -> URL? {
        guard let base = URLComponents(string: url), let scheme = base.scheme?.lowercased(),
            scheme == "http" || scheme == "https", base.host?.isEmpty == false
        else { return nil }
        let text = url.hasSuffix("/") ? url + probe : url + "/" + probe
        return URL(string: text)
    }
}
