/// Verified tokens of one event loop, keyed by the token's bytes: a repeated token costs one hash
/// lookup instead of a signature check. An entry lives until the token's `exp` (plus the issuer's
/// skew, as verification allows). The cache belongs to one snapshot and one set of fetched keys:
/// a reload or a JWKS change starts a new one, so a removed key or issuer stops working at once.
/// Bounded: when full, expired entries go first, then an arbitrary half.
public struct TokenCache {
    struct Entry {
        let token: VerifiedToken
        /// Seconds since the epoch after which the entry is no longer used.
        let validUntil: Double
    }

    public static let defaultCapacity = 10_000

    public let capacity: Int
    private var entries: [String: Entry] = [:]

    public init(capacity: Int = TokenCache.defaultCapacity) {
        self.capacity = capacity
    }

    public var count: Int { entries.count }

    /// The cached verification of `token`, if still valid at `now`.
    public mutating func lookup(_ token: String, now: Double) -> VerifiedToken? {
        guard let entry = entries[token] else { return nil }
        guard now <= entry.validUntil else {
            entries[token] = nil
            return nil
        }
        return entry.token
    }

    public mutating func insert(_ token: String, verified: VerifiedToken, validUntil: Double, now: Double) {
        if entries.count >= capacity { evict(now: now) }
        entries[token] = Entry(token: verified, validUntil: validUntil)
    }

    public mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
    }

    private mutating func evict(now: Double) {
        entries = entries.filter { $0.value.validUntil >= now }
        guard entries.count >= capacity else { return }
        var dropped = 0
        let target = entries.count / 2
        for key in entries.keys {
            if dropped >= target { break }
            entries[key] = nil
            dropped += 1
        }
    }
}
