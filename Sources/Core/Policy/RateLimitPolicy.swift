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
    public let location: SourceLocation

    /// True when the bucket can only be keyed for a request that carries a verified token.
    public var needsToken: Bool { key.contains(where: \.needsToken) }
}
