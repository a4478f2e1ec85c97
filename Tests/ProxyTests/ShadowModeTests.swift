import Foundation
import TestSupport
import Testing

/// `mode: shadow` through a real sidecar: decided, counted and logged, never refused.
@Suite("Shadow mode")
struct ShadowModeTests {
    static let policy = """
        version: 1
        issuers:
          legacy: { issuer: legacy, secret_env: SHADOW_TEST_SECRET }
        limits:
          trial: { rate: 1/m, burst: 1, key: [ip], mode: shadow }
          enforced: { rate: 1/m, burst: 3, key: [ip] }
        routes:
          - name: v3
            match: { prefix: /echo/v3 }
            mode: shadow
            auth: { issuers: [legacy], scopes: [orders.read] }
          - name: mixed
            match: { prefix: /echo/mixed }
            auth: none
            limits: [trial, enforced]
        """
    static let environment = ["SHADOW_TEST_SECRET": String(repeating: "s", count: 40)]

    @Test("a shadow route whose token check fails forwards, logs shadow:<reason> and counts it")
    func shadowRouteForwards() throws {
        let fixture = try ProxyFixture(policy: Self.policy, environment: Self.environment)
        let response = try fixture.proxy.request("GET", "/echo/v3/orders")
        #expect(response.status == 200)
        #expect(fixture.upstream.received.count == 1)
        let log = fixture.proxy.accessLog(atLeast: 1)
        #expect(log.first?["decision"] as? String == "shadow:invalid-token:missing_token")
        let metrics = try fixture.proxy.admin("GET", "/metrics").text
        #expect(metrics.contains(#"tollgate_auth_decisions_total{route="v3",result="denied",reason="missing_token",mode="shadow"} 1"#))
        #expect(metrics.contains(#"tollgate_shadow_refusals_total{route="v3",reason="invalid-token:missing_token"} 1"#))
        let policies = try fixture.proxy.admin("GET", "/policies").json
        let shadow = policies["shadow"] as? [String: Any]
        #expect(shadow?["routes"] as? [String] == ["v3"])
        #expect(shadow?["limits"] as? [String] == ["trial"])
    }

    @Test("a shared shadow limit counts across sidecars through Redis, in buckets of its own")
    func sharedShadowLimitThroughRedis() throws {
        let setup = try RedisRateLimitTests.ThreeSidecars(policy: """
            version: 1
            service: shop
            limits:
              trial: { rate: 1/d, burst: 2, key: [route], mode: shadow }
              enforced: { rate: 1/d, burst: 3, key: [route] }
              open-on-error: { rate: 1/d, burst: 1000000, key: [ip] }
            routes:
              - { name: r, match: { prefix: /echo/r }, auth: none, limits: [trial, enforced] }
              - { name: open, match: { prefix: /echo/open }, auth: none, limits: [open-on-error] }
            """)
        defer { withExtendedLifetime(setup) {} }
        // One request per sidecar, then a fourth: the trial bucket is shared, so the third is over it
        // wherever it lands; the enforcing bucket admits exactly three.
        var statuses: [Int] = []
        for proxy in setup.proxies + [setup.proxies[0]] { statuses.append(try proxy.request("GET", "/echo/r").status) }
        #expect(statuses == [200, 200, 200, 429])
        var results: [String: Int] = [:]
        for proxy in setup.proxies {
            let metrics = try proxy.admin("GET", "/metrics").text
            for result in ["shadow_allowed", "shadow_limited", "shadow_error"] {
                let prefix = #"tollgate_ratelimit_decisions_total{route="r",limit="trial",result="\#(result)"} "#
                for line in metrics.split(separator: "\n") where line.hasPrefix(prefix) {
                    results[result, default: 0] += Int(line.dropFirst(prefix.count)) ?? 0
                }
            }
        }
        #expect(results == ["shadow_allowed": 2, "shadow_limited": 2])
        #expect(try setup.redis.integer(["EXISTS", "shadow:tg:shop:trial:r"]) == 1)
        let third = setup.proxies[2].accessLog(atLeast: 7).filter { $0["route"] as? String == "r" }
        #expect(third.map { $0["decision"] as? String } == ["shadow:rate-limited:trial"])
    }

    @Test("a shadow limit never answers 429 and leaves the enforcing bucket untouched")
    func shadowLimitTakesNothing() throws {
        let fixture = try ProxyFixture(policy: Self.policy, environment: Self.environment)
        // trial (burst 1) would refuse the 2nd and 3rd; enforced (burst 3) counts all three exactly.
        for remaining in [2, 1, 0] {
            let response = try fixture.proxy.request("GET", "/echo/mixed")
            #expect(response.status == 200)
            #expect(response.header("ratelimit") == "\"enforced\";r=\(remaining);t=\(60 * (3 - remaining))")
        }
        let refused = try fixture.proxy.request("GET", "/echo/mixed")
        #expect(refused.status == 429)
        #expect(refused.header("ratelimit-policy") == "\"enforced\";q=3;w=180", "the enforcing limit refuses, never the shadow one")
        let metrics = try fixture.proxy.admin("GET", "/metrics").text
        #expect(metrics.contains(#"tollgate_ratelimit_decisions_total{route="mixed",limit="trial",result="shadow_allowed"} 1"#))
        #expect(metrics.contains(#"tollgate_ratelimit_decisions_total{route="mixed",limit="trial",result="shadow_limited"} 3"#))
        #expect(metrics.contains(#"tollgate_ratelimit_decisions_total{route="mixed",limit="enforced",result="allowed"} 3"#))
        let decisions = fixture.proxy.accessLog(atLeast: 4).compactMap { $0["decision"] as? String }.sorted()
        #expect(decisions == ["allowed", "rate-limited:enforced", "shadow:rate-limited:trial", "shadow:rate-limited:trial"])
    }
}
