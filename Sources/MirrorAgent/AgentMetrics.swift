import Foundation
import Metrics
import MirrorCore
import Prometheus

/// An agent's metrics, through swift-metrics into a Prometheus registry of the agent's own, so that several
/// agents in one process (as in tests) never share counters. Labels are project names and results only:
/// never a token, a URL or a path.
public final class AgentMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// Records a finished run.
    public func record(_ run: RunRecord) {
        let result = run.result?.rawValue ?? "unknown"
        Counter(
            label: "mirrorsync_runs_total", dimensions: [("project", run.project), ("result", result)], factory: factory
        ).increment()
        if let start = run.startedAt, let end = run.endedAt {
            Timer(label: "mirrorsync_run_duration_seconds", dimensions: [("project", run.project)], factory: factory)
                .recordSeconds(max(0, end.timeIntervalSince(start)))
        }
        if let bytes = run.bytesTransferred, bytes > 0 {
            Counter(
                label: "mirrorsync_transferred_bytes_total", dimensions: [("project", run.project)], factory: factory
            ).increment(by: Int(bytes))
        }
        if let files = run.filesTransferred, files > 0 {
            Counter(
                label: "mirrorsync_transferred_files_total", dimensions: [("project", run.project)], factory: factory
            ).increment(by: files)
        }
        if run.result == .unchanged {
            Counter(
                label: "mirrorsync_project_unchanged_runs_total", dimensions: [("project", run.project)],
                factory: factory
            ).increment()
        }
        // The last success's time is read off the state when scraped (AlertMetrics), so that it survives a restart.
        if run.result?.isSuccess == true, let bytes = run.bytesTotal { record(size: bytes, of: run.project) }
    }

    /// A project's tree's size in bytes after its last success (rsync's "Total file size").
    public func record(size bytes: Int64, of project: String) {
        Gauge(label: "mirrorsync_project_size_bytes", dimensions: [("project", project)], factory: factory).record(
            Double(bytes))
    }

    /// A full walk of a slave's tree found what its change lists had not said (`ChangeFeed.drift`).
    public func recordDrift(of project: String) {
        Counter(label: "mirrorsync_project_drift_total", dimensions: [("project", project)], factory: factory)
            .increment()
    }

    /// Runs in progress, and projects held.
    public func set(running: Int, projects: Int) {
        Gauge(label: "mirrorsync_runs_in_progress", factory: factory).record(running)
        Gauge(label: "mirrorsync_projects", factory: factory).record(projects)
    }

    /// The Prometheus text format, for `GET /metrics`.
    public func render() -> String { registry.emitToString() }
}
