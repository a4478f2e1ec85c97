/// A refill rate, `N/s`, `N/m`, `N/h` or `N/d`: N tokens per window.
public struct Rate: Sendable, Hashable, CustomStringConvertible {
    public enum Unit: String, Sendable, Hashable, CaseIterable {
        case second = "s", minute = "m", hour = "h", day = "d"

        public var seconds: Int {
            switch self {
            case .second: 1
            case .minute: 60
            case .hour: 3600
            case .day: 86400
            }
        }
    }

    /// Largest N accepted: keeps token arithmetic exact in Lua's doubles and in Int64 milli-tokens.
    public static let maximumTokens = 1_000_000_000

    public let tokens: Int
    public let unit: Unit

    public init(tokens: Int, unit: Unit) {
        precondition(tokens > 0 && tokens <= Self.maximumTokens, "rate out of range")
        self.tokens = tokens
        self.unit = unit
    }

    /// Parses `10/s`; nil for anything else (zero, signs, spaces, other units).
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let unit = Unit(rawValue: String(parts[1])),
              !parts[0].isEmpty, parts[0].count <= 10,
              parts[0].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let tokens = Int(parts[0]), tokens > 0, tokens <= Self.maximumTokens
        else { return nil }
        self.init(tokens: tokens, unit: unit)
    }

    /// The window in seconds (`w` of the IETF RateLimit-Policy field).
    public var windowSeconds: Int { unit.seconds }

    public var tokensPerSecond: Double { Double(tokens) / Double(unit.seconds) }

    public var description: String { "\(tokens)/\(unit.rawValue)" }
}
