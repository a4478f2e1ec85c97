import Foundation
import TestSupport
import Testing

/// A Redis that refuses our password, seen through the proxy.
extension RedisRateLimitTests {
    @Test("--redis with a password holding %, : and @, percent-encoded: limits go through Redis; a wrong password is a store error")
    func passwordThroughProxy() throws {
        let password = "50%off:p@ss"
        let redis = try RedisServer(password: password)
        let good = try ProxyFixture(policy: Self.policy, arguments: ["--redis", redis.url])
        try Self.waitForRedis([good.proxy])
        let statuses = try (0..<4).map { _ in try good.proxy.request("GET", "/echo/seq", headers: [("X-Seq", "k")]).status }
        #expect(statuses == [200, 200, 200, 429])
        #expect(try redis.integer(["EXISTS", "tg:shop:sequence:k"]) == 1, "counted in Redis")
        let logs = good.proxy.stderr + good.proxy.stdout
        #expect(logs.contains("redis://127.0.0.1:\(redis.port)/0"), "the start-up line names Redis")
        #expect(!logs.contains("50%") && !logs.contains("p@ss") && !logs.contains("p%40ss"), "never its password")

        let wrong = try ProxyFixture(
            policy: Self.policy,
            arguments: ["--redis", "redis://:\(RedisServer.encode("50%off:p@sS"))@127.0.0.1:\(redis.port)", "--redis-timeout", "50ms"])
        // Several handshakes (back-off from 100 ms), all refused.
        Thread.sleep(forTimeInterval: 0.5)
        for _ in 0..<3 {
            let closed = try wrong.proxy.request("GET", "/echo/closed")
            #expect(closed.status == 503)
            let open = try wrong.proxy.request("GET", "/echo/open")
            #expect(open.status == 200)
            #expect(open.header("ratelimit") == nil, "admitted by on_error, not by a bucket")
        }
        let metrics = try wrong.proxy.admin("GET", "/metrics").text
        #expect((metricValue(metrics, "tollgate_store_errors_total") ?? 0) >= 6)
        _ = try wrong.proxy.request("GET", "/echo/seq", headers: [("X-Seq", "w")])
        #expect(try redis.integer(["EXISTS", "tg:shop:sequence:w"]) == 0, "nothing reached Redis unauthenticated")

        // A user without a password could send no AUTH: refused at start with one clear line.
        do {
            _ = try ProxyFixture(policy: Self.policy, arguments: ["--redis", "redis://tollgate@127.0.0.1:\(redis.port)"])
            Issue.record("started with a --redis user but no password")
        } catch let ProxyHarness.HarnessError.exited(status, stderr) {
            #expect(status != 0)
            #expect(stderr.contains("--redis must be"), "\(stderr)")
        }
    }
}
