import Foundation

/// Sizes in words. In the core, not with the status page: `mirrorsync status` and `sync --wait` print them too.
public enum SizeText {
    /// A size as people read it everywhere mirrorsync shows one (the status page, `mirrorsync status`, `sync --wait`,
    /// mirrorz.json): powers of 1024 with their IEC names and three significant digits, `512 B`, `8.40 KiB`,
    /// `900 KiB`, `1.56 MiB`, `15.6 GiB`, `1.50 TiB`; a value that would round to 1024 of its unit is written in the
    /// next (`1.00 MiB`).
    public static func human(_ bytes: Int64) -> String {
        guard bytes >= 1024 else { return "\(max(0, bytes)) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if value.rounded() >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        // The decimals by the value as printed, so that 9.996 reads `10.0` and not `10.00`.
        let digits = value < 9.995 ? 2 : value < 99.95 ? 1 : 0
        return String(format: "%.\(digits)f", value) + " " + units[unit]
    }

    /// A size as `rsync --stats -h` prints its "Total file size", which is what tunasync's worker reports for an rsync
    /// job, and so what tunasync's `/jobs` carries: under 1000 bytes the number itself; above, powers of 1000 with two
    /// decimals (`1.00K`, `100.00K`, `1.50M`, `1.23G`, `1.50T`).
    public static func rsync(_ bytes: Int64) -> String {
        guard bytes >= 1000 else { return String(max(0, bytes)) }
        let units: [String] = ["K", "M", "G", "T", "P", "E"]
        var value = Double(bytes) / 1000
        var unit = 0
        // The unit is chosen before rounding, as rsync does: 999,999 bytes are 999.999K, printed "1000.00K".
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: "%.2f", value) + units[unit]
    }
}
