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
/// Completions run on the loop, in command order; a `.unavailable` for a command sent while the
/// connection is down runs before `send` returns. Not thread-safe: one per loop.
///
/// Not yet here (today's client has them): AUTH and SELECT on connect, an `onConnect` hook (the
/// rate-limit script's `SCRIPT LOAD`), host names.
public final class LoopRedisConnection: LoopHandler {
    public struct Configuration: Sendable {
        public var endpoint: IPv4Endpoint
        public var commandTimeoutMilliseconds: UInt64 = 50
        public var connectTimeoutMilliseconds: UInt64 = 1_000
        public var reconnectMinimumMilliseconds: UInt64 = 25
        public var reconnectMaximumMilliseconds: UInt64 = 2_000

        public init(endpoint: IPv4Endpoint) {
            self.endpoint = endpoint
        }
    }

    public enum Failure: Error, Equatable, Sendable {
        case unavailable
        case timedOut
    }

    public enum State: Equatable, Sendable {
        case connecting, ready, waitingToReconnect, closed
    }

    public struct Stats: Equatable, Sendable {
        public var commands = 0
        public var replies = 0
        public var timeouts = 0
        public var connectionsMade = 0
        public var connectionsLost = 0
        /// Writes: fewer than commands when commands of one turn share one.
        public var writes = 0
    }

    public typealias Completion = (Result<RedisReply, Failure>) -> Void

    private struct Pending {
        var completion: Completion
        var deadline: UInt64
    }

    private static let commandTimerTag: UInt8 = 0
    private static let reconnectTimerTag: UInt8 = 1
    private static let connectTimerTag: UInt8 = 2

    public let configuration: Configuration
    public private(set) var state = State.connecting
    public private(set) var stats = Stats()
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
    private var failures = 0
    private var jitter: UInt64

    /// Starts connecting at once; `send` may be called right away (it fails until connected).
    public init(configuration: Configuration, reactor: Reactor) {
        self.configuration = configuration
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

    // MARK: Commands

    /// Sends one command (binary-safe arguments); `completion` gets its reply, in order.
    public func send(_ arguments: [[UInt8]], completion: @escaping Completion) {
        guard state == .ready, let id else {
            completion(.failure(.unavailable))
            return
        }
        stats.commands += 1
        append(arguments)
        let deadline = reactor.now &+ configuration.commandTimeoutMilliseconds
        pending.append(Pending(completion: completion, deadline: deadline))
        if commandTimer == nil {
            commandTimer = reactor.schedule(after: configuration.commandTimeoutMilliseconds, for: id, tag: Self.commandTimerTag)
        }
        if !flushRequested {
            flushRequested = true
            reactor.runAtEndOfTurn(id)
        }
    }

    public func send(_ arguments: [String], completion: @escaping Completion) {
        send(arguments.map { Array($0.utf8) }, completion: completion)
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
        guard state == .ready else { return }
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
            default:
                connectionLost(.unavailable)
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
            if Socket.pendingConnectError(fd) != nil {
                connectionLost(.unavailable)
                return
            }
            if let stateTimer { reactor.cancel(stateTimer) }
            stateTimer = nil
            state = .ready
            failures = 0
            stats.connectionsMade += 1
            Socket.setNoDelay(fd)
        }
        if readiness.isWritable {
            writable = true
            flush()
        }
        if readiness.isReadable, state == .ready { readReplies(peerClosed: readiness.isPeerClosed) }
    }

    private func readReplies(peerClosed: Bool) {
        let pool = reactor.pool
        let slab = pool.acquire()
        defer { pool.release(slab) }
        while true {
            switch Socket.read(fd, into: slab, count: pool.slabSize) {
            case let .transferred(n):
                guard redisReaderFeed(reader, slab.assumingMemoryBound(to: CChar.self), n) == REDIS_OK else {
                    connectionLost(.unavailable)
                    return
                }
                guard deliverReplies() else { return }
                if n < pool.slabSize, !peerClosed { return }
            case .wouldBlock:
                return
            default:
                connectionLost(.unavailable)
                return
            }
        }
    }

    /// Hands every complete reply to its command; false when the connection was dropped.
    private func deliverReplies() -> Bool {
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
                connectionLost(.unavailable)
                return false
            }
            guard let raw else { return true }
            let reply = Self.convert(raw.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(raw)
            guard pendingHead < pending.count else {
                // A reply nobody asked for: the stream is out of step.
                connectionLost(.unavailable)
                return false
            }
            let completion = pending[pendingHead].completion
            // Drop the completion's captures now (a literal without captures allocates nothing).
            pending[pendingHead].completion = { _ in }
            pendingHead += 1
            compactPending()
            stats.replies += 1
            completion(.success(reply))
            if state != .ready { return false }
        }
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
            guard state == .ready, pendingHead < pending.count, let id else { return }
            let deadline = pending[pendingHead].deadline
            if deadline <= reactor.now {
                stats.timeouts += 1
                connectionLost(.timedOut)
            } else {
                commandTimer = reactor.schedule(after: deadline - reactor.now, for: id, tag: Self.commandTimerTag)
            }
        case Self.reconnectTimerTag:
            stateTimer = nil
            if state == .waitingToReconnect { connect() }
        default:
            stateTimer = nil
            if state == .connecting { connectionLost(.unavailable) }
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
        switch Socket.connect(to: configuration.endpoint) {
        case let .connected(socket), let .inProgress(socket):
            fd = socket
            if reactor.watch(socket, for: id, tag: attempt) != 0 {
                connectionLost(.unavailable)
                return
            }
            stateTimer = reactor.schedule(after: configuration.connectTimeoutMilliseconds, for: id, tag: Self.connectTimerTag)
        case .failed:
            connectionLost(.unavailable)
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

    private func connectionLost(_ failure: Failure) {
        guard state != .closed, let id else { return }
        if state == .ready { stats.connectionsLost += 1 }
        dropConnection()
        state = .waitingToReconnect
        failPending(failure)
        guard state == .waitingToReconnect else { return }  // a completion may have closed us
        failures += 1
        stateTimer = reactor.schedule(after: backoff(), for: id, tag: Self.reconnectTimerTag)
    }

    private func failPending(_ failure: Failure) {
        while pendingHead < pending.count {
            let completion = pending[pendingHead].completion
            pendingHead += 1
            completion(.failure(failure))
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
