import CHiredis
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// A reply from Redis, as hiredis's reader parsed it.
public enum RedisReply: Equatable, Sendable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RedisReply])
}

/// hiredis's parsed reply, read in place: valid only during `LoopRedisReceiver.received` (it is
/// freed right after). No copy is made unless `value` is asked for.
public struct LoopRedisReply {
    /// hiredis's `redisReply *`, for a reader that walks it itself (Core's `RawReply`).
    public let pointer: UnsafeMutableRawPointer

    var node: UnsafeMutablePointer<redisReply> { pointer.assumingMemoryBound(to: redisReply.self) }

    /// The message of an error reply; nil for any other kind.
    public var error: String? {
        guard node.pointee.type == REDIS_REPLY_ERROR else { return nil }
        guard let str = node.pointee.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: Int(node.pointee.len)), as: UTF8.self)
    }

    /// The whole reply, copied.
    public var value: RedisReply { LoopRedisConnection.convert(node) }
}

/// Who waits for a command's reply without a closure per command (a connection's owner, such as
/// `LoopRedisTransport`, is the receiver of all its commands): told once, on the loop, in command
/// order.
public protocol LoopRedisReceiver: AnyObject {
    func received(_ reply: LoopRedisReply)
    func failed(_ failure: LoopRedisConnection.Failure)
}

/// One Redis connection owned by one loop (issue 16, "Redis on the loop"): non-blocking, commands
/// formatted by hiredis (`redisFormatCommandArgv`) and pipelined — every command sent in one loop
/// turn goes out in one write at the end of the turn, replies are matched to commands in order
/// by hiredis's reader. The fail modes are today's client's (Sources/Core/Redis/RedisClient.swift):
///
/// - While the connection is not up, a command fails at once with `.unavailable`: a request never
///   waits on a Redis that is down.
/// - A command that outlives `commandTimeoutMilliseconds` fails with `.timedOut`, and so does
///   every command behind it: a stuck server is a down server, so the connection is closed and
///   made again.
/// - A lost connection (reset, end of file, a protocol error) fails what is in flight with
///   `.unavailable` and is made again after a jittered, doubling back-off.
///
/// Every new connection does its handshake before it takes commands (state `.handshaking`, where
/// `send` still fails at once): `AUTH` (password, or user and password) and `SELECT` from the
/// configuration, then the `connectCommands` (the rate-limit script's `SCRIPT LOAD`), all pipelined
/// in one write; any error reply, or a `check` that refuses, drops the connection and counts as a
/// failed attempt (so a wrong password is retried with back-off and reported once).
///
/// Completions run on the loop, in command order; a `.unavailable` for a command sent while the
/// connection is down runs before `send` returns. Not thread-safe: one per loop.
public final class LoopRedisConnection: LoopHandler {
    public struct Configuration: Sendable {
        /// The address connected to. With `host` set, its address is what `host` resolves to (its
        /// port is used as is).
        public var endpoint: IPv4Endpoint
        /// A host name, resolved to an IPv4 address (getaddrinfo) on every connection attempt, so a
        /// Redis that moved is found again. getaddrinfo blocks the loop while it runs: acceptable
        /// only because it runs at (re)connect, at most once per back-off period, and never while a
        /// command waits (none is in flight then); a numeric address never gets here.
        public var host: String?
        /// `AUTH password` (or `AUTH username password`, Redis 6 ACL users) on every connection.
        public var username: String?
        public var password: String?
        /// `SELECT database` on every connection when not 0.
        public var database = 0
        public var commandTimeoutMilliseconds: UInt64 = 50
        public var connectTimeoutMilliseconds: UInt64 = 1_000
        public var reconnectMinimumMilliseconds: UInt64 = 25
        public var reconnectMaximumMilliseconds: UInt64 = 2_000

        public init(endpoint: IPv4Endpoint) {
            self.endpoint = endpoint
        }

        /// `host` may be a dotted IPv4 address (used as is) or a name (resolved at each connect).
        public init(host: String, port: UInt16) {
            if let address = IPv4Endpoint("\(host):\(port)") {
                self.init(endpoint: address)
            } else {
                self.init(endpoint: IPv4Endpoint(addressNetworkOrder: 0, port: port))
                self.host = host
            }
        }
    }

    /// A command every new connection runs after AUTH and SELECT, before it is `.ready`. `check`
    /// reads the reply: nil when it is fine, or why the connection must be dropped.
    public struct ConnectCommand {
        public var arguments: [[UInt8]]
        public var check: (LoopRedisReply) -> String?

        public init(_ arguments: [String], check: @escaping (LoopRedisReply) -> String?) {
            self.arguments = arguments.map { Array($0.utf8) }
            self.check = check
        }
    }

    /// A change an operator should hear about (as `RedisClient.StatusChange`): the connection is
    /// ready (`recovered` when attempts had failed before), or it failed for the first time in a
    /// row — not on every retry of the same outage.
    public enum StatusChange: Equatable, Sendable {
        case ready(recovered: Bool)
        case unavailable(reason: String)
    }

    public enum Failure: Error, Equatable, Sendable {
        case unavailable
        case timedOut
    }

    public enum State: Equatable, Sendable {
        /// `handshaking`: connected, AUTH / SELECT / connect commands under way.
        case connecting, handshaking, ready, waitingToReconnect, closed
    }

    public struct Stats: Equatable, Sendable {
        /// Commands sent, the handshake's included (AUTH, SELECT, connect commands).
        public var commands = 0
        public var replies = 0
        public var timeouts = 0
        /// Connections that completed their handshake (became `.ready`).
        public var connectionsMade = 0
        public var connectionsLost = 0
        /// Writes: fewer than commands when commands of one turn share one.
        public var writes = 0

        public init() {}
    }

    public typealias Completion = (Result<RedisReply, Failure>) -> Void

    /// Who is told of a command's reply: a closure (tests, occasional commands), a receiver (the
    /// hot path: no allocation per command), or the handshake itself (step `-1` AUTH, `-2` SELECT,
    /// `0...` the connect commands).
    private enum Waiter {
        case closure(Completion)
        case receiver(any LoopRedisReceiver)
        case handshake(Int)
    }

    private struct Pending {
        var waiter: Waiter
        var deadline: UInt64
    }

    private static let commandTimerTag: UInt8 = 0
    private static let reconnectTimerTag: UInt8 = 1
    private static let connectTimerTag: UInt8 = 2

    public let configuration: Configuration
    public let connectCommands: [ConnectCommand]
    public private(set) var state = State.connecting
    public private(set) var stats = Stats()
    /// Why the last connection attempt or connection failed; nil while ready.
    public private(set) var lastError: String?
    /// Called on the loop for each `StatusChange` (the proxy logs them once per outage).
    public var onStatusChange: ((StatusChange) -> Void)?
    private unowned let reactor: Reactor
    private var id: HandlerID?
    private var fd: Int32 = -1
    /// Tags events with the connection attempt, so an event of a closed socket is never taken for
    /// one of its successor's.
    private var attempt: UInt8 = 0
    private var writable = false
    private var outgoing: [UInt8] = []
    private var written = 0
    private var flushRequested = false
    private var pending: [Pending] = []
    private var pendingHead = 0
    private var reader: UnsafeMutablePointer<redisReader>
    private var commandTimer: TimerID?
    private var stateTimer: TimerID?
    /// Failed attempts in a row (reset once a handshake completes).
    private var failures = 0
    private var handshakeSteps = 0
    /// The address last connected to (`configuration.endpoint`, or what `host` resolved to).
    private var address: IPv4Endpoint
    private var jitter: UInt64

    /// Starts connecting at once; `send` may be called right away (it fails until ready). A failure
    /// of the very first attempt is reported to `onStatusChange` given here (a property set after
    /// `init` may miss it).
    public init(
        configuration: Configuration, reactor: Reactor, connectCommands: [ConnectCommand] = [],
        onStatusChange: ((StatusChange) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.connectCommands = connectCommands
        self.onStatusChange = onStatusChange
        self.address = configuration.endpoint
        self.reactor = reactor
        guard let reader = redisReaderCreate() else { fatalError("redisReaderCreate: out of memory") }
        self.reader = reader
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        jitter = (UInt64(truncatingIfNeeded: now.tv_nsec) ^ (UInt64(truncatingIfNeeded: getpid()) << 32)) | 1
        outgoing.reserveCapacity(4_096)
        pending.reserveCapacity(64)
        id = reactor.add(self)
        connect()
    }

    deinit {
        redisReaderFree(reader)
    }

    public var inFlight: Int { pending.count - pendingHead }

    /// Ready, or connected and doing its handshake: bytes move.
    private var isConnected: Bool { state == .ready || state == .handshaking }

    // MARK: Commands

    /// Sends one command (binary-safe arguments); `completion` gets its reply, in order.
    public func send(_ arguments: [[UInt8]], completion: @escaping Completion) {
        guard state == .ready else {
            completion(.failure(.unavailable))
            return
        }
        append(arguments)
        enqueue(.closure(completion))
    }

    public func send(_ arguments: [String], completion: @escaping Completion) {
        send(arguments.map { Array($0.utf8) }, completion: completion)
    }

    /// Sends one command already formatted as RESP (copied into the outgoing buffer); `receiver` is
    /// told of its reply, in order. While not ready, `receiver` is failed before this returns.
    public func send(formatted command: UnsafeRawBufferPointer, to receiver: any LoopRedisReceiver) {
        guard state == .ready else {
            receiver.failed(.unavailable)
            return
        }
        outgoing.append(contentsOf: command)
        enqueue(.receiver(receiver))
    }

    /// The command's bytes are in `outgoing`: wait for its reply, and write at the end of the turn.
    private func enqueue(_ waiter: Waiter) {
        guard let id else { return }
        stats.commands += 1
        let deadline = reactor.now &+ configuration.commandTimeoutMilliseconds
        pending.append(Pending(waiter: waiter, deadline: deadline))
        if commandTimer == nil {
            commandTimer = reactor.schedule(after: configuration.commandTimeoutMilliseconds, for: id, tag: Self.commandTimerTag)
        }
        if !flushRequested {
            flushRequested = true
            reactor.runAtEndOfTurn(id)
        }
    }

    private func append(_ arguments: [[UInt8]]) {
        var pointers = [UnsafePointer<CChar>?](repeating: nil, count: arguments.count)
        var lengths = [Int](repeating: 0, count: arguments.count)
        var output: UnsafeMutablePointer<CChar>?
        // Every argument stays alive across the call (nested closures over the array's storage).
        func format(_ index: Int) -> Int32 {
            if index == arguments.count {
                return pointers.withUnsafeMutableBufferPointer { argv in
                    lengths.withUnsafeMutableBufferPointer { argvlen in
                        redisFormatCommandArgv(&output, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
                    }
                }
            }
            return arguments[index].withUnsafeBufferPointer { bytes in
                pointers[index] = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self)
                lengths[index] = bytes.count
                return format(index + 1)
            }
        }
        let length = format(0)
        guard length > 0, let output else { fatalError("redisFormatCommandArgv: out of memory") }
        outgoing.append(contentsOf: UnsafeRawBufferPointer(start: output, count: Int(length)))
        redisFreeCommand(output)
    }

    public func turnEnded(tag: UInt8, reactor: Reactor) {
        flushRequested = false
        flush()
    }

    private func flush() {
        guard isConnected else { return }
        while writable, written < outgoing.count {
            let result = outgoing.withUnsafeBytes { bytes in
                Socket.write(fd, from: bytes.baseAddress! + written, count: bytes.count - written)
            }
            switch result {
            case let .transferred(n):
                stats.writes += 1
                written += n
                if written < outgoing.count { writable = false }
            case .wouldBlock:
                writable = false
            case .endOfFile, .reset:
                connectionLost(.unavailable, reason: "write: connection reset")
                return
            case let .failed(code):
                connectionLost(.unavailable, reason: "write: \(Self.describe(errno: code))")
                return
            }
        }
        if written == outgoing.count {
            outgoing.removeAll(keepingCapacity: true)
            written = 0
        }
    }

    // MARK: Events

    public func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
        guard tag == attempt, fd >= 0 else { return }
        if state == .connecting {
            guard readiness.isWritable else { return }
            if let code = Socket.pendingConnectError(fd) {
                connectionLost(.unavailable, reason: "connect to \(address): \(Self.describe(errno: code))")
                return
            }
            if let stateTimer { reactor.cancel(stateTimer) }
            stateTimer = nil
            Socket.setNoDelay(fd)
            beginHandshake()
            guard isConnected else { return }
        }
        if readiness.isWritable {
            writable = true
            flush()
        }
        if readiness.isReadable, isConnected { readReplies(peerClosed: readiness.isPeerClosed) }
    }

    // MARK: Handshake

    /// AUTH, SELECT and the connect commands, pipelined (the writable edge that completed the
    /// connect writes them at once); ready when every reply has come back good.
    private func beginHandshake() {
        state = .handshaking
        handshakeSteps = 0
        if let password = configuration.password {
            let auth = configuration.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            startHandshakeStep(auth.map { Array($0.utf8) }, step: -1)
        }
        if configuration.database != 0 {
            startHandshakeStep([Array("SELECT".utf8), Array(String(configuration.database).utf8)], step: -2)
        }
        for (index, command) in connectCommands.enumerated() {
            startHandshakeStep(command.arguments, step: index)
        }
        if handshakeSteps == 0 { becomeReady() }
    }

    private func startHandshakeStep(_ arguments: [[UInt8]], step: Int) {
        handshakeSteps += 1
        append(arguments)
        enqueue(.handshake(step))
    }

    /// One handshake reply; false when it failed the connection.
    private func handshakeReplied(_ reply: LoopRedisReply, step: Int) -> Bool {
        let refusal: String?
        switch step {
        case -1: refusal = reply.error.map { "AUTH: \($0)" }
        case -2: refusal = reply.error.map { "SELECT \(configuration.database): \($0)" }
        default: refusal = connectCommands[step].check(reply)
        }
        if let refusal {
            connectionLost(.unavailable, reason: "handshake: \(refusal)")
            return false
        }
        handshakeSteps -= 1
        if handshakeSteps == 0 { becomeReady() }
        return true
    }

    private func becomeReady() {
        state = .ready
        let recovered = failures > 0
        failures = 0
        lastError = nil
        stats.connectionsMade += 1
        onStatusChange?(.ready(recovered: recovered))
    }

    private func readReplies(peerClosed: Bool) {
        let pool = reactor.pool
        let slab = pool.acquire()
        defer { pool.release(slab) }
        while true {
            switch Socket.read(fd, into: slab, count: pool.slabSize) {
            case let .transferred(n):
                guard redisReaderFeed(reader, slab.assumingMemoryBound(to: CChar.self), n) == REDIS_OK else {
                    connectionLost(.unavailable, reason: "protocol error: \(readerError())")
                    return
                }
                guard deliverReplies() else { return }
                if n < pool.slabSize, !peerClosed { return }
            case .wouldBlock:
                return
            case .endOfFile:
                connectionLost(.unavailable, reason: "connection closed by Redis")
                return
            case .reset:
                connectionLost(.unavailable, reason: "connection reset")
                return
            case let .failed(code):
                connectionLost(.unavailable, reason: "read: \(Self.describe(errno: code))")
                return
            }
        }
    }

    /// Hands every complete reply to its command; false when the connection was dropped.
    private func deliverReplies() -> Bool {
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
                connectionLost(.unavailable, reason: "protocol error: \(readerError())")
                return false
            }
            guard let raw else { return true }
            defer { freeReplyObject(raw) }
            guard pendingHead < pending.count else {
                // A reply nobody asked for: the stream is out of step.
                connectionLost(.unavailable, reason: "protocol error: a reply nobody asked for")
                return false
            }
            let waiter = pending[pendingHead].waiter
            // Drop the waiter's references now (a case without payload holds nothing).
            pending[pendingHead].waiter = .handshake(0)
            pendingHead += 1
            compactPending()
            stats.replies += 1
            let reply = LoopRedisReply(pointer: raw)
            switch waiter {
            case let .receiver(receiver):
                receiver.received(reply)
            case let .closure(completion):
                completion(.success(reply.value))
            case let .handshake(step):
                guard handshakeReplied(reply, step: step) else { return false }
            }
            if !isConnected { return false }
        }
    }

    private func readerError() -> String {
        withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    static func describe(errno code: Int32) -> String {
        String(cString: strerror(code))
    }

    private func compactPending() {
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        } else if pendingHead >= 64, pendingHead * 2 >= pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    public func timerFired(tag: UInt8, reactor: Reactor) {
        switch tag {
        case Self.commandTimerTag:
            commandTimer = nil
            guard isConnected, pendingHead < pending.count, let id else { return }
            let deadline = pending[pendingHead].deadline
            if deadline <= reactor.now {
                stats.timeouts += 1
                connectionLost(.timedOut, reason: state == .handshaking ? "handshake: a command timed out" : "a command timed out")
            } else {
                commandTimer = reactor.schedule(after: deadline - reactor.now, for: id, tag: Self.commandTimerTag)
            }
        case Self.reconnectTimerTag:
            stateTimer = nil
            if state == .waitingToReconnect { connect() }
        default:
            stateTimer = nil
            if state == .connecting { connectionLost(.unavailable, reason: "connect to \(address): timed out") }
        }
    }

    public func shutdown(reactor: Reactor) {
        close()
    }

    /// Closes the connection for good; what is in flight fails with `.unavailable`.
    public func close() {
        guard state != .closed else { return }
        dropConnection()
        state = .closed
        lastError = "closed"
        failPending(.unavailable)
        if let id { reactor.remove(id) }
        id = nil
    }

    // MARK: Connecting

    private func connect() {
        guard let id else { return }
        attempt &+= 1
        state = .connecting
        writable = false
        if let host = configuration.host {
            switch HostResolver.resolveIPv4(host, port: configuration.endpoint.port) {
            case let .success(resolved):
                address = resolved
            case let .failure(failure):
                connectionLost(.unavailable, reason: "resolve \(host): \(failure.message)")
                return
            }
        }
        switch Socket.connect(to: address) {
        case let .connected(socket), let .inProgress(socket):
            fd = socket
            let watched = reactor.watch(socket, for: id, tag: attempt)
            if watched != 0 {
                connectionLost(.unavailable, reason: "epoll: \(Self.describe(errno: -watched))")
                return
            }
            stateTimer = reactor.schedule(after: configuration.connectTimeoutMilliseconds, for: id, tag: Self.connectTimerTag)
        case let .failed(code):
            connectionLost(.unavailable, reason: "connect to \(address): \(Self.describe(errno: code))")
        }
    }

    private func dropConnection() {
        if fd >= 0 { Socket.close(fd) }
        fd = -1
        writable = false
        outgoing.removeAll(keepingCapacity: true)
        written = 0
        if let commandTimer { reactor.cancel(commandTimer) }
        commandTimer = nil
        if let stateTimer { reactor.cancel(stateTimer) }
        stateTimer = nil
        // A partial reply of the old connection must not prefix the new one's.
        redisReaderFree(reader)
        guard let fresh = redisReaderCreate() else { fatalError("redisReaderCreate: out of memory") }
        reader = fresh
    }

    /// Fails what is in flight, reports the first failure of an outage, and retries after the
    /// back-off. `reason` is what `lastError` and the status change say.
    private func connectionLost(_ failure: Failure, reason: String) {
        guard state != .closed, let id else { return }
        if state == .ready { stats.connectionsLost += 1 }
        dropConnection()
        state = .waitingToReconnect
        lastError = reason
        failures += 1
        let firstOfOutage = failures == 1
        failPending(failure)
        guard state == .waitingToReconnect else { return }  // a completion may have closed us
        stateTimer = reactor.schedule(after: backoff(), for: id, tag: Self.reconnectTimerTag)
        if firstOfOutage { onStatusChange?(.unavailable(reason: reason)) }
    }

    private func failPending(_ failure: Failure) {
        while pendingHead < pending.count {
            let waiter = pending[pendingHead].waiter
            pendingHead += 1
            switch waiter {
            case let .closure(completion): completion(.failure(failure))
            case let .receiver(receiver): receiver.failed(failure)
            case .handshake: break
            }
        }
        pending.removeAll(keepingCapacity: true)
        pendingHead = 0
    }

    /// Doubling from the minimum, capped, then a random point in its upper half (so sidecars that
    /// lost the same Redis do not all come back in the same millisecond).
    private func backoff() -> UInt64 {
        let doubled = configuration.reconnectMinimumMilliseconds << UInt64(min(failures - 1, 16))
        let ceiling = max(1, min(doubled, configuration.reconnectMaximumMilliseconds))
        jitter ^= jitter << 13
        jitter ^= jitter >> 7
        jitter ^= jitter << 17
        return ceiling / 2 + jitter % (ceiling / 2 + 1)
    }

    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let node = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = node.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: Int(node.len)))
        }
        switch node.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(node.integer)
        case REDIS_REPLY_STRING: return .bulk(bytes())
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(node.elements)).compactMap { index in node.element[index].map(convert) })
        default: return .null
        }
    }
}

@available(*, unavailable)
extension LoopRedisConnection: Sendable {}
