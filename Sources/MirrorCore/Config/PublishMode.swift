import Foundation

/// How a sync makes its tree public.
public enum PublishMode: String, Sendable, Hashable, Codable, WordChoice {
    /// rsync updates the served tree where it stands (index files last, with `twoStage`).
    case inPlace
    /// Each sync builds a new revision beside the served one (unchanged files hard-linked) and publishes it with one
    /// rename of a symbolic link: a reader sees one whole revision at every moment.
    case atomic

    public static let what = "a way to publish"
}
