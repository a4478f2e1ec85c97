import Core

/// Durations of the command line: `ms`, `s`, `m`, `h` as in policies, plus `d` for days.
enum ControlDuration {
    static func milliseconds(_ text: String) -> Int64? {
        if text.hasSuffix("d"), let days = Int64(text.dropLast()), days > 0, days <= 3650 { return days * 86_400_000 }
        guard let duration = PolicyDuration.parse(text) else { return nil }
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
