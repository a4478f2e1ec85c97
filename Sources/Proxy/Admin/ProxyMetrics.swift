import NIOConcurrencyHelpers

/// Latency buckets (seconds) for the request and upstream histograms.
enum LatencyBuckets {
    static let bounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
}

struct Histogram: Sendable {
    /// Per bucket (not cumulative); the last is +Inf.
    var counts = [UInt64](repeating: 0, count: LatencyBuckets.bounds.count + 1)
    var sum: Double = 0
    var count: UInt64 = 0

    mutating func observe(_ seconds: Double) {
        var index = 0
        while index < LatencyBuckets.bounds.count, seconds > LatencyBuckets.bounds[index] { index += 1 }
        counts[index] &+= 1
        sum += seconds
        count &+= 1
    }

    mutating func merge(_ other: Histogram) {
        for index in counts.indices { counts[index] &+= other.counts[index] }
        sum += other.sum
        count &+= other.count
    }
}

/// Counters for one event loop. Only that loop writes them, so recording a request touches no lock
/// and no cache line another core writes; `/metrics` asks every loop for a copy and adds them up.
final class ProxyMetricsShard {
    struct RouteStatus: Hashable, Sendable {
        let route: String
        let status: Int
    }

    struct Snapshot: Sendable {
        var requests: [RouteStatus: UInt64] = [:]
        var durations: [String: Histogram] = [:]
        var upstream = Histogram()
        var upstreamErrors: [String: UInt64] = [:]
        /// By flag, `(on, off)`.
        var flagDecisions: [String: (on: UInt64, off: UInt64)] = [:]
        var authDecisions: [AuthDecision: UInt64] = [:]
        /// Tokens answered from the verified-token cache, and tokens that went to the verifier.
        var tokenCacheHits: UInt64 = 0
        var tokenCacheMisses: UInt64 = 0
        var rateLimitDecisions: [RateLimitDecision: UInt64] = [:]
        var storeErrors: UInt64 = 0
        var shadowRefusals: [ShadowRefusal: UInt64] = [:]
        /// Gauges, read from the loop when the snapshot is taken: client connections open, and
        /// upstream connections open (in use or idle in the pool).
        var clientConnections = 0
        var upstreamConnections = 0

        mutating func merge(_ other: Snapshot) {
            clientConnections += other.clientConnections
            upstreamConnections += other.upstreamConnections
            storeErrors &+= other.storeErrors
            shadowRefusals.merge(other.shadowRefusals, uniquingKeysWith: &+)
            rateLimitDecisions.merge(other.rateLimitDecisions, uniquingKeysWith: &+)
            authDecisions.merge(other.authDecisions, uniquingKeysWith: &+)
            tokenCacheHits &+= other.tokenCacheHits
            tokenCacheMisses &+= other.tokenCacheMisses
            flagDecisions.merge(other.flagDecisions) { ($0.on &+ $1.on, $0.off &+ $1.off) }
            requests.merge(other.requests, uniquingKeysWith: &+)
            durations.merge(other.durations) { var merged = $0; merged.merge($1); return merged }
            upstream.merge(other.upstream)
            upstreamErrors.merge(other.upstreamErrors, uniquingKeysWith: &+)
        }
    }

    private(set) var snapshot = Snapshot()

    func recordRequest(route: String, status: Int, seconds: Double) {
        snapshot.requests[RouteStatus(route: route, status: status), default: 0] &+= 1
        snapshot.durations[route, default: Histogram()].observe(seconds)
    }

    func recordUpstream(seconds: Double) {
        snapshot.upstream.observe(seconds)
    }

    func recordFlagDecision(flag: String, on: Bool) {
        var counts = snapshot.flagDecisions[flag] ?? (0, 0)
        if on { counts.on &+= 1 } else { counts.off &+= 1 }
        snapshot.flagDecisions[flag] = counts
    }

    struct AuthDecision: Hashable, Sendable {
        let route: String
        /// `allowed`, `anonymous` or `denied`.
        let result: String
        /// `ok`, `no_token`, or why the token or its scopes were refused (`expired`, `insufficient_scope`, …).
        let reason: String
        /// A decision on a route in shadow mode (label `mode="shadow"`). A Bool, not a label string:
        /// the key is hashed on every authorized request.
        var shadow = false
    }

    func recordAuthDecision(route: String, result: String, reason: String, shadow: Bool = false) {
        snapshot.authDecisions[AuthDecision(route: route, result: result, reason: reason, shadow: shadow), default: 0] &+= 1
    }

    struct ShadowRefusal: Hashable, Sendable {
        let route: String
        /// The access log's decision the refusal would have had (`invalid-token:expired`, `rate-limited:per-user`).
        let reason: String
    }

    func recordShadowRefusal(route: String, reason: String) {
        snapshot.shadowRefusals[ShadowRefusal(route: route, reason: reason), default: 0] &+= 1
    }

    /// A hit skipped the signature check; a miss means the token went to the verifier.
    func recordTokenCache(hit: Bool) {
        if hit { snapshot.tokenCacheHits &+= 1 } else { snapshot.tokenCacheMisses &+= 1 }
    }

    struct RateLimitDecision: Hashable, Sendable {
        let route: String
        let limit: String
        /// `allowed`, `limited`, `skipped` or `error`; a shadow limit's `shadow_allowed`, `shadow_limited` or `shadow_error`.
        let result: String
    }

    func recordRateLimitDecision(route: String, limit: String, result: String) {
        snapshot.rateLimitDecisions[RateLimitDecision(route: route, limit: limit, result: result), default: 0] &+= 1
    }

    func recordStoreError() {
        snapshot.storeErrors &+= 1
    }

    func recordUpstreamError(_ kind: String) {
        snapshot.upstreamErrors[kind, default: 0] &+= 1
    }
}

@available(*, unavailable)
extension ProxyMetricsShard: Sendable {}

/// Process-wide counters that change rarely (reloads): a lock is fine off the request path.
final class ProcessMetrics: Sendable {
    /// The result of one reload attempt, as `tollgate_policy_reloads_total` labels it.
    enum ReloadResult: String, CaseIterable, Sendable {
        /// A valid set whose hash differs was installed.
        case success
        /// The set failed validation (or its keys could not be read); the last good set stays.
        case error
        /// A valid set identical to the active one: nothing to install, but still an attempt.
        case unchanged
    }

    private let reloads = NIOLockedValueBox<[ReloadResult: UInt64]>([:])

    /// Every attempt is counted, whatever triggered it (file change, SIGHUP, `POST /reload`).
    func recordReload(_ result: ReloadResult) {
        reloads.withLockedValue { $0[result, default: 0] &+= 1 }
    }

    var reloadCounts: [ReloadResult: UInt64] { reloads.withLockedValue { $0 } }

    private let jwksRefreshes = NIOLockedValueBox<[JWKSRefresh: UInt64]>([:])

    struct JWKSRefresh: Hashable, Sendable {
        let issuer: String
        let result: String
    }

    func recordJWKSRefresh(issuer: String, success: Bool) {
        jwksRefreshes.withLockedValue { $0[JWKSRefresh(issuer: issuer, result: success ? "success" : "error"), default: 0] &+= 1 }
    }

    var jwksRefreshCounts: [JWKSRefresh: UInt64] { jwksRefreshes.withLockedValue { $0 } }
}

/// Prometheus text exposition format 0.0.4.
enum PrometheusText {
    /// `notReadyIssuers`: the `jwks_url` issuers not fetched yet (what keeps `/readyz` at 503).
    static func render(_ metrics: ProxyMetricsShard.Snapshot, process: ProcessMetrics, notReadyIssuers: [String] = []) -> String {
        let reloads = process.reloadCounts
        var out = ""
        // Readiness as a metric, so an alert needs no probe of its own: the same test as /readyz.
        out += "# HELP tollgate_ready 1 when /readyz answers 200 (a valid policy set and every jwks_url fetched once), else 0.\n"
        out += "# TYPE tollgate_ready gauge\n"
        out += "tollgate_ready \(notReadyIssuers.isEmpty ? 1 : 0)\n"
        out += "# HELP tollgate_requests_total Requests answered, by route and status.\n"
        out += "# TYPE tollgate_requests_total counter\n"
        for (key, value) in metrics.requests.sorted(by: { ($0.key.route, $0.key.status) < ($1.key.route, $1.key.status) }) {
            out += "tollgate_requests_total{route=\"\(escape(key.route))\",status=\"\(key.status)\"} \(value)\n"
        }
        out += "# HELP tollgate_request_duration_seconds Time from request head to the end of the response, by route.\n"
        out += "# TYPE tollgate_request_duration_seconds histogram\n"
        for (route, histogram) in metrics.durations.sorted(by: { $0.key < $1.key }) {
            out += histogramLines("tollgate_request_duration_seconds", labels: "route=\"\(escape(route))\"", histogram)
        }
        out += "# HELP tollgate_upstream_duration_seconds Time from sending a request upstream to its response head.\n"
        out += "# TYPE tollgate_upstream_duration_seconds histogram\n"
        out += histogramLines("tollgate_upstream_duration_seconds", labels: "", metrics.upstream)
        out += "# HELP tollgate_client_connections Client connections open.\n"
        out += "# TYPE tollgate_client_connections gauge\n"
        out += "tollgate_client_connections \(metrics.clientConnections)\n"
        out += "# HELP tollgate_upstream_connections Upstream connections open, in use or idle in the keep-alive pools.\n"
        out += "# TYPE tollgate_upstream_connections gauge\n"
        out += "tollgate_upstream_connections \(metrics.upstreamConnections)\n"
        out += "# HELP tollgate_upstream_errors_total Upstream failures, by kind.\n"
        out += "# TYPE tollgate_upstream_errors_total counter\n"
        for kind in ["connect", "reset", "timeout"] {
            out += "tollgate_upstream_errors_total{kind=\"\(kind)\"} \(metrics.upstreamErrors[kind, default: 0])\n"
        }
        out += "# HELP tollgate_flag_decisions_total Flag gate decisions, by flag and result.\n"
        out += "# TYPE tollgate_flag_decisions_total counter\n"
        for (flag, counts) in metrics.flagDecisions.sorted(by: { $0.key < $1.key }) {
            out += "tollgate_flag_decisions_total{flag=\"\(escape(flag))\",result=\"off\"} \(counts.off)\n"
            out += "tollgate_flag_decisions_total{flag=\"\(escape(flag))\",result=\"on\"} \(counts.on)\n"
        }
        out += "# HELP tollgate_auth_decisions_total Token checks, by route, result (allowed, anonymous, denied) and reason.\n"
        out += "# TYPE tollgate_auth_decisions_total counter\n"
        for (key, value) in metrics.authDecisions.sorted(by: {
            ($0.key.route, $0.key.result, $0.key.reason, $0.key.shadow ? 1 : 0) < ($1.key.route, $1.key.result, $1.key.reason, $1.key.shadow ? 1 : 0)
        }) {
            let mode = key.shadow ? ",mode=\"shadow\"" : ""
            out += "tollgate_auth_decisions_total{route=\"\(escape(key.route))\",result=\"\(key.result)\",reason=\"\(key.reason)\"\(mode)} \(value)\n"
        }
        out += "# HELP tollgate_auth_token_cache_total Bearer tokens looked up in the verified-token cache: hit (no signature check) or miss (verified).\n"
        out += "# TYPE tollgate_auth_token_cache_total counter\n"
        out += "tollgate_auth_token_cache_total{result=\"hit\"} \(metrics.tokenCacheHits)\n"
        out += "tollgate_auth_token_cache_total{result=\"miss\"} \(metrics.tokenCacheMisses)\n"
        out += "# HELP tollgate_ratelimit_decisions_total Rate-limit decisions, by route, limit and result (allowed, limited, skipped, error).\n"
        out += "# TYPE tollgate_ratelimit_decisions_total counter\n"
        for (key, value) in metrics.rateLimitDecisions.sorted(by: { ($0.key.route, $0.key.limit, $0.key.result) < ($1.key.route, $1.key.limit, $1.key.result) }) {
            out += "tollgate_ratelimit_decisions_total{route=\"\(escape(key.route))\",limit=\"\(escape(key.limit))\",result=\"\(key.result)\"} \(value)\n"
        }
        out += "# HELP tollgate_store_errors_total Rate-limit store calls that failed or timed out.\n"
        out += "# TYPE tollgate_store_errors_total counter\n"
        out += "tollgate_store_errors_total \(metrics.storeErrors)\n"
        out += "# HELP tollgate_shadow_refusals_total Refusals that shadow mode let through, by route and the decision they would have been.\n"
        out += "# TYPE tollgate_shadow_refusals_total counter\n"
        for (key, value) in metrics.shadowRefusals.sorted(by: { ($0.key.route, $0.key.reason) < ($1.key.route, $1.key.reason) }) {
            out += "tollgate_shadow_refusals_total{route=\"\(escape(key.route))\",reason=\"\(escape(key.reason))\"} \(value)\n"
        }
        out += "# HELP tollgate_jwks_refresh_total JWKS fetches, by issuer and result.\n"
        out += "# TYPE tollgate_jwks_refresh_total counter\n"
        for (key, value) in process.jwksRefreshCounts.sorted(by: { ($0.key.issuer, $0.key.result) < ($1.key.issuer, $1.key.result) }) {
            out += "tollgate_jwks_refresh_total{issuer=\"\(escape(key.issuer))\",result=\"\(key.result)\"} \(value)\n"
        }
        out += "# HELP tollgate_policy_reloads_total Policy reload attempts, by result.\n"
        out += "# TYPE tollgate_policy_reloads_total counter\n"
        for result in ProcessMetrics.ReloadResult.allCases.sorted(by: { $0.rawValue < $1.rawValue }) {
            out += "tollgate_policy_reloads_total{result=\"\(result.rawValue)\"} \(reloads[result, default: 0])\n"
        }
        return out
    }

    private static func histogramLines(_ name: String, labels: String, _ histogram: Histogram) -> String {
        var out = ""
        var cumulative: UInt64 = 0
        let separator = labels.isEmpty ? "" : ","
        for (index, bound) in LatencyBuckets.bounds.enumerated() {
            cumulative &+= histogram.counts[index]
            out += "\(name)_bucket{\(labels)\(separator)le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative &+= histogram.counts[LatencyBuckets.bounds.count]
        out += "\(name)_bucket{\(labels)\(separator)le=\"+Inf\"} \(cumulative)\n"
        let braces = labels.isEmpty ? "" : "{\(labels)}"
        out += "\(name)_sum\(braces) \(histogram.sum)\n"
        out += "\(name)_count\(braces) \(histogram.count)\n"
        return out
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
