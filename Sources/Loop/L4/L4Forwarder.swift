/// A TCP forwarder on one loop: each connection accepted on `listener` gets its own upstream
/// connection, made from this loop, and bytes pass both ways through slabs of the loop's pool
/// (`Tunnel`). No HTTP: this is the loop's ceiling in bench/run-proxy-bench.sh, beside nginx
/// `stream` and the SwiftNIO forwarder, and the shape an `Upgrade` tunnel of the sidecar takes.
///
/// One per loop; with `SO_REUSEPORT` every loop has its own listener on the same port.
public final class L4Forwarder: LoopHandler {
    public struct Configuration: Sendable {
        public var upstream: IPv4Endpoint
        /// A connect that has not completed by then closes the client connection.
        public var connectTimeoutMilliseconds: UInt64 = 5_000
        /// A connection that moved no byte either way for this long is closed (nginx `stream`'s
        /// `proxy_timeout` is 10 minutes); 0 for never.
        public var idleTimeoutMilliseconds: UInt64 = 600_000
        /// When the listener hits a descriptor limit (`EMFILE`), accepting is retried after this.
        public var acceptRetryMilliseconds: UInt64 = 100

        public init(upstream: IPv4Endpoint) {
            self.upstream = upstream
        }
    }

    /// What happened on this loop, for tests and the bench's exit line.
    public struct Stats: Sendable, Equatable {
        public var accepted = 0
        /// Tunnels open now.
        public var open = 0
        public var upstreamConnectFailures = 0
        public var connectTimeouts = 0
        public var idleTimeouts = 0
        /// Closed after a reset or other error on either side.
        public var errors = 0
        /// Closed after both directions ended cleanly.
        public var completed = 0
        public var acceptFailures = 0
        public init() {}
    }

    public let configuration: Configuration
    public private(set) var stats = Stats()
    private let listener: Int32
    private var id: HandlerID?
    private var listenerOpen = true
    private var retryScheduled = false

    /// Takes ownership of `listener` (a non-blocking listening socket, `Socket.listen`) and starts
    /// accepting on `reactor`.
    public init(listener: Int32, configuration: Configuration, reactor: Reactor) {
        self.listener = listener
        self.configuration = configuration
        let id = reactor.add(self)
        self.id = id
        reactor.watch(listener, for: id, tag: 0, interest: .readable)
    }

    public func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
        acceptAll(reactor)
    }

    public func timerFired(tag: UInt8, reactor: Reactor) {
        retryScheduled = false
        acceptAll(reactor)
    }

    /// Stops accepting (drain): open tunnels carry on.
    public func closeListener(reactor: Reactor) {
        guard listenerOpen else { return }
        listenerOpen = false
        Socket.close(listener)
    }

    public func shutdown(reactor: Reactor) {
        closeListener(reactor: reactor)
        if let id { reactor.remove(id) }
        id = nil
    }

    private func acceptAll(_ reactor: Reactor) {
        guard listenerOpen else { return }
        while true {
            switch Socket.accept(listener) {
            case let .accepted(client):
                stats.accepted += 1
                open(client, reactor)
            case .wouldBlock:
                return
            case .failed:
                // EMFILE / ENFILE / ENOBUFS: the connection waits in the backlog. Edge-triggered,
                // no new edge may come for it, so look again shortly.
                stats.acceptFailures += 1
                if !retryScheduled, let id {
                    retryScheduled = true
                    reactor.schedule(after: configuration.acceptRetryMilliseconds, for: id)
                }
                return
            }
        }
    }

    private func open(_ client: Int32, _ reactor: Reactor) {
        Socket.setNoDelay(client)
        let upstream: Int32
        let connected: Bool
        switch Socket.connect(to: configuration.upstream) {
        case let .connected(fd):
            upstream = fd
            connected = true
        case let .inProgress(fd):
            upstream = fd
            connected = false
        case .failed:
            stats.upstreamConnectFailures += 1
            Socket.close(client)
            return
        }
        stats.open += 1
        Tunnel.start(client: client, upstream: upstream, connected: connected, forwarder: self, reactor: reactor)
    }

    func tunnelClosed(_ reason: Tunnel.CloseReason) {
        stats.open -= 1
        switch reason {
        case .completed: stats.completed += 1
        case .error: stats.errors += 1
        case .connectFailed: stats.upstreamConnectFailures += 1
        case .connectTimeout: stats.connectTimeouts += 1
        case .idleTimeout: stats.idleTimeouts += 1
        case .shutdown: break
        }
    }
}

@available(*, unavailable)
extension L4Forwarder: Sendable {}
