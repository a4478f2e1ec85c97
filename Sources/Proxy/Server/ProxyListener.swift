import Logging
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The client-facing listener. Bound before the service group starts (so a busy port is a start-up
/// error, not a running process that serves nothing); on graceful shutdown it stops accepting, lets
/// in-flight requests finish for up to `drainTimeout`, then closes what is left.
final class ProxyListener: Service {
    let channel: any Channel
    private let quiescing: ServerQuiescingHelper
    private let drainTimeout: TimeAmount
    private let logger: Logger

    private init(channel: any Channel, quiescing: ServerQuiescingHelper, drainTimeout: TimeAmount, logger: Logger) {
        self.channel = channel
        self.quiescing = quiescing
        self.drainTimeout = drainTimeout
        self.logger = logger
    }

    static func bind(
        group: any EventLoopGroup, configuration: ProxyConfiguration, contexts: LoopContexts,
        tls: NIOSSLContext?, logger: Logger
    ) async throws -> ProxyListener {
        let quiescing = ServerQuiescingHelper(group: group)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let loop = contexts.context(for: channel.eventLoop)
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        try pipeline.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    // One handler on raw bytes: the head parser, splicer and body framing are the
                    // sidecar's own (Core/HTTP). No IdleStateHandler: the loop's `IdleConnections`
                    // sweep watches for silence.
                    try pipeline.addHandler(ProxyHandler(loop: loop, isTLS: tls != nil))
                }
            }
            .bind(host: configuration.listen.host, port: configuration.listen.port)
            .get()
        return ProxyListener(channel: channel, quiescing: quiescing, drainTimeout: configuration.drainTimeout, logger: logger)
    }

    func run() async throws {
        try? await gracefulShutdown()
        await Self.drain(timeout: drainTimeout, logger: logger) {
            let drained = channel.eventLoop.makePromise(of: Void.self)
            quiescing.initiateShutdown(promise: drained)
            return drained.futureResult
        }
    }

    /// The graceful shutdown of either data path's listener: log, start draining (`begin` returns
    /// what completes once no connection is left), wait for it for at most `timeout`, log how it
    /// ended. The caller closes what is left.
    static func drain(timeout: TimeAmount, logger: Logger, begin: () -> EventLoopFuture<Void>) async {
        logger.info("shutting down: no new connections, draining in-flight requests", metadata: [
            "drain_timeout_s": "\(timeout.nanoseconds / 1_000_000_000)",
        ])
        let drained = begin()
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await drained.get()) != nil }
            group.addTask {
                try? await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if finished {
            logger.info("drained")
        } else {
            logger.warning("drain timed out; closing the remaining connections")
        }
    }
}
