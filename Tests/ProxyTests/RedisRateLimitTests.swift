import Foundation
import TestSupport
import Testing

/// Shared limits through a real redis-server started by the test on a loopback port.
@Suite("Rate limits through Redis", .serialized)
struct RedisRateLimitTests {
    static let policy = """
        version: 1
        service: shop
        limits:
          burst-50: { rate: 1/d, burst: 50, key: [route] }
          wide: { rate: 1/d, burst: 40, key: [ip] }
          narrow: { rate: 1/d, burst: 25, key: [ip] }
          open-on-error: { rate: 1/d, burst: 1000000, key: [ip], on_error: allow }
          closed-on-error: { rate: 1/d, burst: 1000000, key: [ip], on_error: deny }
          sequence: { rate: 1/d, burst: 3, cost: 1, key: ['header:x-seq'] }
        routes:
          - { name: hot, match: { prefix: /echo/hot }, auth: none, limits: [burst-50] }
          - { name: both, match: { prefix: /echo/both }, auth: none, limits: [wide, narrow] }
          - { name: wide-only, match: { prefix: /echo/wide }, auth: none, limits: [wide] }
          - { name: fail-open, match: { prefix: /echo/open }, auth: none, limits: [open-on-error] }
          - { name: fail-closed, match: { prefix: /echo/closed }, auth: none, limits: [closed-on-error] }
          - { name: seq, match: { prefix: /echo/seq }, auth: none, limits: [sequence] }
        """

    /// Sends `total` requests from `workers` threads, spread over the proxies; returns the statuses.
    static func hammer(_ proxies: [ProxyHarness], path: String, total: Int, workers: Int) -> [Int] {
        let statuses = LockedArray()
        let ports = proxies.map(\.port)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            guard let connection = try? RawHTTPConnection(port: ports[worker % ports.count]) else { return }
            for _ in 0..<(total / workers) {
                do {
                    try connection.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                    statuses.append(try connection.readResponse().status)
                } catch {
                    statuses.append(-1)
                    return
                }
            }
        }
        return statuses.values
    }

    @Test("three sidecars, one Redis: a burst from many connections admits exactly the bucket, never more")
    func exactAcrossProcesses() throws {
        let redis = try RedisServer()
        let upstream = try TestUpstream()
        defer { upstream.shutdown() }
        let proxies = try (0..<3).map { _ in
            try ProxyHarness(policies: ["p.yaml": Self.policy], upstreamPort: upstream.port, arguments: ["--redis", redis.url])
        }
        defer { for proxy in proxies { _ = proxy.stop() } }
        try Self.waitForRedis(proxies)
        let statuses = Self.hammer(proxies, path: "/echo/hot", total: 240, workers: 12)
        #expect(statuses.count == 240)
        #expect(statuses.filter { $0 == 200 }.count == 50, "burst 50 and 1/d: exactly 50 admitted")
        #expect(statuses.filter { $0 == 429 }.count == 190)
        #expect(upstream.received.filter { $0.uri == "/echo/hot" }.count == 50)
    }

    @Test("two limits on one route: a request refused by one charges neither")
    func deniedChargesNothing() throws {
        let redis = try RedisServer()
        let fixture = try ProxyFixture(policy: Self.policy, arguments: ["--redis", redis.url])
        try Self.waitForRedis([fixture.proxy])
        let both = Self.hammer([fixture.proxy], path: "/echo/both", total: 60, workers: 4)
        #expect(both.filter { $0 == 200 }.count == 25, "narrow (25) decides")
        // wide (40) was charged only by the 25 admitted requests: 15 are left.
        let wide = Self.hammer([fixture.proxy], path: "/echo/wide", total: 30, workers: 3)
        #expect(wide.filter { $0 == 200 }.count == 15)
    }

    @Test("the same scripted sequence gives the same answers from Redis and from the in-process store")
    func parity() throws {
        let redis = try RedisServer()
        let shared = try ProxyFixture(policy: Self.policy, arguments: ["--redis", redis.url])
        let local = try ProxyFixture(policy: Self.policy)
        try Self.waitForRedis([shared.proxy])
        func run(_ fixture: ProxyFixture) throws -> [String] {
            try ["a", "a", "b", "a", "a", "b", "c", "b", "b", "a"].map { key in
                let response = try fixture.proxy.request("GET", "/echo/seq", headers: [("X-Seq", key)])
                return "\(response.status) \(response.header("ratelimit") ?? "-") \(response.header("retry-after") ?? "-")"
            }
        }
        let fromRedis = try run(shared)
        let inProcess = try run(local)
        #expect(fromRedis == inProcess)
        #expect(fromRedis[4].hasPrefix("429"), "\(fromRedis)")
        let policies = try shared.proxy.admin("GET", "/policies").json
        #expect(policies["store"] as? String == "redis")
        #expect(try local.proxy.admin("GET", "/policies").json["store"] as? String == "in-process")
    }

    @Test("SCRIPT FLUSH: the next call falls back to EVAL and limits keep counting")
    func noscript() throws {
        let redis = try RedisServer()
        let fixture = try ProxyFixture(policy: Self.policy, arguments: ["--redis", redis.url])
        try Self.waitForRedis([fixture.proxy])
        #expect(try fixture.proxy.request("GET", "/echo/seq", headers: [("X-Seq", "k")]).status == 200)
        #expect(try redis.command(["SCRIPT", "FLUSH"]).contains("OK"))
        #expect(try fixture.proxy.request("GET", "/echo/seq", headers: [("X-Seq", "k")]).status == 200)
        #expect(try fixture.proxy.request("GET", "/echo/seq", headers: [("X-Seq", "k")]).status == 200)
        #expect(try fixture.proxy.request("GET", "/echo/seq", headers: [("X-Seq", "k")]).status == 429)
        let metrics = try fixture.proxy.admin("GET", "/metrics").text
        #expect(metrics.contains("tollgate_store_errors_total 0"))
    }

    @Test("Redis killed: on_error decides at once (allow passes, deny is 503); restarted: enforced again within 5 s")
    func faults() throws {
        let redis = try RedisServer()
        let fixture = try ProxyFixture(
            policy: Self.policy, arguments: ["--redis", redis.url, "--redis-timeout", "50ms", "--threads", "2"])
        try Self.waitForRedis([fixture.proxy])
        #expect(try fixture.proxy.request("GET", "/echo/closed").status == 200)
        redis.kill()
        var slowest: Duration = .zero
        for index in 0..<20 {
            let start = ContinuousClock.now
            let open = try fixture.proxy.request("GET", "/echo/open")
            let closed = try fixture.proxy.request("GET", "/echo/closed")
            slowest = max(slowest, (ContinuousClock.now - start) / 2)
            #expect(open.status == 200, "request \(index)")
            #expect(closed.status == 503, "request \(index)")
            #expect(closed.json["type"] as? String == "urn:tollgate:problem:store-unavailable")
        }
        #expect(slowest < .milliseconds(500), "bounded by the timeout, not by Redis")
        let metrics = try fixture.proxy.admin("GET", "/metrics").text
        let errors = metrics.split(separator: "\n")
            .first { $0.hasPrefix("tollgate_ratelimit_decisions_total{route=\"fail-open\",limit=\"open-on-error\",result=\"error\"}") }
            .flatMap { $0.split(separator: " ").last.flatMap { Int($0) } } ?? 0
        #expect(errors >= 20, "every request while Redis was down counted as error")
        #expect(!metrics.contains("tollgate_store_errors_total 0"))

        try redis.start()
        let back = Date().addingTimeInterval(5)
        var enforced = false
        while Date() < back {
            if try fixture.proxy.request("GET", "/echo/closed").status == 200 { enforced = true; break }
            usleep(100_000)
        }
        #expect(enforced, "Redis back: limits enforced again within 5 s")
        #expect(fixture.proxy.process.isRunning)
        try Self.waitForRedis([fixture.proxy])
        // One connection per event loop, and none leaked by the reconnects (plus the one asking).
        let clients = try redis.command(["CLIENT", "LIST"]).split(separator: "\n").filter { $0.contains("addr=") }
        #expect(clients.count == 3, "\(clients)")
    }

    /// Until every event loop of every sidecar has its Redis connection up: an admitted request
    /// carries `RateLimit` only when its store answered (on_error allow passes without it).
    static func waitForRedis(_ proxies: [ProxyHarness]) throws {
        for proxy in proxies {
            let deadline = Date().addingTimeInterval(10)
            var streak = 0
            while Date() < deadline, streak < 6 {
                let response = try proxy.request("GET", "/echo/open")
                streak = response.header("ratelimit") != nil ? streak + 1 : 0
                if streak == 0 { usleep(50_000) }
            }
            #expect(streak >= 6, "Redis connections of the sidecar on port \(proxy.port) came up")
        }
    }
}

/// Statuses collected from several threads.
final class LockedArray: @unchecked Sendable {
    private var storage: [Int] = []
    private let lock = NSLock()
    func append(_ value: Int) { lock.lock(); storage.append(value); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return storage }
}
