import Foundation
import TestSupport
import Testing

@Suite("Rate limits (in-process store)")
struct RateLimitTests {
    static let policy = """
        version: 1
        service: shop
        limits:
          per-ip: { rate: 1/m, burst: 3, key: [ip] }
          per-tenant: { rate: 1/m, burst: 2, key: ['header:x-tenant'] }
          roomy: { rate: 100/s, burst: 100, key: [ip] }
        routes:
          - name: limited
            match: { prefix: /echo/limited }
            auth: none
            limits: [roomy, per-ip]
          - name: tenant
            match: { prefix: /echo/tenant }
            auth: none
            limits: [per-tenant]
        """

    @Test("the burst passes with RateLimit fields, the next is 429 with Retry-After and the refusing limit named")
    func burstThenRefused() throws {
        let fixture = try ProxyFixture(policy: Self.policy)
        for remaining in [2, 1, 0] {
            let response = try fixture.proxy.request("GET", "/echo/limited")
            #expect(response.status == 200)
            #expect(response.header("ratelimit") == "\"per-ip\";r=\(remaining);t=\(60 * (3 - remaining))", "tightest limit")
            #expect(response.header("ratelimit-policy") == "\"per-ip\";q=3;w=180")
        }
        let refused = try fixture.proxy.request("GET", "/echo/limited")
        #expect(refused.status == 429)
        #expect(refused.header("content-type") == "application/problem+json")
        #expect(refused.header("retry-after") == "60")
        #expect(refused.header("ratelimit-policy") == "\"per-ip\";q=3;w=180")
        #expect(refused.header("ratelimit") == "\"per-ip\";r=0;t=60")
        #expect(refused.json["type"] as? String == "urn:tollgate:problem:rate-limited")
        #expect(fixture.upstream.received.count == 3)
        let metrics = try fixture.proxy.admin("GET", "/metrics").text
        #expect(metrics.contains("tollgate_ratelimit_decisions_total{route=\"limited\",limit=\"per-ip\",result=\"allowed\"} 3"))
        #expect(metrics.contains("tollgate_ratelimit_decisions_total{route=\"limited\",limit=\"per-ip\",result=\"limited\"} 1"))
        let log = fixture.proxy.accessLog(atLeast: 4)
        // Lines are written when each exchange finishes, so their order is not the requests' order.
        let decisions = log.compactMap { $0["decision"] as? String }
        #expect(decisions.filter { $0 == "rate-limited:per-ip" }.count == 1)
        #expect(decisions.filter { $0 == "allowed" }.count == 3)
    }

    @Test("a missing key part skips the limit (counted); each key value has its own bucket")
    func skippedAndKeyed() throws {
        let fixture = try ProxyFixture(policy: Self.policy)
        for _ in 0..<4 { try #expect(fixture.proxy.request("GET", "/echo/tenant").status == 200, "no x-tenant: not limited") }
        #expect(try fixture.proxy.request("GET", "/echo/tenant", headers: [("X-Tenant", "a")]).status == 200)
        #expect(try fixture.proxy.request("GET", "/echo/tenant", headers: [("X-Tenant", "a")]).status == 200)
        #expect(try fixture.proxy.request("GET", "/echo/tenant", headers: [("X-Tenant", "a")]).status == 429)
        #expect(try fixture.proxy.request("GET", "/echo/tenant", headers: [("X-Tenant", "b")]).status == 200)
        let metrics = try fixture.proxy.admin("GET", "/metrics").text
        #expect(metrics.contains("tollgate_ratelimit_decisions_total{route=\"tenant\",limit=\"per-tenant\",result=\"skipped\"} 4"))
    }
}
