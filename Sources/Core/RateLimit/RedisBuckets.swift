import NIOCore

/// The token-bucket script: every bucket of a request checked and taken at once, atomically, on
/// Redis's clock (`TIME`), with the same GCRA arithmetic as `TokenBucket` (IEEE doubles in both).
/// KEYS: one per bucket. ARGV: per bucket, its interval (µs per token), burst and cost.
/// Returns per bucket `{allowed, remaining, wait}`: 1/0, whole tokens left, and microseconds (rounded
/// up) until the request could pass (refused) or the bucket is full again (admitted). Nothing is
/// written unless every bucket admits. Each key is a hash (`t` = tat, 17 significant digits) that
/// expires once the bucket is full again.
public enum RateLimitScript {
    public static let source = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local results = {}
        local news = {}
        local all = true
        for i = 1, #KEYS do
          local interval = tonumber(ARGV[3 * i - 2])
          local burst = tonumber(ARGV[3 * i - 1])
          local cost = tonumber(ARGV[3 * i])
          local start = now
          local tat = tonumber(redis.call('HGET', KEYS[i], 't'))
          if tat and tat > now then start = tat end
          local nxt = start + cost * interval
          local limit = burst * interval
          if all and nxt - now <= limit then
            news[i] = nxt
            results[i] = {1, math.floor((limit - (nxt - now)) / interval), math.ceil(nxt - now)}
          else
            if all then all = false end
            local left = (limit - (start - now)) / interval
            if left < 0 then left = 0 end
            results[i] = {0, math.floor(left), math.ceil(nxt - now - limit)}
          end
        end
        if all then
          for i = 1, #KEYS do
            redis.call('HSET', KEYS[i], 't', string.format('%.17g', news[i]))
            redis.call('PEXPIRE', KEYS[i], math.ceil((news[i] - now) / 1000) + 1000)
          end
        end
        return results
        """
}

/// The Redis store of one event loop: its own connection (pipelined), the script loaded on every
/// (re)connection, `EVALSHA` per request with `EVAL` on `NOSCRIPT`.
public final class RedisBuckets {
    public let client: RedisClient
    private var sha: String?

    public init(loop: any EventLoop, endpoint: RedisEndpoint, timeout: TimeAmount) {
        let holder = ShaHolder()
        let loadScript: (RedisClient) -> EventLoopFuture<Void> = { client in
            client.send("SCRIPT", "LOAD", RateLimitScript.source).flatMapThrowing { reply in
                guard let sha = reply.string, case .bulkString = reply else {
                    throw RedisClient.Failure.server("SCRIPT LOAD answered \(reply)")
                }
                holder.sha = sha
            }
        }
        self.client = RedisClient(loop: loop, endpoint: endpoint, timeout: timeout, onConnect: loadScript)
        self.holder = holder
    }

    private let holder: ShaHolder

    /// Loop-confined box for the script's SHA, filled by the connection handshake.
    private final class ShaHolder: @unchecked Sendable {
        var sha: String?
    }

    public func start() {
        client.start()
    }

    public var isUp: Bool { client.state == .ready }

    /// One round trip for every bucket of a request; one outcome per request, in order.
    public func take(_ requests: [(key: String, bucket: TokenBucket)]) -> EventLoopFuture<[TokenBucket.Outcome]> {
        var tail: [[UInt8]] = [Array(String(requests.count).utf8)]
        tail.reserveCapacity(1 + 4 * requests.count)
        for request in requests { tail.append(Array(request.key.utf8)) }
        for request in requests {
            tail.append(Array(String(request.bucket.interval).utf8))
            tail.append(Array(String(request.bucket.burst).utf8))
            tail.append(Array(String(request.bucket.cost).utf8))
        }
        let loop = client.loop
        let client = client
        let arguments = tail
        let first: EventLoopFuture<RESPValue>
        if let sha = holder.sha {
            first = client.send([Array("EVALSHA".utf8), Array(sha.utf8)] + tail)
        } else {
            first = client.send([Array("EVAL".utf8), Array(RateLimitScript.source.utf8)] + tail)
        }
        let count = requests.count
        return first.assumeIsolated().flatMap { reply -> EventLoopFuture<RESPValue> in
            if case let .error(message) = reply, message.hasPrefix("NOSCRIPT") {
                // SCRIPT FLUSH or a restarted server: EVAL runs it and caches it again.
                return client.send([Array("EVAL".utf8), Array(RateLimitScript.source.utf8)] + arguments)
            }
            return loop.makeSucceededFuture(reply)
        }.flatMapThrowing { reply in
            try Self.outcomes(reply, count: count)
        }.nonisolated()
    }

    static func outcomes(_ reply: RESPValue, count: Int) throws -> [TokenBucket.Outcome] {
        if case let .error(message) = reply { throw RedisClient.Failure.server(message) }
        guard case let .array(entries) = reply, entries.count == count else {
            throw RedisClient.Failure.server("unexpected script reply \(reply)")
        }
        return try entries.map { entry in
            guard case let .array(fields) = entry, fields.count == 3,
                  case let .integer(allowed) = fields[0], case let .integer(remaining) = fields[1], case let .integer(wait) = fields[2]
            else { throw RedisClient.Failure.server("unexpected script reply \(entry)") }
            return TokenBucket.Outcome(allowed: allowed == 1, newTAT: 0, remaining: Int(remaining), waitMicroseconds: Double(wait))
        }
    }
}

@available(*, unavailable)
extension RedisBuckets: Sendable {}
