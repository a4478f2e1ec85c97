import Core
import TollgateLoop

/// `RedisBuckets`' transport on the data path's own loop (issue 16, docs/architecture.md "Redis on
/// the loop"): a `LoopRedisConnection` configured from the `RedisEndpoint` the proxy already parses
/// (host name or address, `AUTH` with a password or a user and password, `SELECT db`), the end of
/// the turn from `Reactor.runAtEndOfTurn`, and replies handed to `RedisBuckets` as hiredis parsed
/// them (`RawReply` over the reader's own tree: no `RedisReply` is built on the hot path).
///
/// It is the connection's receiver for every command it sends and keeps the batches' receivers in
/// a FIFO of its own (the connection answers in order): no allocation per command. Confined to
/// its reactor's thread.
public final class LoopRedisTransport: RedisBatchTransport, LoopRedisReceiver, LoopHandler {
    public let endpoint: RedisEndpoint
    public let configuration: LoopRedisConnection.Configuration
    /// The connection, once `start()` has made it (its `stats` count commands and writes).
    public private(set) var connection: LoopRedisConnection?
    public var onStatusChange: ((RedisClient.StatusChange) -> Void)?
    public var onEndOfTurn: (() -> Void)?
    private unowned let reactor: Reactor
    private var id: HandlerID?
    private var connectCommands: [LoopRedisConnection.ConnectCommand] = []
    private var receivers: [(any RedisReplyReceiver)?] = []
    private var receiversHead = 0
    private var closed = false

    /// The connection settings for `endpoint` as SwiftNIO's `RedisClient` uses them: `timeout` per
    /// command, a connect timeout of the same but at least 200 ms, back-off 100 ms doubling to 2 s.
    public static func configuration(for endpoint: RedisEndpoint, timeoutMilliseconds: UInt64) -> LoopRedisConnection.Configuration {
        var configuration = LoopRedisConnection.Configuration(host: endpoint.host, port: UInt16(truncatingIfNeeded: endpoint.port))
        configuration.username = endpoint.username
        configuration.password = endpoint.password
        configuration.database = endpoint.database
        configuration.commandTimeoutMilliseconds = max(timeoutMilliseconds, 1)
        configuration.connectTimeoutMilliseconds = max(timeoutMilliseconds, 200)
        configuration.reconnectMinimumMilliseconds = 100
        configuration.reconnectMaximumMilliseconds = 2_000
        return configuration
    }

    /// Not connected until `start()`. Call on the reactor's thread.
    public convenience init(endpoint: RedisEndpoint, timeoutMilliseconds: UInt64, reactor: Reactor) {
        let configuration = Self.configuration(for: endpoint, timeoutMilliseconds: timeoutMilliseconds)
        self.init(endpoint: endpoint, configuration: configuration, reactor: reactor)
    }

    /// With connection settings of the caller's (`configuration(for:timeoutMilliseconds:)`, adjusted).
    public init(endpoint: RedisEndpoint, configuration: LoopRedisConnection.Configuration, reactor: Reactor) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.reactor = reactor
        receivers.reserveCapacity(16)
        id = reactor.add(self)
    }

    public var isUp: Bool { connection?.state == .ready }

    public var lastError: String? { connection?.lastError }

    public func requestEndOfTurn() {
        guard let id else { return }
        reactor.runAtEndOfTurn(id)
    }

    public func turnEnded(tag: UInt8, reactor: Reactor) {
        onEndOfTurn?()
    }

    public func setConnectCommand(_ arguments: [String], check: @escaping (RESPValue) -> String?) {
        connectCommands.append(
            LoopRedisConnection.ConnectCommand(arguments) { reply in
                check(RawReply(hiredisReply: reply.pointer).value)
            })
    }

    public func send(_ command: RESPCommand.Arguments, to receiver: any RedisReplyReceiver) {
        guard let connection, connection.state == .ready else {
            receiver.failed(RedisClient.Failure.unavailable(lastError ?? "not connected"))
            return
        }
        receivers.append(receiver)
        RESPCommand.withFormatted(command) { connection.send(formatted: $0, to: self) }
    }

    public func start() {
        guard connection == nil, !closed else { return }
        connection = LoopRedisConnection(
            configuration: configuration, reactor: reactor, connectCommands: connectCommands,
            onStatusChange: { [weak self] change in
                switch change {
                case let .ready(recovered): self?.onStatusChange?(.ready(recovered: recovered))
                case let .unavailable(reason): self?.onStatusChange?(.unavailable(reason: reason))
                }
            })
    }

    /// Closes the connection for good. The transport stays registered with its reactor (until it
    /// stops), so a take made after this is still refused at the end of its turn, not left waiting.
    public func close() {
        guard !closed else { return }
        closed = true
        connection?.close()
    }

    // MARK: LoopRedisReceiver (every command this transport sent, in order)

    public func received(_ reply: LoopRedisReply) {
        nextReceiver()?.received(RawReply(hiredisReply: reply.pointer))
    }

    public func failed(_ failure: LoopRedisConnection.Failure) {
        let error: RedisClient.Failure =
            switch failure {
            case .unavailable: .unavailable(lastError ?? "connection closed")
            case .timedOut: .timedOut
            }
        nextReceiver()?.failed(error)
    }

    /// Taken off the FIFO before it is told, so that what it sends next (`EVAL` after `NOSCRIPT`)
    /// queues behind.
    private func nextReceiver() -> (any RedisReplyReceiver)? {
        guard receiversHead < receivers.count else { return nil }
        let receiver = receivers[receiversHead]
        receivers[receiversHead] = nil
        receiversHead += 1
        if receiversHead == receivers.count {
            receivers.removeAll(keepingCapacity: true)
            receiversHead = 0
        } else if receiversHead >= 64, receiversHead * 2 >= receivers.count {
            receivers.removeFirst(receiversHead)
            receiversHead = 0
        }
        return receiver
    }

    // MARK: LoopHandler (for the end of the turn; the connection has its own descriptor)

    public func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {}

    public func timerFired(tag: UInt8, reactor: Reactor) {}

    public func shutdown(reactor: Reactor) {
        close()
        if let id { reactor.remove(id) }
        id = nil
    }
}

@available(*, unavailable)
extension LoopRedisTransport: Sendable {}

extension RedisBuckets {
    /// The rate-limit store of one loop of the data path: a `LoopRedisTransport` to `endpoint` on
    /// `reactor`, not started (set `onStatusChange`, then `start()`). Call on the reactor's thread.
    public convenience init(reactor: Reactor, endpoint: RedisEndpoint, timeoutMilliseconds: UInt64) {
        self.init(transport: LoopRedisTransport(endpoint: endpoint, timeoutMilliseconds: timeoutMilliseconds, reactor: reactor))
    }
}
