import NIOCore

/// The token-bucket script: every bucket of a request checked and taken at once, atomically, on
/// Redis's clock (`TIME`), with the same GCRA arithmetic as `TokenBucket` (IEEE doubles in both).
///
/// One call decides a whole batch: the requests of one event loop's turn, grouped by identical
/// buckets (the same keys with the same parameters). A group of `n` requests is decided as `n`
/// requests arriving in order at the same instant: each is admitted while every bucket still holds
/// its cost, so the first refusal ends the group's admissions (the state no longer changes, so every
/// later request of the group is refused the same way). Nothing is written for a group that admits
/// nothing. Groups are decided in order, each reading what the previous ones wrote.
///
/// KEYS: every group's bucket keys, group after group. ARGV: the number of groups, then per group its
/// bucket count and request count, then per bucket its interval (µs per token), burst and cost.
/// Returns one flat array of integers, per group: the number admitted `k`; per admitted request and
/// bucket `remaining, wait`; then, if `k < n`, the refusal once: per bucket `allowed, remaining,
/// wait` (a bucket before the refusing one reports what it would have allowed). `remaining` is whole
/// tokens left; `wait` microseconds (rounded up) until the request could pass (refused) or the bucket
/// is full again (admitted). Each key is a hash (`t` = tat, 17 significant digits) that expires once
/// the bucket is full again.
public enum RateLimitScript {
    public static let source = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local out = {}
        local key = 0
        local arg = 2
        for _ = 1, tonumber(ARGV[1]) do
          local count = tonumber(ARGV[arg])
          local n = tonumber(ARGV[arg + 1])
          arg = arg + 2
          local interval, limit, step, tat = {}, {}, {}, {}
          for i = 1, count do
            interval[i] = tonumber(ARGV[arg])
            limit[i] = tonumber(ARGV[arg + 1]) * interval[i]
            step[i] = tonumber(ARGV[arg + 2]) * interval[i]
            arg = arg + 3
            local stored = tonumber(redis.call('HGET', KEYS[key + i], 't'))
            if stored and stored > now then tat[i] = stored else tat[i] = now end
          end
          local head = #out + 1
          out[head] = 0
          local admitted = 0
          while admitted < n do
            local fits = true
            for i = 1, count do
              if tat[i] + step[i] - now > limit[i] then fits = false break end
            end
            if not fits then break end
            for i = 1, count do
              local nxt = tat[i] + step[i]
              tat[i] = nxt
              out[#out + 1] = math.floor((limit[i] - (nxt - now)) / interval[i])
              out[#out + 1] = math.ceil(nxt - now)
            end
            admitted = admitted + 1
          end
          out[head] = admitted
          if admitted < n then
            local all = true
            for i = 1, count do
              local nxt = tat[i] + step[i]
              if all and nxt - now <= limit[i] then
                out[#out + 1] = 1
                out[#out + 1] = math.floor((limit[i] - (nxt - now)) / interval[i])
                out[#out + 1] = math.ceil(nxt - now)
              else
                all = false
                local left = (limit[i] - (tat[i] - now)) / interval[i]
                if left < 0 then left = 0 end
                out[#out + 1] = 0
                out[#out + 1] = math.floor(left)
                out[#out + 1] = math.ceil(nxt - now - limit[i])
              end
            end
          end
          if admitted > 0 then
            for i = 1, count do
              redis.call('HSET', KEYS[key + i], 't', string.format('%.17g', tat[i]))
              redis.call('PEXPIRE', KEYS[key + i], math.ceil((tat[i] - now) / 1000) + 1000)
            end
          end
          key = key + count
        end
        return out
        """
}

/// The Redis store of one event loop: its own connection (pipelined), the script loaded on every
/// (re)connection, `EVAL` on `NOSCRIPT`. The connection is a `RedisBatchTransport`: SwiftNIO's
/// `RedisClient` (`init(loop:endpoint:timeout:)`) or the data path's own loop connection
/// (`init(transport:)` with a `LoopRedisTransport` of TollgateLoopRedis); what is below does not
/// depend on which.
///
/// Requests are not sent one by one: those that arrive during one turn of the event loop are
/// gathered, and at the end of the turn (after every read of that turn, before the loop waits again)
/// go to Redis as one `EVALSHA` — one write, one reply, one script run for all of them, with
/// identical requests folded into one group (see `RateLimitScript`). A request alone in its turn
/// waits for nothing: its batch is sent in the same turn.
public final class RedisBuckets {
    public typealias Request = (key: String, bucket: TokenBucket)

    public let transport: any RedisBatchTransport
    private let holder = ShaHolder()
    private var batch: Batch?
    /// Takes made while the store was down, told `.unavailable` at the end of the turn (never before
    /// `take` has returned).
    private var refused: [any BucketsWaiter] = []
    private var endOfTurnRequested = false
    /// This store, while an end of turn is asked for: its waiters are told even when the owner lets
    /// go of the store meanwhile (the transport holds only a weak reference to it).
    private var keptUntilEndOfTurn: RedisBuckets?
    /// A batch is sent early once it holds this many requests (the rest go in the next one).
    static let maximumBatch = 256

    /// Over any transport, not started: call `start()` (after setting `onStatusChange`).
    public init(transport: any RedisBatchTransport) {
        self.transport = transport
        let holder = holder
        transport.setConnectCommand(["SCRIPT", "LOAD", RateLimitScript.source]) { reply in
            guard let sha = reply.string, case .bulkString = reply else { return "SCRIPT LOAD answered \(reply)" }
            holder.sha = sha
            return nil
        }
        // Weak, so the store and its transport are no cycle; `keptUntilEndOfTurn` holds the store
        // while a call is due.
        transport.onEndOfTurn = { [weak self] in self?.turnEnded() }
    }

    /// Over SwiftNIO's `RedisClient` on `loop`.
    public convenience init(loop: any EventLoop, endpoint: RedisEndpoint, timeout: TimeAmount) {
        self.init(transport: RedisClient(loop: loop, endpoint: endpoint, timeout: timeout))
    }

    /// Loop-confined box for the script's SHA, filled by the connection handshake.
    private final class ShaHolder: @unchecked Sendable {
        var sha: String?
    }

    /// The SwiftNIO client, when that is the transport.
    public var client: RedisClient? { transport as? RedisClient }

    public var endpoint: RedisEndpoint { transport.endpoint }

    /// Ready (again) and unavailable once per outage, on the loop (the proxy logs them).
    public var onStatusChange: ((RedisClient.StatusChange) -> Void)? {
        get { transport.onStatusChange }
        set { transport.onStatusChange = newValue }
    }

    public func start() {
        transport.start()
    }

    /// Closes the connection for good (at shutdown).
    public func close() {
        transport.close()
    }

    public var isUp: Bool { transport.isUp }

    /// Every bucket of a request, decided in the round trip of the current turn's batch: `waiter` is
    /// told once, on the loop, with one outcome per bucket in order, and never before `take`
    /// returns. Call it on the transport's loop. The waiter is held until then (no closure is made).
    public func take(_ requests: [Request], waiter: any BucketsWaiter) {
        precondition(!requests.isEmpty, "a take needs at least one bucket")
        guard isUp else {
            refused.append(waiter)
            requestEndOfTurn()
            return
        }
        if let batch {
            batch.add(requests, waiter)
            if batch.requestCount >= Self.maximumBatch { flush() }
            return
        }
        let batch = Batch()
        batch.add(requests, waiter)
        self.batch = batch
        requestEndOfTurn()
    }

    /// The same, as a future (for callers that are not a waiter themselves, such as tests). Only
    /// over SwiftNIO's `RedisClient`.
    public func take(_ requests: [Request]) -> EventLoopFuture<[TokenBucket.Outcome]> {
        guard let loop = client?.loop else { preconditionFailure("take(_:) -> EventLoopFuture needs the NIO transport") }
        let waiter = PromiseWaiter(loop.makePromise())
        take(requests, waiter: waiter)
        return waiter.promise.futureResult
    }

    private final class PromiseWaiter: BucketsWaiter {
        let promise: EventLoopPromise<[TokenBucket.Outcome]>
        init(_ promise: EventLoopPromise<[TokenBucket.Outcome]>) { self.promise = promise }
        func bucketsTaken(_ result: Result<ArraySlice<TokenBucket.Outcome>, RedisClient.Failure>) {
            promise.completeWith(result.map(Array.init).mapError { $0 as any Error })
        }
    }

    /// One request per turn at most, however many takes (a batch sent early because it was full
    /// leaves the request standing for the batch after it).
    private func requestEndOfTurn() {
        guard !endOfTurnRequested else { return }
        endOfTurnRequested = true
        keptUntilEndOfTurn = self
        transport.requestEndOfTurn()
    }

    private func turnEnded() {
        endOfTurnRequested = false
        keptUntilEndOfTurn = nil
        if !refused.isEmpty {
            let failure = RedisClient.Failure.unavailable(transport.lastError ?? "not connected")
            let waiters = refused
            refused.removeAll(keepingCapacity: true)
            for waiter in waiters { waiter.bucketsTaken(.failure(failure)) }
        }
        flush()
    }

    /// Sends the current batch now.
    private func flush() {
        guard let batch else { return }
        self.batch = nil
        batch.send(through: transport, sha: holder.sha)
    }

    /// The requests of one turn, grouped, and the callers waiting on them.
    final class Batch: RedisReplyReceiver {
        struct Group {
            let requests: [Request]
            var waiters: [any BucketsWaiter]
        }

        private(set) var groups: [Group] = []
        private(set) var requestCount = 0
        private weak var transport: (any RedisBatchTransport)?
        private var retried = false

        func add(_ requests: [Request], _ waiter: any BucketsWaiter) {
            requestCount += 1
            // Most turns hold one group or a few; look at the last few only, so a turn with many
            // distinct keys stays linear.
            var index = groups.count - 1
            let oldest = max(0, groups.count - 8)
            while index >= oldest {
                if Self.same(groups[index].requests, requests) {
                    groups[index].waiters.append(waiter)
                    return
                }
                index -= 1
            }
            groups.append(Group(requests: requests, waiters: [waiter]))
        }

        private static func same(_ a: [Request], _ b: [Request]) -> Bool {
            guard a.count == b.count else { return false }
            for index in a.indices where a[index].bucket != b[index].bucket || a[index].key != b[index].key {
                return false
            }
            return true
        }

        func send(through transport: any RedisBatchTransport, sha: String?) {
            self.transport = transport
            var keyCount = 0
            var capacity = 64
            for group in groups {
                keyCount += group.requests.count
                for request in group.requests { capacity += request.key.utf8.count + 48 }
            }
            var arguments = RESPCommand.Arguments(capacity: capacity)
            if let sha {
                arguments.append("EVALSHA")
                arguments.append(sha)
            } else {
                arguments.append("EVAL")
                arguments.append(RateLimitScript.source)
            }
            arguments.append(keyCount)
            for group in groups {
                for request in group.requests { arguments.append(request.key) }
            }
            arguments.append(groups.count)
            for group in groups {
                arguments.append(group.requests.count)
                arguments.append(group.waiters.count)
                for request in group.requests {
                    arguments.append(request.bucket.interval)
                    arguments.append(request.bucket.burst)
                    arguments.append(request.bucket.cost)
                }
            }
            transport.send(arguments, to: self)
        }

        func received(_ reply: RawReply) {
            if let message = reply.error {
                // SCRIPT FLUSH or a restarted server: EVAL runs it and caches it again.
                if message.hasPrefix("NOSCRIPT"), !retried, let transport {
                    retried = true
                    send(through: transport, sha: nil)
                    return
                }
                failed(RedisClient.Failure.server(message))
                return
            }
            guard let outcomes = decode(reply) else {
                failed(RedisClient.Failure.server("unexpected script reply \(reply.value)"))
                return
            }
            var position = 0
            for group in groups {
                let buckets = group.requests.count
                for waiter in group.waiters {
                    waiter.bucketsTaken(.success(outcomes[position..<position + buckets]))
                    position += buckets
                }
            }
        }

        /// Every request's outcomes back to back, in the order of `groups` and their waiters (each
        /// request of a group has one per bucket); nil when the reply does not have the script's shape.
        private func decode(_ reply: RawReply) -> [TokenBucket.Outcome]? {
            guard let count = reply.count else { return nil }
            var all: [TokenBucket.Outcome] = []
            all.reserveCapacity(groups.reduce(0) { $0 + $1.requests.count * $1.waiters.count })
            var position = 0
            func next() -> Int? {
                guard position < count, let value = reply.integer(at: position) else { return nil }
                position += 1
                return Int(truncatingIfNeeded: value)
            }
            for group in groups {
                let buckets = group.requests.count
                let requests = group.waiters.count
                guard let admitted = next(), admitted >= 0, admitted <= requests else { return nil }
                for _ in 0..<admitted {
                    for _ in 0..<buckets {
                        guard let remaining = next(), let wait = next() else { return nil }
                        all.append(TokenBucket.Outcome(allowed: true, newTAT: 0, remaining: remaining, waitMicroseconds: Double(wait)))
                    }
                }
                if admitted < requests {
                    let refusalStart = all.count
                    for _ in 0..<buckets {
                        guard let allowed = next(), let remaining = next(), let wait = next() else { return nil }
                        all.append(TokenBucket.Outcome(allowed: allowed == 1, newTAT: 0, remaining: remaining, waitMicroseconds: Double(wait)))
                    }
                    guard all[refusalStart...].contains(where: { !$0.allowed }) else { return nil }
                    for _ in (admitted + 1)..<requests {
                        all.append(contentsOf: all[refusalStart..<refusalStart + buckets])
                    }
                }
            }
            return position == count ? all : nil
        }

        func failed(_ error: any Error) {
            let failure = error as? RedisClient.Failure ?? .server("\(error)")
            for group in groups {
                for waiter in group.waiters { waiter.bucketsTaken(.failure(failure)) }
            }
        }
    }
}

@available(*, unavailable)
extension RedisBuckets: Sendable {}

/// Who waits for a `RedisBuckets.take`: told once, on the store's loop, with one outcome per bucket
/// of the request, in order (a slice of the batch's outcomes: no array per request).
public protocol BucketsWaiter: AnyObject {
    func bucketsTaken(_ result: Result<ArraySlice<TokenBucket.Outcome>, RedisClient.Failure>)
}
