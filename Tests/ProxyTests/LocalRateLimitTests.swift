import Foundation
import TestSupport
import Testing

/// `local: true` limits: counted in each process only, never in Redis, and part of the route's
/// all-or-nothing decision (RateLimitPhase: local buckets are taken first; if Redis then refuses,
/// they are given back; if a local one refuses, Redis is not asked).
@Suite("local: true limits", .serialized)
struct LocalRateLimitTests {
    static let policy = """
        version: 1
        service: locals
        limits:
          mine: { rate: 1/d, burst: 3, key: [route], local: true }
          ours: { rate: 1/d, burst: 3, key: [route] }
          local-roomy: { rate: 1/d, burst: 5, key: [ip], local: true }
          shared-tight: { rate: 1/d, burst: 2, key: [ip] }
          local-tight: { rate: 1/d, burst: 1, key: ['header:x-k'], local: true }
          shared-roomy: { rate: 1/d, burst: 3, key: ['header:x-k'] }
          open-on-error: { rate: 1/d, burst: 1000000, key: [ip], on_error: allow }
        routes:
          - { name: mine, match: { path: /echo/mine }, auth: none, limits: [mine] }
          - { name: ours, match: { path: /echo/ours }, auth: none, limits: [ours] }
          - { name: local-then-shared, match: { path: /echo/lr }, auth: none, limits: [local-roomy, shared-tight] }
          - { name: local-only, match: { path: /echo/l }, auth: none, limits: [local-roomy] }
          - { name: tight-local-then-shared, match: { path: /echo/rl }, auth: none, limits: [local-tight, shared-roomy] }
          - { name: shared-only, match: { path: /echo/r }, auth: none, limits: [shared-roomy] }
          - { name: fail-open, match: { path: /echo/open }, auth: none, limits: [open-on-error] }
        """

    enum Store: String, CaseIterable, CustomTestStringConvertible {
        case redis, inProcess
        var testDescription: String { rawValue }
    }

    static func statuses(_ proxy: ProxyHarness, _ path: String, _ count: Int, headers: [(String, String)] = []) throws -> [Int] {
        try (0..<count).map { _ in try proxy.request("GET", path, headers: headers).status }
    }

    @Test("a local limit is per process: two sidecars each admit their own burst (a shared one splits it only through Redis)",
          arguments: Store.allCases)
    func perProcess(_ store: Store) throws {
        let redis = store == .redis ? try RedisServer() : nil
        let arguments = redis.map { ["--redis", $0.url] } ?? []
        let first = try ProxyFixture(policy: Self.policy, arguments: arguments)
        let second = try ProxyFixture(policy: Self.policy, arguments: arguments)
        if redis != nil { try RedisRateLimitTests.waitForRedis([first.proxy, second.proxy]) }

        #expect(try Self.statuses(first.proxy, "/echo/mine", 5) == [200, 200, 200, 429, 429])
        #expect(try Self.statuses(second.proxy, "/echo/mine", 5) == [200, 200, 200, 429, 429], "its own bucket of 3")
        #expect(try Self.statuses(first.proxy, "/echo/ours", 3) == [200, 200, 200])
        if let redis {
            #expect(try Self.statuses(second.proxy, "/echo/ours", 2) == [429, 429], "one bucket in Redis for both")
            #expect(try redis.integer(["EXISTS", "tg:locals:ours:ours"]) == 1)
            #expect(try redis.command(["KEYS", "tg:locals:mine*"]).hasPrefix("*0\r\n"), "a local limit never touches Redis")
        } else {
            #expect(try Self.statuses(second.proxy, "/echo/ours", 3) == [200, 200, 200], "without --redis every limit is per process")
        }
    }

    @Test("a local and a shared limit on one route: a refusal by either charges neither", arguments: Store.allCases)
    func localAndSharedAllOrNothing(_ store: Store) throws {
        let redis = store == .redis ? try RedisServer() : nil
        let fixture = try ProxyFixture(policy: Self.policy, arguments: redis.map { ["--redis", $0.url] } ?? [])
        if redis != nil { try RedisRateLimitTests.waitForRedis([fixture.proxy]) }
        let proxy = fixture.proxy

        // local-roomy (5, in-process) then shared-tight (2, Redis when there is one): the shared
        // limit refuses the 3rd and 4th request after the local one was taken; it is given back.
        let mixed = try (0..<4).map { _ in try proxy.request("GET", "/echo/lr") }
        #expect(mixed.map(\.status) == [200, 200, 429, 429])
        #expect(mixed[3].header("ratelimit-policy") == "\"shared-tight\";q=2;w=172800", "the refusing limit is named")
        // So local-roomy was charged twice, not four times: 3 of its 5 tokens are left.
        #expect(try Self.statuses(proxy, "/echo/l", 4) == [200, 200, 200, 429])

        // local-tight (1) refuses before shared-roomy (3) is asked: Redis keeps all but one token.
        let tight = try (0..<3).map { _ in try proxy.request("GET", "/echo/rl", headers: [("X-K", "a")]) }
        #expect(tight.map(\.status) == [200, 429, 429])
        #expect(tight[2].header("ratelimit-policy") == "\"local-tight\";q=1;w=86400")
        #expect(try Self.statuses(proxy, "/echo/r", 3, headers: [("X-K", "a")]) == [200, 200, 429])

        let metrics = try proxy.admin("GET", "/metrics").text
        #expect(metricValue(metrics, #"tollgate_ratelimit_decisions_total{route="local-then-shared",limit="shared-tight",result="limited"}"#) == 2)
        #expect(metricValue(metrics, #"tollgate_ratelimit_decisions_total{route="tight-local-then-shared",limit="local-tight",result="limited"}"#) == 2)
        if let redis {
            #expect(try redis.command(["KEYS", "tg:locals:local-*"]).hasPrefix("*0\r\n"), "local limits never touch Redis")
            #expect(try redis.integer(["EXISTS", "tg:locals:shared-roomy:a"]) == 1)
        }
    }
}
