import Core
import NIOHTTP1

/// Phase 6: every limit of the route, all at once: the request is admitted only if every bucket has
/// the tokens, and a refused request takes none (spec/policy.md `limits`). A limit whose key part is
/// missing (no such claim or header, an anonymous subject) does not apply and is counted `skipped`.
///
/// Refused: 429 problem+json with `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit` fields
/// of the limit that refused. Admitted: the upstream's response gets `RateLimit` (and its policy) of
/// the tightest limit.
struct RateLimitPhase: RequestPhase {
    let name = "rate-limit"

    func run(_ exchange: Exchange, on loop: LoopContext) -> PhaseResult {
        guard let route = exchange.route, !route.limits.isEmpty else { return .proceed }
        var applied: [RateLimitPolicy] = []
        var local: [(key: String, bucket: TokenBucket)] = [], localIndex: [Int] = []
        var shared: [(key: String, bucket: TokenBucket)] = [], sharedIndex: [Int] = []
        for limit in route.limits {
            guard let key = BucketKey.make(limit, service: exchange.snapshot.service, route: route.name, exchange: exchange) else {
                loop.metrics.recordRateLimitDecision(route: route.name, limit: limit.name, result: "skipped")
                continue
            }
            if limit.local || loop.redis == nil {
                local.append((key, TokenBucket(limit)))
                localIndex.append(applied.count)
            } else {
                shared.append((key, TokenBucket(limit)))
                sharedIndex.append(applied.count)
            }
            applied.append(limit)
        }
        guard !applied.isEmpty else { return .proceed }
        var outcomes = [TokenBucket.Outcome?](repeating: nil, count: applied.count)
        if !local.isEmpty {
            let taken = loop.buckets.take(local, now: WallClock.now() * 1_000_000)
            for (position, outcome) in taken.enumerated() { outcomes[localIndex[position]] = outcome }
            if taken.contains(where: { !$0.allowed }) {
                return decide(route: route, limits: applied, outcomes: outcomes, exchange: exchange, loop: loop)
            }
        }
        guard let redis = loop.redis, !shared.isEmpty else {
            return decide(route: route, limits: applied, outcomes: outcomes, exchange: exchange, loop: loop)
        }
        guard redis.isUp else {
            // The circuit is open: no waiting on a Redis that is down.
            return storeError(
                route: route, limits: applied, shared: sharedIndex.map { applied[$0] }, outcomes: outcomes, local: local,
                exchange: exchange, loop: loop)
        }
        let promise = loop.eventLoop.makePromise(of: PhaseResult.self)
        redis.take(shared) { result in
            switch result {
            case let .success(taken):
                for (position, outcome) in taken.enumerated() { outcomes[sharedIndex[position]] = outcome }
                // A refusal by Redis takes nothing: give back what the in-process buckets took.
                if taken.contains(where: { !$0.allowed }) { loop.buckets.refund(local) }
                promise.succeed(decide(route: route, limits: applied, outcomes: outcomes, exchange: exchange, loop: loop))
            case .failure:
                promise.succeed(storeError(
                    route: route, limits: applied, shared: sharedIndex.map { applied[$0] }, outcomes: outcomes, local: local,
                    exchange: exchange, loop: loop))
            }
        }
        return .suspend(promise.futureResult)
    }

    /// Redis unreachable, too slow or erring: each shared limit's `on_error` decides; any `deny` is 503.
    private func storeError(
        route: Route, limits: [RateLimitPolicy], shared: [RateLimitPolicy], outcomes: [TokenBucket.Outcome?],
        local: [(key: String, bucket: TokenBucket)], exchange: Exchange, loop: LoopContext
    ) -> PhaseResult {
        loop.metrics.recordStoreError()
        for limit in shared { loop.metrics.recordRateLimitDecision(route: route.name, limit: limit.name, result: "error") }
        if let denying = shared.first(where: { $0.onError == .deny }) {
            loop.buckets.refund(local)
            var problem = ProblemResponse(
                status: .serviceUnavailable, slug: "store-unavailable", title: "Service Unavailable",
                detail: "the rate-limit store is unavailable and limit \(denying.name) fails closed")
            problem.headers.append(("retry-after", "1"))
            problem.decision = "store-unavailable:\(denying.name)"
            return .respond(problem)
        }
        return decide(route: route, limits: limits, outcomes: outcomes, exchange: exchange, loop: loop)
    }

    /// `outcomes[i]` is nil for a limit that was not evaluated (its store failed, or an earlier
    /// store already refused).
    func decide(
        route: Route, limits: [RateLimitPolicy], outcomes: [TokenBucket.Outcome?], exchange: Exchange, loop: LoopContext
    ) -> PhaseResult {
        if let refused = outcomes.firstIndex(where: { $0?.allowed == false }), let outcome = outcomes[refused] {
            loop.metrics.recordRateLimitDecision(route: route.name, limit: limits[refused].name, result: "limited")
            let limit = limits[refused]
            let retryAfter = Self.seconds(outcome.waitMicroseconds)
            var problem = ProblemResponse(
                status: .tooManyRequests, slug: "rate-limited", title: "Too Many Requests",
                detail: "limit \(limit.name) allows \(limit.rate) with a burst of \(limit.burst); retry in \(retryAfter) s")
            problem.headers.append(("retry-after", String(retryAfter)))
            problem.headers.append(("ratelimit-policy", limit.policyItem))
            problem.headers.append(("ratelimit", Self.field(limit, remaining: 0, seconds: retryAfter)))
            problem.decision = "rate-limited:\(limit.name)"
            return .respond(problem)
        }
        var tightest: Int?
        for (index, limit) in limits.enumerated() {
            guard let outcome = outcomes[index] else { continue }
            loop.metrics.recordRateLimitDecision(route: route.name, limit: limit.name, result: "allowed")
            if tightest.map({ outcome.remaining < outcomes[$0]!.remaining }) ?? true { tightest = index }
        }
        if let tightest, let outcome = outcomes[tightest] {
            let limit = limits[tightest]
            exchange.responseHeaders.append(("ratelimit-policy", limit.policyItem))
            exchange.responseHeaders.append((
                "ratelimit", Self.field(limit, remaining: outcome.remaining, seconds: Self.seconds(outcome.waitMicroseconds))))
        }
        return .proceed
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
