import Foundation
import Logging
import MirrorCore
import ServiceLifecycle

/// A slave asks the master for the latest revisions when it starts, when its projects change, and every
/// `interval` after; every project it is behind on is pulled. Until the master answers, it asks again with backoff.
struct CatchUpService: Service {
    let scheduler: SyncScheduler
    let peers: PeerClient
    let clock: any AgentClock
    let interval: TimeInterval
    let retryBase: TimeInterval
    let retryMax: TimeInterval
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await loop() }
    }

    func loop() async {
        var failures = 0
        while !Task.isCancelled {
            var wait = interval
            if let master = await scheduler.currentSettings().settings?.master {
                do throws(PeerError) {
                    let revisions = try await peers.revisions(master)
                    let queued = await scheduler.follow(revisions: revisions.projects)
                    if failures > 0 { logger.notice("the master answers again", metadata: ["master": "\(master)"]) }
                    failures = 0
                    if !queued.isEmpty {
                        logger.info(
                            "catching up with the master", metadata: ["projects": "\(queued.joined(separator: ","))"])
                    }
                } catch {
                    failures += 1
                    wait = Backoff.delay(after: failures, base: retryBase, max: retryMax)
                    logger.warning(
                        "cannot ask the master for its revisions; asking again",
                        metadata: [
                            "error": "\(error.message)", "retryIn": "\(String(format: "%.1f", wait))s",
                        ])
                }
            }
            await WakeSignal.first(
                of: [scheduler.projectsChanged], orUntil: clock.now().addingTimeInterval(wait), on: clock)
        }
    }
}
