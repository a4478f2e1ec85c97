/// The token bucket of a limit, computed as GCRA (the generic cell rate algorithm): the whole state is
/// one number, the bucket's theoretical arrival time (`tat`, microseconds). A bucket with `tat ≤ now`
/// is full; each request moves `tat` forward by `cost × interval`, and is admitted when the bucket
/// then holds no more debt than `burst` tokens' worth. This is exactly a token bucket that refills
/// `rate` tokens per window up to `burst`, with fractional tokens.
///
/// The Redis store runs the same arithmetic in Lua (`RateLimitScript`), in IEEE doubles on both
/// sides, so the two stores give the same answers for the same sequence and clock.
public struct TokenBucket: Sendable, Hashable {
    /// Microseconds per token.
    public let interval: Double
    public let burst: Double
    public let cost: Double

    public init(rate: Rate, burst: Int, cost: Int) {
        self.interval = Double(rate.windowSeconds) * 1_000_000 / Double(rate.tokens)
        self.burst = Double(burst)
        self.cost = Double(cost)
    }

    public init(_ limit: RateLimitPolicy) {
        self.init(rate: limit.rate, burst: limit.burst, cost: limit.cost)
    }

    public struct Outcome: Sendable, Hashable {
        public let allowed: Bool
        /// The bucket's `tat` after this request (unchanged when refused).
        public let newTAT: Double
        /// Whole tokens left after this request (or now, when refused).
        public let remaining: Int
        /// Microseconds until the request could pass (refused), or until the bucket is full again (admitted).
        public let waitMicroseconds: Double
    }

    /// The decision for one request at `now` on a bucket whose `tat` is `tat` (nil: never used).
    public func take(tat: Double?, now: Double) -> Outcome {
        let start = max(tat ?? now, now)
        let next = start + cost * interval
        let limit = burst * interval
        if next - now <= limit {
            return Outcome(
                allowed: true, newTAT: next, remaining: Int(((limit - (next - now)) / interval).rounded(.down)),
                waitMicroseconds: next - now)
        }
        return Outcome(
            allowed: false, newTAT: start, remaining: Int(max(0, (limit - (start - now)) / interval).rounded(.down)),
            waitMicroseconds: next - now - limit)
    }
}
