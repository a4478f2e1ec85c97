import Foundation
import TestSupport
import Testing

/// Exactness with a real refill rate: three sidecars on one Redis under concurrent load.
extension RedisRateLimitTests {
    static let refillPolicy = """
        version: 1
        service: shop
        limits:
          refill: { rate: 20/s, burst: 10, key: [route] }
          pair-wide: { rate: 1/d, burst: 300, key: [ip] }
          pair-narrow: { rate: 20/s, burst: 10, key: [ip] }
          open-on-error: { rate: 1/d, burst: 1000000, key: [ip], on_error: allow }
        routes:
          - { name: refill, match: { path: /echo/refill }, auth: none, limits: [refill] }
          - { name: pair, match: { path: /echo/pair }, auth: none, limits: [pair-wide, pair-narrow] }
          - { name: pair-wide-only, match: { path: /echo/pair-wide }, auth: none, limits: [pair-wide] }
          - { name: fail-open, match: { path: /echo/open }, auth: none, limits: [open-on-error] }
        """

    /// The refill bounds of a bucket that starts full and is asked far more often than it refills.
    ///
    /// Redis decides on its own clock, between the first script run (R0) and the last (R1). A GCRA
    /// bucket admits at most `burst + rate × (R1 − R0)` requests in that span, and under demand that
    /// never lets it fill up again it admits at least `burst + rate × (R1 − R0) − 1 − rate × g`, `g` the
    /// longest gap between requests (a new token waits at most `g` for a taker). The test cannot
    /// read R0 and R1, but it brackets them with its own clock:
    /// - outer = last response read − first request sent ≥ R1 − R0 (upper bound; +1 for the
    ///   difference between Redis's wall clock and the test's monotonic one, and whole tokens);
    /// - inner = last request sent − first response read ≤ R1 − R0 (lower bound; −2: one for whole
    ///   tokens, one for a gap `g` of up to one refill interval, 50 ms, in the demand at the end —
    ///   the load keeps `g` to a few ms).
    static func expectRefillBounds(
        _ samples: [LoadSample], rate: Double, burst: Double, sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        guard let firstSent = samples.map(\.sent).min(), let lastSent = samples.map(\.sent).max(),
              let firstReceived = samples.map(\.received).min(), let lastReceived = samples.map(\.received).max()
        else {
            Issue.record("no samples", sourceLocation: sourceLocation)
            return
        }
        let admitted = Double(samples.filter { $0.status == 200 }.count)
        let outer = (lastReceived - firstSent).seconds
        let inner = (lastSent - firstReceived).seconds
        let report = "admitted \(Int(admitted)) of \(samples.count); window \(inner)…\(outer) s"
        #expect(admitted <= burst + rate * outer + 1, "never more than the bucket refilled: \(report)", sourceLocation: sourceLocation)
        #expect(admitted >= burst + rate * inner - 2, "every refilled token was taken: \(report)", sourceLocation: sourceLocation)
    }

    @Test("three sidecars, one Redis, 20/s with a burst of 10: ~3 s of concurrent load admits burst + rate × elapsed")
    func exactWithRefillAcrossProcesses() throws {
        let setup = try ThreeSidecars(policy: Self.refillPolicy)
        defer { withExtendedLifetime(setup) {} }
        let (upstream, proxies) = (setup.upstream, setup.proxies)
        // 12 connections, 4 per sidecar, each pausing 2 ms between requests: hundreds of requests a
        // second against 20 tokens a second, so the bucket never fills up again once drained.
        let samples = ConcurrentLoad(
            ports: proxies.map(\.port), workers: 12, for: .seconds(3), maxPerWorker: 1_500, pause: .milliseconds(2)
        ) { _, _ in ("/echo/refill", []) }.wait()
        #expect(samples.allSatisfy { $0.status == 200 || $0.status == 429 }, "only admissions and refusals")
        #expect(samples.count > 600, "demand far above the rate: \(samples.count) requests")
        Self.expectRefillBounds(samples, rate: 20, burst: 10)
        let admitted = samples.filter { $0.status == 200 }.count
        #expect(admitted > 10 + 20 * 2, "the refill was counted, not just the burst: \(admitted)")
        #expect(upstream.received.filter { $0.uri == "/echo/refill" }.count == admitted, "exactly the admitted reached the upstream")
    }

    @Test("three sidecars, two limits on one route, one refilling: what the narrow one refuses takes nothing from the wide one")
    func deniedChargesNeitherAcrossProcesses() throws {
        let setup = try ThreeSidecars(policy: Self.refillPolicy)
        defer { withExtendedLifetime(setup) {} }
        let proxies = setup.proxies
        let pair = ConcurrentLoad(
            ports: proxies.map(\.port), workers: 12, for: .seconds(2), maxPerWorker: 1_000, pause: .milliseconds(2)
        ) { _, _ in ("/echo/pair", []) }.wait()
        let admitted = pair.filter { $0.status == 200 }.count
        let refused = pair.filter { $0.status == 429 }.count
        #expect(admitted + refused == pair.count)
        #expect(refused > 300, "the narrow limit refused more than the wide one holds: \(refused)")
        Self.expectRefillBounds(pair, rate: 20, burst: 10)
        // pair-wide (burst 300, 1/d: no refill to speak of) was charged by the admitted requests only.
        // Had the refused ones charged it too, it would be empty now.
        let wide = ConcurrentLoad(
            ports: proxies.map(\.port), workers: 12, for: .seconds(20), maxPerWorker: 40
        ) { _, _ in ("/echo/pair-wide", []) }.wait()
        #expect(wide.count == 480)
        #expect(wide.filter { $0.status == 200 }.count == 300 - admitted, "\(admitted) admitted on the pair route")
        #expect(wide.filter { $0.status == 429 }.count == 180 + admitted)
    }
}
