import Core
import NIOHTTP1

/// Phase 6: every limit of the route, all at once: the request is admitted only if every bucket has
/// the tokens, and a refused request takes none (spec/policy.md `limits`). A limit whose key part is
/// missing (no such claim or header, an anonymous subject) does not apply and is counted `skipped`.
///
/// Refused: 429 problem+json with `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit` fields
/// of the limit that refused. Admitted: the upstream's response gets `RateLimit` (and its policy) of
/// the tightest limit.
///
/// A limit in `mode: shadow` (or any limit of a route in shadow mode) is tried apart: see `trial`.
struct RateLimitPhase: RequestPhase {
    let name = "rate-limit"

    /// A limit that applies to this request: its place in the route's `limits`, its bucket key, its
    /// store, and (once decided) its outcome; nil when it was not evaluated (its store failed, or an
    /// earlier store already refused).
    struct Applied {
        let index: Int
        let key: String
        let local: Bool
        var outcome: TokenBucket.Outcome?
    }

    /// What waits on the Redis round trip (kept on the exchange, which is the store's waiter).
    struct Pending {
        var applied: [Applied]
        let loop: PhaseContext
    }

    func run(_ exchange: Exchange, on loop: PhaseContext) -> PhaseResult {
        guard let route = exchange.route, !route.limits.isEmpty else { return .proceed }
        var applied: [Applied] = []
        applied.reserveCapacity(route.limits.count)
        var localCount = 0
        for (index, limit) in route.limits.enumerated() {
            guard let key = BucketKey.make(limit, service: exchange.snapshot.service, route: route.name, exchange: exchange) else {
                loop.metrics.recordRateLimitDecision(route: route.name, limit: limit.name, result: "skipped")
                continue
            }
            if limit.mode == .shadow || route.mode == .shadow {
                trial(limit, key: key, route: route, exchange: exchange, loop: loop)
                continue
            }
            let local = limit.local || loop.redis == nil
            if local { localCount += 1 }
            applied.append(Applied(index: index, key: key, local: local))
        }
        guard !applied.isEmpty else { return .proceed }
        if localCount > 0 {
            let taken = loop.buckets.take(Self.requests(applied, route: route, local: true), now: loop.now() * 1_000_000)
            Self.fill(&applied, local: true, with: taken)
            if taken.contains(where: { !$0.allowed }) {
                return decide(route: route, applied: applied, exchange: exchange, loop: loop)
            }
        }
        guard let redis = loop.redis, localCount < applied.count else {
            return decide(route: route, applied: applied, exchange: exchange, loop: loop)
        }
        guard redis.isUp else {
            // The circuit is open: no waiting on a Redis that is down.
            return storeError(route: route, applied: applied, exchange: exchange, loop: loop)
        }
        exchange.pendingLimits = Pending(applied: applied, loop: loop)
        redis.take(Self.requests(applied, route: route, local: false), waiter: exchange)
        return .pending
    }

    /// The Redis round trip's answer for `exchange` (see `Exchange.bucketsTaken`). `pending` is the
    /// exchange's, taken off it: its outcomes are filled in place.
    func taken(
        _ result: Result<ArraySlice<TokenBucket.Outcome>, RedisClient.Failure>, pending: inout Pending, route: Route, exchange: Exchange
    ) -> PhaseResult {
        switch result {
        case let .success(taken):
            Self.fill(&pending.applied, local: false, with: taken)
            // A refusal by Redis takes nothing: give back what the in-process buckets took.
            if taken.contains(where: { !$0.allowed }) { refundLocal(pending.applied, route: route, loop: pending.loop) }
            return decide(route: route, applied: pending.applied, exchange: exchange, loop: pending.loop)
        case .failure:
            return storeError(route: route, applied: pending.applied, exchange: exchange, loop: pending.loop)
        }
    }

    /// A shadow limit: decided on its own, under a key apart from the enforcing ones (`shadow:` + the
    /// bucket key), so trying a limit never takes tokens an enforcing limit counts; it never refuses,
    /// a refusal is noted on the exchange. A shared one goes to Redis as its own request of the same
    /// batch (no extra round trip: it is sent, and answered, with the turn's other takes, before the
    /// enforcing take of this request); without `--redis`, or `local`, it is counted in-process.
    private func trial(_ limit: RateLimitPolicy, key: String, route: Route, exchange: Exchange, loop: PhaseContext) {
        let request: RedisBuckets.Request = ("shadow:" + key, TokenBucket(limit))
        if !limit.local, let redis = loop.redis {
            redis.take([request], waiter: ShadowTrial(limit: limit, route: route.name, exchange: exchange, loop: loop))
            return
        }
        guard let outcome = loop.buckets.take([request], now: loop.now() * 1_000_000).first else { return }
        Self.record(trial: outcome, of: limit, route: route.name, exchange: exchange, loop: loop)
    }

    static func record(trial outcome: TokenBucket.Outcome, of limit: RateLimitPolicy, route: String, exchange: Exchange, loop: PhaseContext) {
        loop.metrics.recordRateLimitDecision(route: route, limit: limit.name, result: outcome.allowed ? "shadow_allowed" : "shadow_limited")
        if !outcome.allowed { exchange.letThrough(refusal(limit, outcome), loop: loop) }
    }

    /// Waits on Redis for one shared shadow limit: one small object, made only for a request that
    /// tries one. A store failure is counted (`shadow_error`) and changes nothing else.
    final class ShadowTrial: BucketsWaiter {
        let limit: RateLimitPolicy
        let route: String
        let exchange: Exchange
        let loop: PhaseContext

        init(limit: RateLimitPolicy, route: String, exchange: Exchange, loop: PhaseContext) {
            self.limit = limit
            self.route = route
            self.exchange = exchange
            self.loop = loop
        }

        func bucketsTaken(_ result: Result<ArraySlice<TokenBucket.Outcome>, RedisClient.Failure>) {
            guard case let .success(outcomes) = result, let outcome = outcomes.first else {
                loop.metrics.recordRateLimitDecision(route: route, limit: limit.name, result: "shadow_error")
                return
            }
            RateLimitPhase.record(trial: outcome, of: limit, route: route, exchange: exchange, loop: loop)
        }
    }

    /// One store's outcomes, in order, into that store's limits.
    private static func fill(_ applied: inout [Applied], local: Bool, with outcomes: some Collection<TokenBucket.Outcome>) {
        var position = outcomes.startIndex
        for index in applied.indices where applied[index].local == local {
            applied[index].outcome = outcomes[position]
            outcomes.formIndex(after: &position)
        }
    }

    private static func requests(_ applied: [Applied], route: Route, local: Bool) -> [RedisBuckets.Request] {
        var requests: [RedisBuckets.Request] = []
        requests.reserveCapacity(applied.count)
        for limit in applied where limit.local == local {
            requests.append((limit.key, TokenBucket(route.limits[limit.index])))
        }
        return requests
    }

    private func refundLocal(_ applied: [Applied], route: Route, loop: PhaseContext) {
        guard applied.contains(where: \.local) else { return }
        loop.buckets.refund(Self.requests(applied, route: route, local: true))
    }

    /// Redis unreachable, too slow or erring: each shared limit's `on_error` decides; any `deny` is 503.
    private func storeError(route: Route, applied: [Applied], exchange: Exchange, loop: PhaseContext) -> PhaseResult {
        loop.metrics.recordStoreError()
        var denying: RateLimitPolicy?
        for limit in applied where !limit.local {
            let policy = route.limits[limit.index]
            loop.metrics.recordRateLimitDecision(route: route.name, limit: policy.name, result: "error")
            if denying == nil, policy.onError == .deny { denying = policy }
        }
        if let denying {
            refundLocal(applied, route: route, loop: loop)
            var problem = ProblemResponse(
                status: .serviceUnavailable, slug: "store-unavailable", title: "Service Unavailable",
                detail: "the rate-limit store is unavailable and limit \(denying.name) fails closed")
            problem.headers.append(("retry-after", "1"))
            problem.decision = "store-unavailable:\(denying.name)"
            return .respond(problem)
        }
        return decide(route: route, applied: applied, exchange: exchange, loop: loop)
    }

    func decide(route: Route, applied: [Applied], exchange: Exchange, loop: PhaseContext) -> PhaseResult {
        if let refused = applied.first(where: { $0.outcome?.allowed == false }), let outcome = refused.outcome {
            let limit = route.limits[refused.index]
            loop.metrics.recordRateLimitDecision(route: route.name, limit: limit.name, result: "limited")
            return .respond(Self.refusal(limit, outcome))
        }
        var tightest: (limit: RateLimitPolicy, outcome: TokenBucket.Outcome)?
        for entry in applied {
            guard let outcome = entry.outcome else { continue }
            let limit = route.limits[entry.index]
            loop.metrics.recordRateLimitDecision(route: route.name, limit: limit.name, result: "allowed")
            if tightest.map({ outcome.remaining < $0.outcome.remaining }) ?? true { tightest = (limit, outcome) }
        }
        if let tightest {
            exchange.responseHeaders.append(("ratelimit-policy", tightest.limit.policyItem))
            exchange.responseHeaders.append((
                "ratelimit", Self.field(tightest.limit, remaining: tightest.outcome.remaining, seconds: Self.seconds(tightest.outcome.waitMicroseconds))))
        }
        return .proceed
    }

    /// The 429 of a limit that refused.
    static func refusal(_ limit: RateLimitPolicy, _ outcome: TokenBucket.Outcome) -> ProblemResponse {
        let retryAfter = seconds(outcome.waitMicroseconds)
        var problem = ProblemResponse(
            status: .tooManyRequests, slug: "rate-limited", title: "Too Many Requests",
            detail: "limit \(limit.name) allows \(limit.rate) with a burst of \(limit.burst); retry in \(retryAfter) s")
        problem.headers.append(("retry-after", String(retryAfter)))
        problem.headers.append(("ratelimit-policy", limit.policyItem))
        problem.headers.append(("ratelimit", field(limit, remaining: 0, seconds: retryAfter)))
        problem.decision = "rate-limited:\(limit.name)"
        return problem
    }

    /// Whole seconds, rounded up, at least 1 when anything is left to wait.
    static func seconds(_ microseconds: Double) -> Int {
        microseconds <= 0 ? 0 : max(1, Int((microseconds / 1_000_000).rounded(.up)))
    }

    /// `"per-user";r=0;t=1`: tokens left and the seconds until the bucket is full again (or, refused,
    /// until the request could pass).
    static func field(_ limit: RateLimitPolicy, remaining: Int, seconds: Int) -> String {
        "\"\(limit.name)\";r=\(max(0, remaining));t=\(seconds)"
    }
}

/// Bucket keys: `tg:<service>:<limit>:<part>:<part>…`, each part percent-escaped (`%` and `:`), so
/// two different requests never share a bucket by accident of concatenation.
enum BucketKey {
    static func make(_ limit: RateLimitPolicy, service: String?, route: String, exchange: Exchange) -> String? {
        var key = ""
        key.reserveCapacity(24 + (service?.utf8.count ?? 0) + limit.name.utf8.count + 40 * limit.key.count)
        key += "tg:"
        append(service ?? "", to: &key)
        key += ":"
        append(limit.name, to: &key)
        for part in limit.key {
            let value: String?
            switch part {
            case .ip: value = exchange.clientIP
            case .route: value = route
            case .method: value = exchange.method
            case .subject: value = exchange.subject
            case let .claim(name): value = exchange.token?.claims[name].flatMap(ForwardPhase.headerValue)
            case let .header(name): value = exchange.headerValue(name)
            }
            guard let value else { return nil }
            key += ":"
            append(value, to: &key)
        }
        return key
    }

    private static func append(_ value: String, to key: inout String) {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "%") }) else {
            key += value
            return
        }
        for character in value {
            switch character {
            case ":": key += "%3A"
            case "%": key += "%25"
            default: key.append(character)
            }
        }
    }
}

/// The exchange waits on its own Redis round trip: no closure or promise per request.
extension Exchange: BucketsWaiter {
    func bucketsTaken(_ result: Result<ArraySlice<TokenBucket.Outcome>, RedisClient.Failure>) {
        // The phase set both before it asked; taking `pending` off the exchange leaves its array unshared.
        guard var pending = pendingLimits, let route else { return }
        pendingLimits = nil
        let answer = RateLimitPhase().taken(result, pending: &pending, route: route, exchange: self)
        pending.loop.phases.resume(self, with: answer, on: pending.loop)
    }
}

@available(*, unavailable)
extension RateLimitPhase.ShadowTrial: Sendable {}
