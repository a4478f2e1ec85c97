/// Durations as policy files write them: a whole number and one unit, `250ms`, `30s`, `5m`, `1h`.
/// Compound forms (`1h30m`) and fractions are refused: one way to write each value keeps diffs honest.
public enum PolicyDuration {
    public static func parse(_ text: String) -> Duration? {
        let units: [(suffix: String, seconds: Int64, isMilliseconds: Bool)] = [
            ("ms", 0, true), ("s", 1, false), ("m", 60, false), ("h", 3600, false),
        ]
        for unit in units where text.hasSuffix(unit.suffix) {
            let number = text.dropLast(unit.suffix.count)
            guard !number.isEmpty, number.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  number.count <= 9, let value = Int64(number)
            else { return nil }
            return unit.isMilliseconds ? .milliseconds(value) : .seconds(value * unit.seconds)
        }
        return nil
    }

    /// The shortest policy spelling of `duration` (`1500ms`, `30s`, `5m`), for /policies and messages.
    public static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 3_600_000 == 0, milliseconds > 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0, milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}
