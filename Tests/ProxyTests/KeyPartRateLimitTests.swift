import Core
import Foundation
import TestSupport
import Testing

/// Bucket keys built from `method`, `subject` and `claim:NAME` of real requests with real (HS256)
/// tokens, through both stores; a request without the part is not counted (`skipped`).
@Suite("Rate-limit key parts", .serialized)
struct KeyPartRateLimitTests {
    static let secret = "key-parts-test-secret-0123456789abcdef"
    static let policy = """
        version: 1
        service: parts
        issuers:
          test:
            issuer: https://parts.test
            secret_env: TOLLGATE_PARTS_SECRET
            algorithms: [HS256]
        limits:
          by-method: { rate: 1/d, burst: 2, key: [method] }
          by-subject: { rate: 1/d, burst: 2, key: [subject] }
          by-tenant: { rate: 1/d, burst: 2, key: ['claim:tenant'] }
          open-on-error: { rate: 1/d, burst: 1000000, key: [ip], on_error: allow }
        routes:
          - { name: method, match: { path: /echo/method }, auth: none, limits: [by-method] }
          - { name: subject, match: { path: /echo/subject }, auth: { issuers: [test], optional: true }, limits: [by-subject] }
          - { name: tenant, match: { path: /echo/tenant }, auth: { issuers: [test], optional: true }, limits: [by-tenant] }
          - { name: fail-open, match: { path: /echo/open }, auth: none, limits: [open-on-error] }
        """

    enum Store: String, CaseIterable, CustomTestStringConvertible {
        case redis, inProcess
        var testDescription: String { rawValue }
    }

    /// A sidecar with the policy and the issuer's secret; with `.redis`, its own redis-server.
    struct Setup {
        let redis: RedisServer?
        let fixture: ProxyFixture
        var proxy: ProxyHarness { fixture.proxy }

        init(_ store: Store) throws {
            redis = store == .redis ? try RedisServer() : nil
            fixture = try ProxyFixture(
                policy: KeyPartRateLimitTests.policy, arguments: redis.map { ["--redis", $0.url] } ?? [],
                environment: ["TOLLGATE_PARTS_SECRET": KeyPartRateLimitTests.secret])
            if redis != nil { try RedisRateLimitTests.waitForRedis([fixture.proxy]) }
        }

        /// Whether the bucket key exists in Redis (true without Redis: nothing to check there).
        func inRedis(_ key: String) throws -> Bool {
            guard let redis else { return true }
            return try redis.integer(["EXISTS", key]) == 1
        }
    }

    /// An HS256 token of the test issuer, valid for an hour, with `claims` (and a fresh `jti`, so two
    /// tokens for the same subject are different tokens).
    static func bearer(_ claims: [String: String]) throws -> (String, String) {
        var payload: [String: Any] = claims
        payload["iss"] = "https://parts.test"
        payload["exp"] = Int(Date().timeIntervalSince1970) + 3600
        payload["jti"] = UUID().uuidString
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let body = Base64URL.encode(Array(try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])))
        let input = header + "." + body
        let signature = HMAC.authenticationCode(.sha256, key: Array(secret.utf8), message: Array(input.utf8))
        return ("Authorization", "Bearer " + input + "." + Base64URL.encode(signature))
    }

    static func series(_ route: String, _ limit: String, _ result: String) -> String {
        "tollgate_ratelimit_decisions_total{route=\"\(route)\",limit=\"\(limit)\",result=\"\(result)\"}"
    }

    @Test("method: each HTTP method has its own bucket", arguments: Store.allCases)
    func method(_ store: Store) throws {
        let setup = try Setup(store)
        let gets = try (0..<3).map { _ in try setup.proxy.request("GET", "/echo/method").status }
        let posts = try (0..<3).map { _ in try setup.proxy.request("POST", "/echo/method", body: "").status }
        #expect(gets == [200, 200, 429])
        #expect(posts == [200, 200, 429], "POST is not charged for GET")
        #expect(try setup.inRedis("tg:parts:by-method:GET") && setup.inRedis("tg:parts:by-method:POST"))
    }

    @Test("subject: one bucket per token subject, whatever the token; anonymous requests skip the limit", arguments: Store.allCases)
    func subject(_ store: Store) throws {
        let setup = try Setup(store)
        let alice = try Self.bearer(["sub": "alice"])
        #expect(try setup.proxy.request("GET", "/echo/subject", headers: [alice]).status == 200)
        #expect(try setup.proxy.request("GET", "/echo/subject", headers: [alice]).status == 200)
        let refused = try setup.proxy.request("GET", "/echo/subject", headers: [try Self.bearer(["sub": "alice"])])
        #expect(refused.status == 429, "another token of the same subject shares the bucket")
        #expect(refused.header("ratelimit-policy") == "\"by-subject\";q=2;w=172800")
        #expect(try setup.proxy.request("GET", "/echo/subject", headers: [try Self.bearer(["sub": "bob"])]).status == 200)
        for _ in 0..<4 {
            let anonymous = try setup.proxy.request("GET", "/echo/subject")
            #expect(anonymous.status == 200, "no token: no subject, the limit does not apply")
            #expect(anonymous.header("ratelimit") == nil)
        }
        #expect(try setup.inRedis("tg:parts:by-subject:alice") && setup.inRedis("tg:parts:by-subject:bob"))
        let metrics = try setup.proxy.admin("GET", "/metrics").text
        #expect(metricValue(metrics, Self.series("subject", "by-subject", "skipped")) == 4)
        #expect(metricValue(metrics, Self.series("subject", "by-subject", "allowed")) == 3)
        #expect(metricValue(metrics, Self.series("subject", "by-subject", "limited")) == 1)
    }

    @Test("claim:tenant: subjects of one tenant share a bucket; a token without the claim skips the limit", arguments: Store.allCases)
    func claim(_ store: Store) throws {
        let setup = try Setup(store)
        func status(_ claims: [String: String]?) throws -> Int {
            try setup.proxy.request("GET", "/echo/tenant", headers: claims.map { [try Self.bearer($0)] } ?? []).status
        }
        #expect(try status(["sub": "alice", "tenant": "acme"]) == 200)
        #expect(try status(["sub": "bob", "tenant": "acme"]) == 200)
        #expect(try status(["sub": "carol", "tenant": "acme"]) == 429, "the tenant's bucket, not the subject's")
        #expect(try status(["sub": "alice", "tenant": "globex"]) == 200)
        // A value with `:` is escaped in the key, so it cannot pose as another key's parts.
        #expect(try status(["sub": "dave", "tenant": "a:b"]) == 200)
        for _ in 0..<3 { #expect(try status(["sub": "erin"]) == 200, "no tenant claim: not counted") }
        for _ in 0..<2 { #expect(try status(nil) == 200, "anonymous: not counted") }
        #expect(try setup.inRedis("tg:parts:by-tenant:acme") && setup.inRedis("tg:parts:by-tenant:a%3Ab"))
        let metrics = try setup.proxy.admin("GET", "/metrics").text
        #expect(metricValue(metrics, Self.series("tenant", "by-tenant", "skipped")) == 5)
        #expect(metricValue(metrics, Self.series("tenant", "by-tenant", "limited")) == 1)
        #expect(metricValue(metrics, Self.series("tenant", "by-tenant", "allowed")) == 4)
    }
}
