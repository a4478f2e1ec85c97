import Foundation
import NIOCore
import NIOPosix

/// Where Redis is: `redis://[[user]:password@]host[:port][/db]` (spec/proxy.md). The user and the
/// password are percent-encoded in the URL (`50%25off` is `50%off`, `%3A` a `:`, `%40` an `@`) and
/// decoded exactly once here. Credentials that cannot be decoded, or a user without a password,
/// make the URL invalid rather than "no password": a sidecar never quietly skips AUTH.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int
    /// The ACL user for `AUTH user password` (Redis 6+); nil sends `AUTH password` (the default user).
    public let username: String?
    public let password: String?
    public let database: Int

    public init?(url: String) {
        guard let components = URLComponents(string: url), components.scheme == "redis", let host = components.host, !host.isEmpty
        else { return nil }
        self.host = host
        self.port = components.port ?? 6379
        // `user` / `password` are already decoded: decoding them again turns `%25` back into a lone
        // `%` and fails (nil) on it. Decode the encoded forms once, and refuse what does not decode.
        guard let username = (components.percentEncodedUser ?? "").removingPercentEncoding,
              let password = (components.percentEncodedPassword ?? "").removingPercentEncoding
        else { return nil }
        // `redis://alice@host` names a user but no password: no AUTH could be sent for it.
        guard username.isEmpty || !password.isEmpty else { return nil }
        self.username = username.isEmpty ? nil : username
        self.password = password.isEmpty ? nil : password
        let path = components.path.drop { $0 == "/" }
        guard path.isEmpty || Int(path) != nil else { return nil }
        self.database = Int(path) ?? 0
        guard port > 0, port < 65536, database >= 0 else { return nil }
    }

    /// Without the password (the user is not a secret).
    public var description: String {
        let user = username.map { "\($0.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? "?")@" } ?? ""
        return "redis://\(user)\(host):\(port)/\(database)"
    }
}

/// A Redis connection owned by one event loop: commands are pipelined (replies answer a FIFO of
/// promises), each has a deadline, and the connection is remade with jittered back-off when it is
/// lost. While it is not up, commands fail at once — requests never wait on a Redis that is down.
/// A command that outlives its deadline closes the connection (a stuck server is a down server);
/// the reconnect's handshake (AUTH, SELECT, `onConnect`) is the probe that brings it back.
///
/// Everything here runs on `loop`; call it only from there.
public final class RedisClient {
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case unavailable(String)
        case timedOut
        case server(String)

        public var description: String {
            switch self {
            case let .unavailable(reason): "Redis unavailable: \(reason)"
            case .timedOut: "Redis did not answer in time"
            case let .server(message): "Redis error: \(message)"
            }
        }
    }

    public enum State: Equatable, Sendable {
        case idle, connecting, ready, waiting, closed
    }

    public let loop: any EventLoop
    public let endpoint: RedisEndpoint
    public let timeout: TimeAmount
    /// Run on every new connection after AUTH and SELECT, before it takes commands (e.g. SCRIPT LOAD).
    private var onConnect: ((RedisClient) -> EventLoopFuture<Void>)?
    public private(set) var state = State.idle
    /// Why the last connection attempt or connection failed.
    public private(set) var lastError: String?
    private var channel: (any Channel)?
    private var handler: RedisChannelHandler?
    private var failures = 0
    private var reconnect: Scheduled<Void>?
    /// Commands sent during the handshake go through even though the state is not `ready` yet.
    private var handshaking = false

    /// A change an operator should hear about: the connection became usable (`recovered` when
    /// it had failed before), or it failed for the first time in a row (not on every retry).
    public enum StatusChange: Sendable, Equatable {
        case ready(recovered: Bool)
        case unavailable(reason: String)
    }

    /// Called on the client's loop for each `StatusChange` (the proxy logs them).
    public var onStatusChange: ((StatusChange) -> Void)?
    /// See `RedisBatchTransport.onEndOfTurn`.
    public var onEndOfTurn: (() -> Void)?

    public static let minimumBackoff: TimeAmount = .milliseconds(100)
    public static let maximumBackoff: TimeAmount = .seconds(2)

    public init(loop: any EventLoop, endpoint: RedisEndpoint, timeout: TimeAmount, onConnect: ((RedisClient) -> EventLoopFuture<Void>)? = nil) {
        self.loop = loop
        self.endpoint = endpoint
        self.timeout = timeout
        self.onConnect = onConnect
    }

    public func start() {
        guard state == .idle else { return }
        connect()
    }

    public func close() {
        state = .closed
        reconnect?.cancel()
        watchdog?.cancel()
        watchdog = nil
        channel?.close(promise: nil)
    }

    /// Sends one command; fails at once with `.unavailable` when the connection is not up.
    public func send(_ arguments: [[UInt8]]) -> EventLoopFuture<RESPValue> {
        let receiver = PromiseReceiver(loop.makePromise(of: RESPValue.self))
        var buffer = buffer(capacity: 64)
        RESPCommand.format(RESPCommand.Arguments(arguments), into: &buffer)
        send(formatted: buffer, to: receiver)
        return receiver.promise.futureResult
    }

    /// Sends one command already formatted as RESP; its reply goes to `receiver` read in place (no
    /// `RESPValue` built), or its failure. Fails `receiver` at once when the connection is not up.
    func send(formatted command: ByteBuffer, to receiver: any RedisReplyReceiver) {
        guard state == .ready || handshaking, let channel, let handler else {
            receiver.failed(Failure.unavailable(lastError ?? "not connected"))
            return
        }
        handler.enqueue(receiver, deadline: .now() + timeout)
        armWatchdog()
        channel.writeAndFlush(command, promise: nil)
    }

    /// A buffer from the connection's allocator for `send(formatted:to:)`.
    func buffer(capacity: Int) -> ByteBuffer {
        channel?.allocator.buffer(capacity: capacity) ?? ByteBufferAllocator().buffer(capacity: capacity)
    }

    public func send(_ arguments: String...) -> EventLoopFuture<RESPValue> {
        send(arguments.map { Array($0.utf8) })
    }

    /// One timer per connection instead of one per command: replies come in order, so only the
    /// oldest pending command can be the first to time out. It checks every `timeout / 4` (at least
    /// 2 ms) while commands are pending, so a deadline is enforced within a quarter of the timeout.
    private var watchdog: Scheduled<Void>?

    private func armWatchdog() {
        guard watchdog == nil else { return }
        let period = max(TimeAmount.nanoseconds(timeout.nanoseconds / 4), .milliseconds(2))
        watchdog = loop.assumeIsolated().scheduleTask(in: period) { [self] in
            watchdog = nil
            guard let handler, let oldest = handler.oldestDeadline else { return }
            if oldest <= .now() {
                // A server that does not answer is down: fail what is queued, drop the connection, retry.
                lastError = "a command timed out"
                handler.failAll(Failure.timedOut)
                channel?.close(promise: nil)
            } else {
                armWatchdog()
            }
        }
    }

    /// How long a TCP connect may take: the command timeout, but never under 200 ms, so that a
    /// tight `--redis-timeout` (50 ms) does not turn a slow-but-working handshake into an endless
    /// retry loop. Nothing waits on it: while connecting, commands fail at once.
    public var connectTimeout: TimeAmount { max(timeout, .milliseconds(200)) }

    private func connect() {
        state = .connecting
        ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RedisChannelHandler()) }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case let .success(channel):
                    guard state != .closed, let handler = try? channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self)
                    else { channel.close(promise: nil); return }
                    self.channel = channel
                    self.handler = handler
                    channel.closeFuture.assumeIsolated().whenComplete { [self] _ in connectionLost(channel) }
                    handshake()
                case let .failure(error):
                    failed("connect: \(error)")
                }
            }
    }

    private func handshake() {
        handshaking = true
        var steps: [() -> EventLoopFuture<RESPValue>] = []
        if let password = endpoint.password {
            if let username = endpoint.username {
                steps.append { [self] in send("AUTH", username, password) }
            } else {
                steps.append { [self] in send("AUTH", password) }
            }
        }
        if endpoint.database != 0 { steps.append { [self] in send("SELECT", String(endpoint.database)) } }
        func run(_ index: Int) {
            guard index < steps.count else {
                let extra = onConnect?(self) ?? loop.makeSucceededVoidFuture()
                extra.assumeIsolated().whenComplete { [self] result in
                    handshaking = false
                    switch result {
                    case .success:
                        state = .ready
                        let recovered = failures > 0
                        failures = 0
                        lastError = nil
                        onStatusChange?(.ready(recovered: recovered))
                    case let .failure(error):
                        lastError = "handshake: \(error)"
                        channel?.close(promise: nil)
                    }
                }
                return
            }
            steps[index]().assumeIsolated().whenComplete { [self] result in
                switch result {
                case .success(.error(let message)):
                    handshaking = false
                    lastError = "handshake: \(message)"
                    channel?.close(promise: nil)
                case .success:
                    run(index + 1)
                case let .failure(error):
                    handshaking = false
                    lastError = "handshake: \(error)"
                    channel?.close(promise: nil)
                }
            }
        }
        run(0)
    }

    private func connectionLost(_ lost: any Channel) {
        guard channel === lost else { return }
        channel = nil
        handler?.failAll(Failure.unavailable(lastError ?? "connection closed"))
        handler = nil
        handshaking = false
        failed(lastError ?? "connection closed")
    }

    private func failed(_ reason: String) {
        lastError = reason
        guard state != .closed else { return }
        state = .waiting
        failures += 1
        if failures == 1 { onStatusChange?(.unavailable(reason: reason)) }
        // Exponential back-off with full jitter between half and all of it.
        let exponent = min(failures - 1, 5)
        let ceiling = min(Self.minimumBackoff.nanoseconds << Int64(exponent), Self.maximumBackoff.nanoseconds)
        let delay = TimeAmount.nanoseconds(Int64.random(in: (ceiling / 2)...ceiling))
        reconnect = loop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard state == .waiting else { return }
            connect()
        }
    }
}

@available(*, unavailable)
extension RedisClient: Sendable {}

extension RedisClient: RedisBatchTransport {
    public var isUp: Bool { state == .ready }

    /// A task queued on the loop: it runs after what the loop is doing now (the reads of this turn
    /// that are already queued run before it).
    public func requestEndOfTurn() {
        guard let onEndOfTurn else { return }
        loop.assumeIsolated().execute(onEndOfTurn)
    }

    public func setConnectCommand(_ arguments: [String], check: @escaping (RESPValue) -> String?) {
        let arguments = arguments.map { Array($0.utf8) }
        onConnect = { client in
            client.send(arguments).assumeIsolated().flatMapThrowing { reply in
                if let failure = check(reply) { throw Failure.server(failure) }
            }.nonisolated()
        }
    }

    public func send(_ command: RESPCommand.Arguments, to receiver: any RedisReplyReceiver) {
        var buffer = buffer(capacity: command.byteCount + 16 * command.count)
        RESPCommand.format(command, into: &buffer)
        send(formatted: buffer, to: receiver)
    }
}

/// The reply as a `RESPValue`, for `send(_:)`.
private final class PromiseReceiver: RedisReplyReceiver {
    let promise: EventLoopPromise<RESPValue>

    init(_ promise: EventLoopPromise<RESPValue>) {
        self.promise = promise
    }

    func received(_ reply: RawReply) {
        promise.succeed(reply.value)
    }

    func failed(_ error: any Error) {
        promise.fail(error)
    }
}

/// Parses replies with hiredis's reader and completes the oldest pending command with each.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private struct Pending {
        let receiver: any RedisReplyReceiver
        let deadline: NIODeadline
    }

    private let reader = RESPReader()
    private var pending: CircularBuffer<Pending> = []

    func enqueue(_ receiver: any RedisReplyReceiver, deadline: NIODeadline) {
        pending.append(Pending(receiver: receiver, deadline: deadline))
    }

    var oldestDeadline: NIODeadline? { pending.first?.deadline }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try buffer.withUnsafeReadableBytes { try reader.feed($0) }
            while true {
                // A reply nobody asked for means the stream cannot be trusted any more.
                let delivered = try reader.nextRaw { reply -> Bool in
                    guard let next = pending.popFirst() else { return false }
                    next.receiver.received(reply)
                    return true
                }
                guard let delivered else { break }
                guard delivered else {
                    context.close(promise: nil)
                    return
                }
            }
        } catch {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func failAll(_ error: any Error) {
        while let next = pending.popFirst() {
            next.receiver.failed(error)
        }
    }
}

@available(*, unavailable)
extension RedisChannelHandler: Sendable {}
