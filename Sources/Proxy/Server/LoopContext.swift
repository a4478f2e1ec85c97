import Core
import NIOCore

/// What one event loop owns: its copy of the active policy snapshot, its upstream pool, metrics,
/// request ids and access log. Nothing here is shared between loops, so the request path takes no
/// lock another loop could hold; a reload hands each loop the new snapshot on that loop.
final class LoopContext {
    let eventLoop: any EventLoop
    let configuration: ProxyConfiguration
    var snapshot: PolicySnapshot
    var requestIDs = RequestIDGenerator()
    let metrics = ProxyMetricsShard()
    let upstream: UpstreamPool
    let accessLog: AccessLog
    let phases: PhaseChain
    let forward: ForwardPhase
    let deadlines = UpstreamDeadlines()
    /// Open client connections, to close the idle ones on shutdown.
    var openConnections = 0

    init(eventLoop: any EventLoop, configuration: ProxyConfiguration, snapshot: PolicySnapshot) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.snapshot = snapshot
        self.upstream = UpstreamPool(
            eventLoop: eventLoop, endpoint: configuration.upstream, connectTimeout: configuration.upstreamConnectTimeout)
        self.accessLog = AccessLog(format: configuration.logFormat, eventLoop: eventLoop)
        self.phases = PhaseChain(phases: [RoutePhase(), FailClosedPhase(), FlagGatePhase()])
        self.forward = ForwardPhase(trustedProxies: configuration.trustedProxies)
        deadlines.start(on: eventLoop)
    }
}

@available(*, unavailable)
extension LoopContext: Sendable {}

/// Every loop's context, reachable from any thread only through `NIOLoopBound` (which checks that
/// it is used on its own loop).
struct LoopContexts: Sendable {
    private let byLoop: [ObjectIdentifier: NIOLoopBound<LoopContext>]
    let all: [NIOLoopBound<LoopContext>]

    init(group: any EventLoopGroup, configuration: ProxyConfiguration, snapshot: PolicySnapshot) throws {
        var byLoop: [ObjectIdentifier: NIOLoopBound<LoopContext>] = [:]
        var all: [NIOLoopBound<LoopContext>] = []
        for loop in group.makeIterator() {
            let bound = try loop.submit {
                NIOLoopBound(LoopContext(eventLoop: loop, configuration: configuration, snapshot: snapshot), eventLoop: loop)
            }.wait()
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

    /// Gives every loop the new snapshot; requests already running keep theirs.
    func install(_ snapshot: PolicySnapshot) {
        for bound in all {
            bound.eventLoop.execute { bound.value.snapshot = snapshot }
        }
    }

    /// Adds up every loop's metrics (each copied on its own loop).
    func metrics() -> EventLoopFuture<ProxyMetricsShard.Snapshot> {
        let futures = all.map { bound in bound.eventLoop.submit { bound.value.metrics.snapshot } }
        return EventLoopFuture.reduce(ProxyMetricsShard.Snapshot(), futures, on: all[0].eventLoop) { total, next in
            var merged = total
            merged.merge(next)
            return merged
        }
    }
}
