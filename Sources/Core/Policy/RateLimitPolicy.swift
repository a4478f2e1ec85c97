/// A token bucket (`limits:` in policy files).
public struct RateLimitPolicy: Sendable, Hashable {
    /// What to do when the store cannot answer in time (Envoy's `failure_mode_deny`, named).
    public enum OnError: String, Sendable, Hashable {
        /// Admit the request; the store's failure is counted.
        case allow
        /// Refuse with 503.
        case deny
    }

    public let name: String
    public let rate: Rate
    /// Bucket capacity in tokens.
    public let burst: Int
    public let key: [KeyPart]
    /// Tokens one request takes.
    public let cost: Int
    public let onError: OnError
    /// True: counted in this process only, never in Redis.
    public let local: Bool
    /// `shadow`: decided and counted (in buckets of its own, apart from the enforcing ones), never a 429.
    public let mode: PolicyMode
    public let location: SourceLocation
    /// The limit's `RateLimit-Policy` item, `"per-user";q=20;w=2`: its name, the bucket's capacity
    /// and the seconds it takes to refill from empty (draft-ietf-httpapi-ratelimit-headers). Made
    /// once here rather than on every admitted request.
    public let policyItem: String

    public init(
        name: String, rate: Rate, burst: Int, key: [KeyPart], cost: Int, onError: OnError, local: Bool, mode: PolicyMode = .enforce,
        location: SourceLocation
    ) {
        self.name = name
        self.rate = rate
        self.burst = burst
        self.key = key
        self.cost = cost
        self.onError = onError
        self.local = local
        self.mode = mode
        self.location = location
        let window = max(1, Int((Double(burst) / rate.tokensPerSecond).rounded(.up)))
        self.policyItem = "\"\(name)\";q=\(burst);w=\(window)"
    }

    /// True when the bucket can only be keyed for a request that carries a verified token.
    public var needsToken: Bool { key.contains(where: \.needsToken) }
}
