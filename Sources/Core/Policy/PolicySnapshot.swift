import Foundation

/// A validated policy set: immutable, shared read-only by every event loop, and replaced whole on
/// reload (the proxy swaps one reference). Requests that started on a snapshot finish on it.
public final class PolicySnapshot: Sendable {
    public struct File: Sendable, Hashable {
        /// Relative to the policy directory, `/`-separated.
        public let path: String
        /// Lower-case hex SHA-256 of the file's bytes.
        public let sha256: String
    }

    /// The `service` label the files agree on, if any sets it.
    public let service: String?
    public let issuers: [String: IssuerPolicy]
    public let limits: [String: RateLimitPolicy]
    public let flags: [String: FlagDefault]
    /// In match order: files sorted by path, then document order.
    public let routes: [Route]
    /// Policy files, sorted by path.
    public let files: [File]
    /// Key files the issuers reference, sorted by path.
    public let keyFiles: [File]
    /// Lower-case hex SHA-256 over every file's relative path and bytes (key files included): two
    /// sidecars with the same hash enforce the same policy.
    public let hash: String
    public let loadedAt: Date
    /// Every header name any route's `forward.claims` sets (lower-cased, sorted). The sidecar
    /// removes these from every incoming request, whatever its route, so no caller can spoof them.
    public let identityHeaders: [String]

    init(
        service: String?, issuers: [String: IssuerPolicy], limits: [String: RateLimitPolicy],
        flags: [String: FlagDefault], routes: [Route], files: [File], keyFiles: [File], hash: String,
        loadedAt: Date
    ) {
        self.service = service
        self.issuers = issuers
        self.limits = limits
        self.flags = flags
        self.routes = routes
        self.files = files
        self.keyFiles = keyFiles
        self.hash = hash
        self.loadedAt = loadedAt
        self.identityHeaders = Set(routes.flatMap { $0.forward.claims.map(\.header) }).sorted()
    }

    /// The first 12 hex digits of `hash`, as logs and the CLI show it.
    public var shortHash: String { String(hash.prefix(12)) }

    /// `3 files, 5 routes, 2 limits, 3 issuers, 1 flag`.
    public var summary: String {
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        return [
            count(files.count, "file"), count(routes.count, "route"), count(limits.count, "limit"),
            count(issuers.count, "issuer"), count(flags.count, "flag"),
        ].joined(separator: ", ")
    }
}
