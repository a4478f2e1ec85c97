import Core
import NIOCore
import NIOPosix

/// Keep-alive connections to the upstream, one pool per event loop: a request is always forwarded
/// on a connection of its own loop, so forwarding never hops threads or takes a lock.
final class UpstreamPool {
    private let eventLoop: any EventLoop
    private let endpoint: ProxyConfiguration.Endpoint
    private let connectTimeout: TimeAmount
    /// Most recently used last (LIFO keeps the warmest connections busy and lets the rest idle out).
    private var idle: [UpstreamConnection] = []
    private let maximumIdle: Int
    /// Limits of the response heads: larger than a request's (cookies), bounded all the same.
    private let responseHeads = HTTPHeadParser.Configuration(maxHeadBytes: 65_536, maxFieldCount: 1_000)

    private let count: UpstreamConnectionCount

    init(
        eventLoop: any EventLoop, endpoint: ProxyConfiguration.Endpoint, connectTimeout: TimeAmount, count: UpstreamConnectionCount,
        maximumIdle: Int = 256
    ) {
        self.eventLoop = eventLoop
        self.count = count
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.maximumIdle = maximumIdle
    }

    /// An idle connection that can take a request now, if there is one: the common case, with no
    /// future and no callback.
    func idleConnection() -> UpstreamConnection? {
        while let connection = idle.popLast() {
            if connection.isActive && connection.reusable { return connection }
        }
        return nil
    }

    /// A new connection. It comes wrapped in `NIOLoopBound`: it may only be used on this pool's loop.
    func connect() -> EventLoopFuture<NIOLoopBound<UpstreamConnection>> {
        let responseHeads = responseHeads
        let count = NIOLoopBound(count, eventLoop: eventLoop)
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    _ = try UpstreamHandler.attach(to: channel, configuration: responseHeads, count: count.value)
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                return NIOLoopBound(handler.connection, eventLoop: channel.eventLoop)
            }
    }

    /// Back into the pool if it can serve another request; closed otherwise.
    func release(_ connection: UpstreamConnection) {
        connection.delegate = nil
        guard connection.reusable, connection.isActive, idle.count < maximumIdle else {
            connection.close()
            return
        }
        if connection.onClose == nil {
            // Once per connection, not per release: a closure is an allocation.
            connection.onClose = { [weak self] closed in
                self?.idle.removeAll { $0 === closed }
            }
        }
        // Keep a read pending while idle, so an upstream that closes the connection is noticed now,
        // not when the next request is written into a dead socket.
        connection.setReading(true)
        idle.append(connection)
    }

    func closeAll() {
        let connections = idle
        idle.removeAll()
        for connection in connections { connection.close() }
    }
}

@available(*, unavailable)
extension UpstreamPool: Sendable {}
