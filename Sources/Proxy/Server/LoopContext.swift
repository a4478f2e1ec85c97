import Core
import TollgateLoopRedis
import Logging
import NIOCore

/// What one event loop owns: its upstream pool, metrics, request ids and access log, and its
/// reference to the active policy snapshot. The snapshot is immutable and the same object on every
/// loop (a reload hands each loop the new one on that loop), so the request path takes no lock;
/// what the loops do share is the snapshot's reference counts, which is why the request path keeps
/// its retains of snapshot objects few and avoids static arrays (see docs/benchmarks.md).
final class LoopContext {
    let eventLoop: any EventLoop
    let configuration: ProxyConfiguration
    /// Everything the phases touch; no I/O of its own.
    let phaseContext: PhaseContext
    var requestIDs = RequestIDGenerator()
    let upstream: UpstreamPool
    let accessLog: AccessLog
    let forward: ForwardPhase
    let deadlines = UpstreamDeadlines()
    /// Client connections, swept for `--idle-timeout`.
    let idleConnections: IdleConnections
    /// Open client connections, to close the idle ones on shutdown.
    var openConnections = 0
    /// Finished exchanges for the next requests (`recycle`).
    var spareExchanges: [Exchange] = []
    /// An empty buffer, made once (an empty `ByteBuffer()` allocates).
    let emptyBuffer = ByteBufferAllocator().buffer(capacity: 0)
    /// Open upstream connections (in use or pooled), counted by either data path's connections.
    let upstreamConnections = UpstreamConnectionCount()

    var snapshot: PolicySnapshot { phaseContext.snapshot }
    var staticKeys: [String: IssuerKeys] { phaseContext.staticKeys }
    var metrics: ProxyMetricsShard { phaseContext.metrics }
    var phases: PhaseChain { phaseContext.phases }
    var buckets: InProcessBuckets.LoopView { phaseContext.buckets }
    var redis: RedisBuckets? { phaseContext.redis }
    /// Set once at start; asked for an early fetch on an unknown `kid`.
    var jwks: JWKSRefresher? {
        didSet { phaseContext.keyRefetcher = jwks.map { LoopKeyRefetcher(refresher: $0, eventLoop: eventLoop) } }
    }

    init(eventLoop: any EventLoop, configuration: ProxyConfiguration, policy: ActivePolicy, buckets: InProcessBuckets, logger: Logger) {
        // The same store over either loop's own kind of connection: SwiftNIO's `RedisClient`, or
        // the reactor's non-blocking `LoopRedisConnection`.
        let redis = configuration.redis.map { endpoint in
            if let reactorLoop = eventLoop as? ReactorEventLoop {
                return RedisBuckets(
                    reactor: reactorLoop.reactor, endpoint: endpoint,
                    timeoutMilliseconds: UInt64(max(1, configuration.redisTimeout.nanoseconds / 1_000_000)))
            }
            return RedisBuckets(loop: eventLoop, endpoint: endpoint, timeout: configuration.redisTimeout)
        }
        if let redis {
            // Why shared limits fall back to `on_error` must be visible: once per outage, per loop.
            let endpoint = redis.endpoint.description
            redis.onStatusChange = { change in
                switch change {
                case let .ready(recovered):
                    if recovered { logger.notice("Redis connection ready again", metadata: ["redis": "\(endpoint)"]) }
                case let .unavailable(reason):
                    logger.warning(
                        "Redis unavailable; shared limits follow their on_error until it is back (retrying)",
                        metadata: ["redis": "\(endpoint)", "reason": "\(reason)"])
                }
            }
        }
        redis?.start()
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.phaseContext = PhaseContext(policy: policy, buckets: buckets, redis: redis)
        self.upstream = UpstreamPool(
            eventLoop: eventLoop, endpoint: configuration.upstream, connectTimeout: configuration.upstreamConnectTimeout,
            count: upstreamConnections)
        self.accessLog = AccessLog(format: configuration.logFormat, eventLoop: eventLoop)
        self.forward = ForwardPhase(trustedProxies: configuration.trustedProxies)
        self.idleConnections = IdleConnections(timeout: configuration.idleTimeout)
        deadlines.start(on: eventLoop)
        idleConnections.start(on: eventLoop)
        scheduleBucketSweep()
    }

    static let bucketSweepInterval: TimeAmount = .seconds(10)
    private var bucketSweeper: Scheduled<Void>?

    /// Every 10 s: full buckets leave the shared registry (any loop may do it; it is idempotent) and
    /// this loop's cache lets go of them, so idle keys cost no memory.
    private func scheduleBucketSweep() {
        bucketSweeper = eventLoop.assumeIsolated().scheduleTask(in: Self.bucketSweepInterval) { [self] in
            buckets.store.sweep(now: phaseContext.now() * 1_000_000)
            buckets.prune()
            scheduleBucketSweep()
        }
    }

    /// Stops the periodic work this context scheduled (at shutdown).
    func stopTimers() {
        deadlines.stop()
        idleConnections.stop()
        bucketSweeper?.cancel()
        bucketSweeper = nil
        redis?.close()
    }
}

@available(*, unavailable)
extension LoopContext: Sendable {}

/// Upstream connections open on one loop (the `tollgate_upstream_connections` gauge; the leak tests
/// read it back to zero). Loop-confined.
final class UpstreamConnectionCount {
    var open = 0
}

@available(*, unavailable)
extension UpstreamConnectionCount: Sendable {}

/// Every loop's context, reachable from any thread only through `NIOLoopBound` (which checks that
/// it is used on its own loop).
struct LoopContexts: Sendable {
    private let byLoop: [ObjectIdentifier: NIOLoopBound<LoopContext>]
    let all: [NIOLoopBound<LoopContext>]

    init(
        group: any EventLoopGroup, configuration: ProxyConfiguration, policy: ActivePolicy, buckets: InProcessBuckets, logger: Logger
    ) async throws {
        try await self.init(loops: Array(group.makeIterator()), configuration: configuration, policy: policy, buckets: buckets, logger: logger)
    }

    /// One context per loop, each made on its loop: SwiftNIO's, or the data path's own
    /// (`ReactorEventLoop`).
    init(
        loops: [any EventLoop], configuration: ProxyConfiguration, policy: ActivePolicy, buckets: InProcessBuckets, logger: Logger
    ) async throws {
        var byLoop: [ObjectIdentifier: NIOLoopBound<LoopContext>] = [:]
        var all: [NIOLoopBound<LoopContext>] = []
        for loop in loops {
            let bound = try await loop.submit {
                NIOLoopBound(
                    LoopContext(eventLoop: loop, configuration: configuration, policy: policy, buckets: buckets, logger: logger), eventLoop: loop)
            }.get()
            byLoop[ObjectIdentifier(loop)] = bound
            all.append(bound)
        }
        self.byLoop = byLoop
        self.all = all
    }

    /// The context of the loop the caller runs on.
    func context(for loop: any EventLoop) -> LoopContext {
        guard let bound = byLoop[ObjectIdentifier(loop)] else { preconditionFailure("no context for this event loop") }
        return bound.value
    }

    /// Gives every loop the new snapshot and its keys; requests already running keep theirs.
    func install(_ policy: ActivePolicy) {
        for bound in all {
            bound.eventLoop.execute {
                let phases = bound.value.phaseContext
                phases.snapshot = policy.snapshot
                phases.staticKeys = policy.staticKeys
                phases.tokenCache.removeAll()
            }
        }
    }

    /// Gives every loop an issuer's newly fetched keys (nil: forget them). Cached tokens are
    /// dropped only when the key set really changed. The future completes once every loop has them.
    @discardableResult
    func installFetchedKeys(_ keys: FetchedKeys?, issuer: String) -> EventLoopFuture<Void> {
        let installed = all.map { bound in
            bound.eventLoop.submit {
                let context = bound.value.phaseContext
                if context.fetchedKeys[issuer]?.fingerprint != keys?.fingerprint { context.tokenCache.removeAll() }
                context.fetchedKeys[issuer] = keys
            }
        }
        return EventLoopFuture.andAllSucceed(installed, on: all[0].eventLoop)
    }

    func setRefresher(_ refresher: JWKSRefresher) {
        for bound in all {
            bound.eventLoop.execute { bound.value.jwks = refresher }
        }
    }

    /// Adds up every loop's metrics (each copied on its own loop).
    func metrics() -> EventLoopFuture<ProxyMetricsShard.Snapshot> {
        let futures = all.map { bound in
            bound.eventLoop.submit {
                var snapshot = bound.value.metrics.snapshot
                snapshot.clientConnections = bound.value.openConnections
                snapshot.upstreamConnections = bound.value.upstreamConnections.open
                return snapshot
            }
        }
        return EventLoopFuture.reduce(ProxyMetricsShard.Snapshot(), futures, on: all[0].eventLoop) { total, next in
            var merged = total
            merged.merge(next)
            return merged
        }
    }
}

/// A validated policy set with the keys that come with it (key files and `secret_env` secrets),
/// installed together so that a request never meets routes of one set and keys of another.
struct ActivePolicy: Sendable {
    let snapshot: PolicySnapshot
    let staticKeys: [String: IssuerKeys]

    /// Reads the keys of every issuer that does not fetch them. Fails when a `secret_env` variable
    /// is unset or too short, or a key file cannot be imported.
    static func make(_ snapshot: PolicySnapshot, environment: [String: String]) throws(IssuerKeys.LoadFailure) -> ActivePolicy {
        var keys: [String: IssuerKeys] = [:]
        for issuer in snapshot.issuers.values.sorted(by: { $0.name < $1.name }) {
            if let loaded = try IssuerKeys.load(issuer, environment: environment) { keys[issuer.name] = loaded }
        }
        return ActivePolicy(snapshot: snapshot, staticKeys: keys)
    }
}

/// One JWKS as fetched, with the SHA-256 of the document (to tell a real change from a refresh).
struct FetchedKeys: Sendable {
    let keys: IssuerKeys
    let fingerprint: [UInt8]
}

/// The NIO loop's way to refetch a JWKS for a phase: the refresher's future, then the loop's queue
/// (a fetch already finished completes at once, and a pending phase must not resume before it has
/// returned `.pending`).
struct LoopKeyRefetcher: KeyRefetcher {
    let refresher: JWKSRefresher
    let eventLoop: any EventLoop

    func refetch(issuer: String, early: Bool, then: @escaping () -> Void) -> Bool {
        guard let fetched = refresher.refetch(issuer: issuer, early: early) else { return false }
        let loop = eventLoop
        fetched.hop(to: loop).assumeIsolated().whenComplete { _ in
            loop.assumeIsolated().execute(then)
        }
        return true
    }
}
