import Foundation

/// A five-field cron expression (`minute hour day-of-month month day-of-week`), as the seed's scheduler took.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists; months and weekdays also take
/// English three-letter names; `@hourly`, `@daily`, `@weekly`, `@monthly` and `@yearly` stand for their usual
/// expressions. As in Vixie cron, when both day fields are restricted a day matching either one fires.
public struct CronExpression: Sendable, Hashable, Codable, CustomStringConvertible {
    public static let pattern = "^ *(@[A-Za-z]+|[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+) *$"

    /// The expression in canonical spelling: single spaces, macros expanded.
    public let text: String
    public let minutes: UInt64
    public let hours: UInt32
    public let daysOfMonth: UInt32
    public let months: UInt16
    /// Sunday is 0 (7 is accepted as Sunday too).
    public let daysOfWeek: UInt8
    public let dayOfMonthRestricted: Bool
    public let dayOfWeekRestricted: Bool

    static let macros = [
        "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
    ]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public static func parse(_ input: String) throws(ValueError) -> CronExpression {
        let trimmed = input.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        let text = macros[trimmed.lowercased()] ?? trimmed
        let fields = text.split(separator: " ")
        guard fields.count == 5 else {
            throw ValueError(
                "cron expression '\(input)' has \(fields.count) fields; it needs 5: minute hour day-of-month month day-of-week"
            )
        }
        let minute = try field(fields[0], "minute", 0...59, names: [])
        let hour = try field(fields[1], "hour", 0...23, names: [])
        let dom = try field(fields[2], "day-of-month", 1...31, names: [])
        let month = try field(fields[3], "month", 1...12, names: monthNames, nameBase: 1)
        var dow = try field(fields[4], "day-of-week", 0...7, names: dayNames)
        if dow & (1 << 7) != 0 { dow = (dow | 1) & ~(1 << 7) }
        return CronExpression(
            text: text, minutes: minute, hours: UInt32(hour), daysOfMonth: UInt32(dom), months: UInt16(month),
            daysOfWeek: UInt8(dow), dayOfMonthRestricted: fields[2] != "*", dayOfWeekRestricted: fields[4] != "*")
    }

    private init(
        text: String, minutes: UInt64, hours: UInt32, daysOfMonth: UInt32, months: UInt16, daysOfWeek: UInt8,
        dayOfMonthRestricted: Bool, dayOfWeekRestricted: Bool
    ) {
        self.text = text
        self.minutes = minutes
        self.hours = hours
        self.daysOfMonth = daysOfMonth
        self.months = months
        self.daysOfWeek = daysOfWeek
        self.dayOfMonthRestricted = dayOfMonthRestricted
        self.dayOfWeekRestricted = dayOfWeekRestricted
    }

    /// One field as a bit set of the values it matches.
    private static func field(
        _ spec: Substring, _ name: String, _ range: ClosedRange<Int>, names: [String], nameBase: Int = 0
    ) throws(ValueError) -> UInt64 {
        func value(_ s: Substring) throws(ValueError) -> Int {
            if let i = names.firstIndex(of: s.lowercased()) { return i + nameBase }
            guard let n = Int(s), s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw ValueError("cron \(name) field '\(spec)': '\(s)' is not a number")
            }
            guard range.contains(n) else {
                throw ValueError(
                    "cron \(name) field '\(spec)': \(n) is outside \(range.lowerBound)-\(range.upperBound)")
            }
            return n
        }
        var bits: UInt64 = 0
        for part in spec.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw ValueError("cron \(name) field '\(spec)' has an empty list item") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw ValueError("cron \(name) field '\(spec)' has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0, s <= range.upperBound,
                    pieces[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
                else {
                    throw ValueError(
                        "cron \(name) field '\(spec)': step '\(pieces[1])' is not a number from 1 to \(range.upperBound)"
                    )
                }
                step = s
            }
            let lower: Int
            let upper: Int
            if pieces[0] == "*" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else if let dash = pieces[0].firstIndex(of: "-") {
                lower = try value(pieces[0][..<dash])
                upper = try value(pieces[0][pieces[0].index(after: dash)...])
                guard lower <= upper else {
                    throw ValueError("cron \(name) field '\(spec)': range \(lower)-\(upper) runs backwards")
                }
            } else {
                lower = try value(pieces[0])
                upper = pieces.count == 2 ? range.upperBound : lower
            }
            for v in stride(from: lower, through: upper, by: step) { bits |= 1 << UInt64(v) }
        }
        return bits
    }

    public var description: String { text }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try CronExpression.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}

extension CronExpression {
    /// Whether the expression fires on this calendar day (Vixie cron: with both day fields restricted, either matches).
    func matches(day: Int, month: Int, weekday: Int) -> Bool {
        guard months & (1 << UInt16(month)) != 0 else { return false }
        let domMatch = daysOfMonth & (1 << UInt32(day)) != 0
        let dowMatch = daysOfWeek & (1 << UInt8(weekday)) != 0
        if dayOfMonthRestricted && dayOfWeekRestricted { return domMatch || dowMatch }
        if dayOfMonthRestricted { return domMatch }
        if dayOfWeekRestricted { return dowMatch }
        return true
    }

    /// The first time after `date` at which the expression fires, read in `timeZone`; nil if none within eight years
    /// (`0 0 30 2 *` never fires).
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        // Whole minutes: the first candidate is the minute after `date`.
        guard var day = calendar.date(from: calendar.dateComponents([.year, .month, .day], from: date)) else {
            return nil
        }
        for _ in 0..<(366 * 8) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if let d = parts.day, let m = parts.month, let w = parts.weekday, matches(day: d, month: m, weekday: w - 1)
            {
                for hour in 0..<24 where hours & (1 << UInt32(hour)) != 0 {
                    for minute in 0..<60 where minutes & (1 << UInt64(minute)) != 0 {
                        var c = DateComponents()
                        c.year = parts.year
                        c.month = parts.month
                        c.day = parts.day
                        c.hour = hour
                        c.minute = minute
                        // A time that the clocks skip (a DST gap) is not a firing time.
                        guard let candidate = calendar.date(from: c),
                            calendar.component(.hour, from: candidate) == hour, candidate > date
                        else { continue }
                        return candidate
                    }
                }
            }
            guard let following = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = following
        }
        return nil
    }
}

extension IntervalSpec {
    /// When a project on this interval runs next, given when its last run started.
    ///
    /// `every` adds the period and a share of the jitter that depends only on `seed` and the last start, so that
    /// the same history always gives the same answer: a restart neither moves a run nor repeats one.
    public func nextRun(after lastStart: Date, seed: String) -> Date? {
        if let every {
            var offset = 0.0
            if let jitter, jitter.seconds > 0 {
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                for byte in "\(seed)@\(Int(lastStart.timeIntervalSince1970))".utf8 {
                    hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
                }
                offset = Double(hash % UInt64(jitter.seconds * 1000)) / 1000
            }
            return lastStart.addingTimeInterval(TimeInterval(every.seconds) + offset)
        }
        if let cron {
            return cron.next(
                after: lastStart, in: TimeZone(identifier: timezone ?? "UTC") ?? TimeZone(identifier: "UTC")!)
        }
        return nil
    }
}
