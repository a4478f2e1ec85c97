import Core
import NIOCore
import NIOHTTP1

/// Phase 3: who is calling. For a route with `auth: { issuers: … }`, the `Authorization: Bearer`
/// token must verify against one of the route's issuers (JWTVerifier: signature, `exp`/`nbf`/`iat`,
/// `iss`, `aud`, no `crit`). A token seen before on this loop costs one cache lookup. With
/// `optional: true` a request without the header passes as anonymous; a bad token still fails.
///
/// An unknown `kid` of a `jwks_url` issuer suspends the request while the JWKS is fetched again
/// (at most once per 30 s per issuer), then verifies once more; keys never fetched do the same.
struct AuthenticatePhase: RequestPhase {
    let name = "authenticate"

    func run(_ exchange: Exchange, on loop: PhaseContext) -> PhaseResult {
        guard let route = exchange.route, case let .required(requirement) = route.auth else { return .proceed }
        let count = exchange.head.count(of: .authorization)
        if count == 0 {
            if requirement.optional {
                loop.metrics.recordAuthDecision(route: route.name, result: "anonymous", reason: "no_token")
                return .proceed
            }
            return deny(JWTFailure(.missing, "the request has no bearer token"), route: route, loop: loop)
        }
        guard count == 1, let value = exchange.head.firstValue(.authorization, in: exchange.headBytes),
            let token = Self.bearerToken(value)
        else {
            return deny(JWTFailure(.malformed, "Authorization is not one Bearer token"), route: route, loop: loop)
        }
        return authenticate(token, requirement: requirement, route: route, exchange: exchange, loop: loop, mayRefetch: true)
    }

    private func authenticate(
        _ token: Substring, requirement: TokenRequirement, route: Route, exchange: Exchange, loop: PhaseContext, mayRefetch: Bool
    ) -> PhaseResult {
        let now = loop.now()
        let token = String(token)
        // The cache belongs to the loop's current snapshot; a request still on an older one verifies.
        let cacheUsable = exchange.snapshot === loop.snapshot
        if cacheUsable, let cached = loop.tokenCache.lookup(token, now: now),
           requirement.issuers.contains(where: { $0.name == cached.issuerName }) {
            loop.metrics.recordTokenCache(hit: true)
            exchange.token = cached
            exchange.subject = cached.subject
            return .proceed
        }
        loop.metrics.recordTokenCache(hit: false)
        let result = JWTVerifier.verify(token, issuers: requirement.issuers, now: now, signatures: loop.signatures) { issuer in
            exchange.staticKeys[issuer.name] ?? loop.fetchedKeys[issuer.name]?.keys
        }
        switch result {
        case let .success(verified):
            if cacheUsable, let issuer = exchange.snapshot.issuers[verified.issuerName] {
                loop.tokenCache.insert(token, verified: verified, validUntil: verified.expiresAt + issuer.clockSkew.secondsDouble, now: now)
            }
            exchange.token = verified
            exchange.subject = verified.subject
            return .proceed
        case let .failure(failure):
            // One refetch of the issuer's keys, then one more try; the refetcher calls back on this
            // context's thread, never before this phase has returned `.pending`.
            if mayRefetch, failure.reason == .unknownKey || failure.reason == .keysUnavailable, let issuer = failure.issuerName,
               let refetcher = loop.keyRefetcher,
               refetcher.refetch(issuer: issuer, early: failure.reason == .unknownKey, then: {
                   loop.phases.resume(exchange, with: self.authenticate(
                       Substring(token), requirement: requirement, route: route, exchange: exchange, loop: loop, mayRefetch: false),
                       on: loop)
               }) {
                return .pending
            }
            return deny(failure, route: route, loop: loop)
        }
    }

    private func deny(_ failure: JWTFailure, route: Route, loop: PhaseContext) -> PhaseResult {
        loop.metrics.recordAuthDecision(route: route.name, result: "denied", reason: failure.reason.rawValue, shadow: route.mode == .shadow)
        if failure.reason == .keysUnavailable {
            // Not the caller's fault: the issuer's keys could not be fetched.
            var problem = ProblemResponse(
                status: .serviceUnavailable, slug: "keys-unavailable", title: "Service Unavailable", detail: failure.detail)
            problem.headers.append(("retry-after", "1"))
            return .respond(problem)
        }
        return .respond(.invalidToken(failure))
    }

    /// The token of `Bearer <token>` (Core's parser, shared with the control plane), or nil.
    static func bearerToken(_ value: String) -> Substring? {
        BearerToken.parse(value)
    }
}

/// Phase 4: what the caller may do. Every scope the route names (from `scope` or `scp`) and every
/// claim rule must hold; otherwise 403 `insufficient_scope`. Anonymous requests (optional auth)
/// have nothing to check.
struct AuthorizePhase: RequestPhase {
    let name = "authorize"

    func run(_ exchange: Exchange, on loop: PhaseContext) -> PhaseResult {
        guard let route = exchange.route, case let .required(requirement) = route.auth, let token = exchange.token else {
            return .proceed
        }
        let missing = requirement.scopes.filter { !token.scopes.contains($0) }
        if !missing.isEmpty {
            loop.metrics.recordAuthDecision(route: route.name, result: "denied", reason: "insufficient_scope", shadow: route.mode == .shadow)
            var problem = ProblemResponse.insufficientScope(
                "the token lacks scope \(missing.joined(separator: " "))", requiredScopes: requirement.scopes)
            problem.decision = "insufficient-scope:missing_scope"
            return .respond(problem)
        }
        for rule in requirement.claims where !Self.satisfies(token.claims[rule.claim], rule.allowed) {
            loop.metrics.recordAuthDecision(route: route.name, result: "denied", reason: "claim_mismatch", shadow: route.mode == .shadow)
            var problem = ProblemResponse.insufficientScope(
                "claim \(rule.claim) does not have an accepted value", requiredScopes: requirement.scopes)
            problem.decision = "insufficient-scope:claim_mismatch"
            return .respond(problem)
        }
        loop.metrics.recordAuthDecision(route: route.name, result: "allowed", reason: "ok", shadow: route.mode == .shadow)
        return .proceed
    }

    /// The claim equals one of the allowed values, or is an array that contains one.
    static func satisfies(_ claim: JSONValue?, _ allowed: [ClaimRule.Value]) -> Bool {
        guard let claim else { return false }
        if case let .array(elements) = claim { return elements.contains { matches($0, allowed) } }
        return matches(claim, allowed)
    }

    private static func matches(_ value: JSONValue, _ allowed: [ClaimRule.Value]) -> Bool {
        allowed.contains { rule in
            switch (rule, value) {
            case let (.string(expected), .string(actual)): expected == actual
            case let (.integer(expected), .number(_, actual)): Double(expected) == actual
            case let (.boolean(expected), .bool(actual)): expected == actual
            default: false
            }
        }
    }
}

extension ProblemResponse {
    /// 401 with the RFC 6750 challenge spec/policy.md prescribes.
    static func invalidToken(_ failure: JWTFailure) -> ProblemResponse {
        var problem = ProblemResponse(status: .unauthorized, slug: "invalid-token", title: "Unauthorized", detail: failure.detail)
        problem.headers.append((
            "www-authenticate",
            "Bearer realm=\"tollgate\", error=\"invalid_token\", error_description=\"\(Self.quotable(failure.detail))\""))
        problem.decision = "invalid-token:\(failure.reason.rawValue)"
        return problem
    }

    /// 403 with `error="insufficient_scope"` and the scopes the route requires.
    static func insufficientScope(_ detail: String, requiredScopes: [String]) -> ProblemResponse {
        var problem = ProblemResponse(status: .forbidden, slug: "insufficient-scope", title: "Forbidden", detail: detail)
        var challenge = "Bearer realm=\"tollgate\", error=\"insufficient_scope\", error_description=\"\(Self.quotable(detail))\""
        if !requiredScopes.isEmpty { challenge += ", scope=\"\(Self.quotable(requiredScopes.joined(separator: " ")))\"" }
        problem.headers.append(("www-authenticate", challenge))
        return problem
    }

    /// RFC 6750 §3 attribute values (the same filter the verifier applies to token values).
    static func quotable(_ text: String) -> String {
        HeaderText.quotable(text)
    }
}
