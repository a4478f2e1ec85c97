/// One forwarded connection: the client socket, its upstream socket, and a `ByteRelay` each way.
/// The tunnel owns both descriptors and closes them exactly once; its slabs go back to the pool
/// when it closes.
///
/// - Connecting: the client is read (up to one slab is held) but nothing is written upstream
///   until the upstream's writable edge and `SO_ERROR` say the connect succeeded; a failure or the
///   connect timeout closes the client.
/// - A reset or error on either side closes both.
/// - An end of file on one side is passed on as a half-close; when both directions have ended,
///   both sockets close.
final class Tunnel: LoopHandler {
    enum CloseReason {
        case completed, error, connectFailed, connectTimeout, idleTimeout, shutdown
    }

    private static let clientTag: UInt8 = 0
    private static let upstreamTag: UInt8 = 1
    private static let connectTimerTag: UInt8 = 0
    private static let idleTimerTag: UInt8 = 1

    private let client: Int32
    private let upstream: Int32
    private let forwarder: L4Forwarder
    private var id = HandlerID(slot: 0, generation: 0)
    private var connecting: Bool
    private var closed = false
    /// Client → upstream.
    private var outbound = ByteRelay()
    /// Upstream → client.
    private var inbound = ByteRelay()
    private var connectTimer: TimerID?
    private var idleTimer: TimerID?
    /// When a byte last moved (idle timeout: the timer checks this when it fires, instead of
    /// being rescheduled on every event).
    private var lastActivity: UInt64

    private init(client: Int32, upstream: Int32, connected: Bool, forwarder: L4Forwarder, now: UInt64) {
        self.client = client
        self.upstream = upstream
        self.forwarder = forwarder
        connecting = !connected
        lastActivity = now
    }

    static func start(client: Int32, upstream: Int32, connected: Bool, forwarder: L4Forwarder, reactor: Reactor) {
        let tunnel = Tunnel(client: client, upstream: upstream, connected: connected, forwarder: forwarder, now: reactor.now)
        let id = reactor.add(tunnel)
        tunnel.id = id
        if connected { Socket.setNoDelay(upstream) }
        if reactor.watch(client, for: id, tag: clientTag) != 0 || reactor.watch(upstream, for: id, tag: upstreamTag) != 0 {
            tunnel.close(.error, reactor)
            return
        }
        let configuration = forwarder.configuration
        if !connected {
            tunnel.connectTimer = reactor.schedule(after: configuration.connectTimeoutMilliseconds, for: id, tag: connectTimerTag)
        }
        if configuration.idleTimeoutMilliseconds > 0 {
            tunnel.idleTimer = reactor.schedule(after: configuration.idleTimeoutMilliseconds, for: id, tag: idleTimerTag)
        }
    }

    func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
        if tag == Self.clientTag {
            outbound.noteSource(readiness)
            if readiness.isWritable { inbound.destinationWritable = true }
        } else {
            if connecting {
                guard readiness.isWritable else { return }
                if Socket.pendingConnectError(upstream) != nil {
                    close(.connectFailed, reactor)
                    return
                }
                connecting = false
                Socket.setNoDelay(upstream)
                if let connectTimer { reactor.cancel(connectTimer) }
                connectTimer = nil
            }
            inbound.noteSource(readiness)
            if readiness.isWritable { outbound.destinationWritable = true }
        }
        lastActivity = reactor.now
        pump(reactor)
    }

    private func pump(_ reactor: Reactor) {
        let pool = reactor.pool
        let up = outbound.pump(from: client, to: upstream, pool: pool, destinationReady: !connecting)
        if case .failed = up {
            close(.error, reactor)
            return
        }
        if connecting { return }
        let down = inbound.pump(from: upstream, to: client, pool: pool)
        switch (up, down) {
        case (_, .failed): close(.error, reactor)
        case (.finished, .finished): close(.completed, reactor)
        default: break
        }
    }

    func timerFired(tag: UInt8, reactor: Reactor) {
        if tag == Self.connectTimerTag {
            connectTimer = nil
            if connecting { close(.connectTimeout, reactor) }
            return
        }
        idleTimer = nil
        let timeout = forwarder.configuration.idleTimeoutMilliseconds
        let idle = reactor.now &- lastActivity
        if idle >= timeout {
            close(.idleTimeout, reactor)
        } else {
            idleTimer = reactor.schedule(after: timeout - idle, for: id, tag: Self.idleTimerTag)
        }
    }

    func shutdown(reactor: Reactor) {
        close(.shutdown, reactor)
    }

    private func close(_ reason: CloseReason, _ reactor: Reactor) {
        guard !closed else { return }
        closed = true
        if let connectTimer { reactor.cancel(connectTimer) }
        if let idleTimer { reactor.cancel(idleTimer) }
        connectTimer = nil
        idleTimer = nil
        Socket.close(client)
        Socket.close(upstream)
        outbound.release(to: reactor.pool)
        inbound.release(to: reactor.pool)
        forwarder.tunnelClosed(reason)
        reactor.remove(id)
    }
}

@available(*, unavailable)
extension Tunnel: Sendable {}
