import Foundation
import MirrorCore
import MirrorHTTP
import MirrorPresentation
import MirrorProcess
import Subprocess
#if canImport(Glibc)
    import Glibc
#endif
#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// A notification that did not go out: why, in words the log and the outbox keep.
struct NotifyFailure: Error, Sendable {
    var message: String
}

/// How the master's notifications leave it: a signed POST through the process's one HTTP client, or a mail through
/// the host's sendmail (`PROGRAM -t -oi`, argv, never a shell; the message on its standard input).
struct NotificationSenders: Sendable {
    /// `--sendmail`.
    let sendmail: String
    /// Where a message waits for sendmail to read it: a file made, unlinked and handed over as its standard input.
    let spool: String
    /// How long sendmail may take before its process group is stopped.
    let sendmailTimeout: Duration
    /// Where a webhook's secret file may be read from, for the settings' root.
    let secrets: @Sendable (_ root: String) -> SecretFileRules

    /// POSTs `events` to `hook`, signed under its secret file's secret, read now.
    func webhook(
        _ hook: WebhookTarget, name: String, root: String, site: String, delivery: String, events: [NotifyEvent],
        at now: Date
    ) async throws(NotifyFailure) {
        let secret: String
        do throws(SecretRefusal) {
            secret = try secrets(root).read(hook.secretFile, field: "notify.webhooks.\(name).secretFile")
        } catch {
            throw NotifyFailure(message: error.message + (error.detail.map { " (\($0))" } ?? ""))
        }
        guard !secret.isEmpty else {
            throw NotifyFailure(message: "notify.webhooks.\(name).secretFile \(hook.secretFile) is empty")
        }
        let body = NotificationText.webhookBody(site: site, delivery: delivery, events: events, sentAt: now)
        do throws(APICallFailure) {
            _ = try await APIClient.postWebhook(
                hook.url, body: body,
                headers: [
                    ("X-Mirrorsync-Signature", NotificationText.signature(body, secret: secret)),
                    ("X-Mirrorsync-Delivery", delivery),
                ], timeout: TimeInterval(hook.timeout.seconds))
        } catch {
            throw NotifyFailure(message: "POST \(hook.url): \(error.reason)")
        }
    }

    /// Hands `message` to sendmail; it succeeded when sendmail exits 0.
    func mail(_ message: [UInt8]) async throws(NotifyFailure) {
        // The message is sendmail's standard input as a file, not a pipe the agent writes: a sendmail that exits
        // before it reads leaves nothing half-written here.
        let input = try Self.spooled(message, in: spool)
        defer { close(input) }
        var platform = PlatformOptions()
        platform.processGroupID = 0
        let options = platform
        let stopper = ProcessGroupStopper(grace: .seconds(5))
        let deadline = stopper.stop(after: sendmailTimeout)
        defer { deadline.cancel() }
        let environment = HookRunner.baseEnvironment.reduce(into: [Environment.Key: String]()) {
            $0[Environment.Key(stringLiteral: $1.key)] = $1.value
        }
        let program = sendmail
        var failure: String?
        do {
            let result = try await withTaskCancellationHandler {
                try await Subprocess.run(
                    .path(FilePath(program)), arguments: ["-t", "-oi"], environment: .custom(environment),
                    platformOptions: options,
                    input: .fileDescriptor(FileDescriptor(rawValue: input), closeAfterSpawningProcess: false),
                    output: .discarded, error: .sequence
                ) { execution in
                    stopper.started(execution.processIdentifier.value)
                    var last: String?
                    for try await line in execution.standardError.strings() where !line.isEmpty { last = line }
                    return last
                }
            } onCancel: {
                stopper.stop()
            }
            if case .exited(0) = result.terminationStatus {
            } else {
                let said = result.closureResult.map { ": \($0)" } ?? ""
                failure = "\(program) ended with \(result.terminationStatus)\(said)"
            }
        } catch {
            failure = "cannot run \(program): \(error)"
        }
        deadline.cancel()
        await stopper.waitForGroup(endingStragglers: true)
        if deadline.fired { failure = "\(program) did not finish within \(sendmailTimeout)" }
        if let failure { throw NotifyFailure(message: failure) }
    }

    /// `bytes` in an unlinked file in `directory`, read from its start.
    static func spooled(_ bytes: [UInt8], in directory: String) throws(NotifyFailure) -> Int32 {
        var template = Array((directory + "/mail.XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw NotifyFailure(message: "cannot spool a mail in \(directory): \(String(cString: strerror(errno)))")
        }
        unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw NotifyFailure(message: "cannot spool a mail in \(directory): \(reason)")
            }
            written += n
        }
        lseek(fd, 0, SEEK_SET)
        return fd
    }
}
