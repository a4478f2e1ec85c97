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
        var requests: [(key: String, bucket: TokenBucket)] = []
        var applied: [RateLimitPolicy] = []
        requests.reserveCapacity(route.limits.count)
        for limit in route.limits {
            guard let key = BucketKey.make(limit, service: exchange.snapshot.service, route: route.name, exchange: exchange) else {
                loop.metrics.recordRateLimitDecision(route: route.name, limit: limit.name, result: "skipped")
                continue
            }
            requests.append((key, TokenBucket(limit)))
            applied.append(limit)
        }
        guard !requests.isEmpty else { return .proceed }
        let outcomes = loop.buckets.take(requests, now: WallClock.now() * 1_000_000)
        return decide(route: route, limits: applied, outcomes: outcomes, exchange: exchange, loop: loop)
    }

    func decide(
        route: Route, limits: [RateLimitPolicy], outcomes: [TokenBucket.Outcome], exchange: Exchange, loop: LoopContext
    ) -> PhaseResult {
        if let refused = outcomes.firstIndex(where: { !$0.allowed }) {
            for (index, limit) in limits.enumerated() {
                let result = index == refused ? "limited" : (index < refused ? "allowed" : "skipped")
                if index <= refused { loop.metrics.recordRateLimitDecision(route: route.name, limit: limit.name, result: result) }
            }
            let limit = limits[refused], outcome = outcomes[refused]
            let retryAfter = Self.seconds(outcome.waitMicroseconds)
            var problem = ProblemResponse(
                status: .tooManyRequests, slug: "rate-limited", title: "Too Many Requests",
                detail: "limit \(limit.name) allows \(limit.rate) with a burst of \(limit.burst); retry in \(retryAfter) s")
            problem.headers.append(("retry-after", String(retryAfter)))
            problem.headers.append(("ratelimit-policy", Self.policyField(limit)))
            problem.headers.append(("ratelimit", Self.field(limit, remaining: 0, seconds: retryAfter)))
            problem.decision = "rate-limited:\(limit.name)"
            return .respond(problem)
        }
        var tightest = 0
        for (index, limit) in limits.enumerated() {
            loop.metrics.recordRateLimitDecision(route: route.name, limit: limit.name, result: "allowed")
            if outcomes[index].remaining < outcomes[tightest].remaining { tightest = index }
        }
        let limit = limits[tightest], outcome = outcomes[tightest]
        exchange.responseHeaders.append(("ratelimit-policy", Self.policyField(limit)))
        exchange.responseHeaders.append((
            "ratelimit", Self.field(limit, remaining: outcome.remaining, seconds: Self.seconds(outcome.waitMicroseconds))))
        return .proceed
    }

    /// Whole seconds, rounded up, at least 1 when anything is left to wait.
    static func seconds(_ microseconds: Double) -> Int {
        microseconds <= 0 ? 0 : max(1, Int((microseconds / 1_000_000).rounded(.up)))
    }

    /// `"per-user";q=20;w=2`: the bucket's capacity and the seconds it takes to refill from empty
    /// (draft-ietf-httpapi-ratelimit-headers).
    static func policyField(_ limit: RateLimitPolicy) -> String {
        let window = max(1, Int((Double(limit.burst) / limit.rate.tokensPerSecond).rounded(.up)))
        return "\"\(limit.name)\";q=\(limit.burst);w=\(window)"
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
        var key = "tg:"
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
