import NIOCore

/// The client connections of one event loop, swept for silence: one repeating timer per loop
/// instead of an `IdleStateHandler` per connection (a handler every read passed through, and a timer
/// per connection). A connection's last read is a field it sets itself; the sweep tells the ones
/// silent for `timeout` (within one sweep interval, a fifth of the timeout, at most a second), and
/// a connection that stays open is told again a timeout later, as `IdleStateHandler` would.
final class IdleConnections {
    let timeout: TimeAmount
    let interval: TimeAmount
    private var connections: [ObjectIdentifier: any IdleConnection] = [:]
    private var sweeper: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
        self.interval = .nanoseconds(max(min(timeout.nanoseconds / 5, 1_000_000_000), 10_000_000))
    }

    func start(on loop: any EventLoop) {
        sweeper = loop.assumeIsolated().scheduleTask(in: interval) { [self] in
            sweep(now: .now())
            start(on: loop)
        }
    }

    func stop() {
        sweeper?.cancel()
        sweeper = nil
    }

    func add(_ connection: some IdleConnection) {
        connections[ObjectIdentifier(connection)] = connection
    }

    func remove(_ connection: AnyObject) {
        connections.removeValue(forKey: ObjectIdentifier(connection))
    }

    var count: Int { connections.count }

    /// Tells every connection whose last read is `timeout` old; each decides (a connection waiting
    /// on its upstream is not silent) and starts a new period.
    func sweep(now: NIODeadline) {
        let cutoff = now - timeout
        var silent: [any IdleConnection] = []
        for connection in connections.values where connection.lastRead <= cutoff {
            silent.append(connection)
        }
        for connection in silent {
            connection.lastRead = now
            connection.idleTimeoutPassed()
        }
    }
}

@available(*, unavailable)
extension IdleConnections: Sendable {}

/// A client connection the sweep watches.
protocol IdleConnection: AnyObject {
    /// When the connection last read anything (set by the connection on every read).
    var lastRead: NIODeadline { get set }
    func idleTimeoutPassed()
}
