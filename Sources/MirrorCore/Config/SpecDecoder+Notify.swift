// `notify:`: the site's webhooks, mail and per-project routes, in mirrors.d and in the master's settings alike.
extension SpecDecoder {
    /// `notify:`, and where each route's project is named (the loader checks that the project exists).
    public mutating func notify(_ node: YAMLNode, at mark: SourceMark? = nil) -> (
        spec: NotifySpec, routes: [String: SourceMark]
    )? {
        let what = Subject("notify")
        guard let f = fields(node, what: what, known: NotifySpec.keys, at: mark) else { return nil }
        let errorsBefore = diagnostics.all.count
        var spec = NotifySpec()
        spec.webhooks = named(f, "webhooks", kind: "webhook") { decoder, node, name, mark in
            decoder.webhook(node, name: name, at: mark)
        }
        spec.mail = named(f, "mail", kind: "mail target") { decoder, node, name, mark in
            decoder.mailTarget(node, what: Subject("notify's mail target", name), at: mark)
        }
        var routeMarks: [String: SourceMark] = [:]
        spec.routes = named(f, "routes", kind: "route", marks: &routeMarks) { decoder, node, name, mark in
            decoder.mailTarget(node, what: Subject("notify's route for project", name), at: mark)
        }
        spec.from = optional(f, "from") { text, _ throws(ValueError) in try MailAddress.check(text) }
        for (key, path) in [
            ("checkEvery", \NotifySpec.checkEvery), ("unreachableAfter", \.unreachableAfter),
            ("behindAfter", \.behindAfter),
        ] {
            if let span = optional(f, key, { text, _ throws(ValueError) in try TimeSpan.parse(text) }) {
                spec[keyPath: path] = span
            }
        }
        spec.maxPerHour = integer(f, "maxPerHour", in: NotifySpec.maxPerHourRange) ?? spec.maxPerHour
        guard diagnostics.all.count == errorsBefore else { return nil }
        return (spec, routeMarks)
    }

    mutating func webhook(_ node: YAMLNode, name: String, at mark: SourceMark) -> WebhookTarget? {
        let what = Subject("notify's webhook", name)
        guard let f = fields(node, what: what, known: WebhookTarget.keys, at: mark) else { return nil }
        let url = required(f, "url") { text, _ throws(ValueError) in try AgentURL.normalize(text) }
        let secretFile = required(f, "secretFile") { text, _ throws(ValueError) in try AbsolutePath.normalize(text) }
        let severity = optional(f, "severity") { text, _ throws(ValueError) in try NotifySeverity.parse(text) }
        let timeout = optional(f, "timeout") { text, _ throws(ValueError) in
            let span = try TimeSpan.parse(text)
            guard span.seconds <= 300 else { throw ValueError("'\(text)' is longer than 5m; a webhook answers sooner") }
            return span
        }
        guard let url, let secretFile else { return nil }
        return WebhookTarget(
            url: url, secretFile: secretFile, severity: severity ?? .warning,
            timeout: timeout ?? WebhookTarget.defaultTimeout)
    }

    mutating func mailTarget(_ node: YAMLNode, what: Subject, at mark: SourceMark) -> MailTarget? {
        guard let f = fields(node, what: what, known: MailTarget.keys, at: mark) else { return nil }
        let errorsBefore = diagnostics.all.count
        let severity = optional(f, "severity") { text, _ throws(ValueError) in try NotifySeverity.parse(text) }
        guard f["to"] != nil else {
            diagnostics.error(f.mark, "missing-key", "\(what) has no 'to', which it needs", field: "to")
            return nil
        }
        let to = list(f, "to") { text throws(ValueError) in try MailAddress.check(text) } ?? []
        if to.isEmpty, diagnostics.all.count == errorsBefore, let entry = f["to"] {
            diagnostics.error(
                entry.value.mark, "invalid-value", "\(what): to: name at least one address", field: "to")
        }
        guard diagnostics.all.count == errorsBefore else { return nil }
        return MailTarget(to: to, severity: severity ?? .warning)
    }

    /// A mapping of names (each an object name) to objects read by `each`.
    mutating func named<T>(
        _ f: Fields, _ key: String, kind: String, each: (inout SpecDecoder, YAMLNode, String, SourceMark) -> T?
    ) -> [String: T] {
        var marks: [String: SourceMark] = [:]
        return named(f, key, kind: kind, marks: &marks, each: each)
    }

    mutating func named<T>(
        _ f: Fields, _ key: String, kind: String, marks: inout [String: SourceMark],
        each: (inout SpecDecoder, YAMLNode, String, SourceMark) -> T?
    ) -> [String: T] {
        guard let entry = f[key] else { return [:] }
        if let s = entry.value.scalar, s.isNull { return [:] }
        guard entry.value.isMapping else {
            diagnostics.error(
                entry.value.mark, "invalid-type",
                "\(f.what): \(key): expected a mapping of \(kind) names to their specs, got \(entry.value.kindName)",
                field: key)
            return [:]
        }
        var out: [String: T] = [:]
        for item in entry.value.entries(notIn: []) {
            do throws(ValueError) {
                try ObjectName.validate(item.key)
            } catch {
                diagnostics.error(
                    item.keyMark, "invalid-name", "\(f.what): \(key): invalid \(kind) name: \(error.message)",
                    field: key)
                continue
            }
            marks[item.key] = item.keyMark
            if let value = each(&self, item.value, item.key, item.keyMark) { out[item.key] = value }
        }
        return out
    }
}
