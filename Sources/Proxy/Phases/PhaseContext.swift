import Core

/// What the phases of one event loop read and write: the active snapshot and its keys, the
/// verified-token cache, the signature contexts, the token-bucket stores, the metrics shard, the
/// clock, and two seams for the I/O a phase may wait on (a JWKS refetch, a Redis round trip). It
/// holds no channel, event loop, future or promise, so the phase chain runs wherever this object
/// lives: on a SwiftNIO loop (`LoopContext` owns one), on an event loop of our own, or with no loop
/// at all (`tollgate-proxy test` and `explain`, through `OfflinePhaseChain`). Confined to one
/// thread, like the loop that owns it.
final class PhaseContext {
    var snapshot: PolicySnapshot
    /// Keys of the snapshot's issuers with key files or `secret_env`, by issuer name.
    var staticKeys: [String: IssuerKeys]
    /// Keys of `jwks_url` issuers, by issuer name, as the refresher last fetched them.
    var fetchedKeys: [String: FetchedKeys] = [:]
    /// Verified tokens; emptied whenever the snapshot or a JWKS changes.
    var tokenCache = TokenCache()
    let signatures = SignatureVerifier()
    /// This loop's view of the process's in-process token buckets.
    let buckets: InProcessBuckets.LoopView
    /// This loop's Redis connection for shared limits (nil without `--redis`).
    let redis: RedisBuckets?
    /// Asked for an early JWKS fetch on an unknown `kid` (nil: keys are only what was installed).
    var keyRefetcher: (any KeyRefetcher)?
    let metrics = ProxyMetricsShard()
    let phases = PhaseChain(phases: [RoutePhase(), AuthenticatePhase(), AuthorizePhase(), FlagGatePhase(), RateLimitPhase()])
    /// When set, the time (Unix seconds) the phases read instead of the wall clock: the policy test
    /// runner steps it, so token expiry and bucket refills never depend on when a test runs.
    var frozenTime: Double?
    /// Flag states that replace the policy's static defaults of the same name (a policy test file's
    /// `flags`; the control plane's flags once the sidecar is linked).
    var flagOverrides: [String: FlagDefault] = [:]

    init(policy: ActivePolicy, buckets: InProcessBuckets, redis: RedisBuckets? = nil) {
        self.snapshot = policy.snapshot
        self.staticKeys = policy.staticKeys
        self.buckets = InProcessBuckets.LoopView(store: buckets)
        self.redis = redis
    }

    /// What the phases take for "now": the wall clock, or `frozenTime`.
    @inline(__always)
    func now() -> Double {
        frozenTime ?? WallClock.now()
    }
}

@available(*, unavailable)
extension PhaseContext: Sendable {}

/// Fetches an issuer's JWKS again for a phase that found an unknown `kid` (or no keys yet).
protocol KeyRefetcher {
    /// Starts (or joins) a fetch and returns true, or returns false when none may start now (an
    /// early refetch is allowed once per 30 s). `then` runs once the fetch has ended, on the
    /// context's own thread and never before this call has returned, so a phase that answers
    /// `.pending` can resume from it.
    func refetch(issuer: String, early: Bool, then: @escaping () -> Void) -> Bool
}
