import Foundation

/// A size as `rsync --stats -h` prints its "Total file size", which is what tunasync reports for an rsync job:
/// under 1000 bytes the number itself; above, powers of 1000 with two decimals (`1.00K`, `100.00K`, `1.50M`,
/// `1.23G`, `1.50T`). In the core, not with the status page: `mirrorsync status` and `sync --wait` print sizes so too.
public enum SizeText {
    public static func human(_ bytes: Int64) -> String {
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
