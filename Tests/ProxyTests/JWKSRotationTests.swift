import Foundation
import TestSupport
import Testing

/// `jwks_url` issuers against a JWKS server the test controls (keys and tokens made by
/// Tests/Fixtures/generate_jwks_rotation.py with joserfc).
@Suite("JWKS fetching and rotation")
struct JWKSRotationTests {
    static let directory = JWTConformance.directory.appendingPathComponent("rotation")
    static let tokens = (try? JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("tokens.json")))) as? [String: String] ?? [:]

    static func document(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func policy(url: String, refresh: String) -> String {
        """
        version: 1
        issuers:
          idp: { issuer: https://jwks.test, jwks_url: \(url), audiences: [rotation], algorithms: [ES256, RS256], refresh: \(refresh) }
        routes:
          - name: api
            match: { prefix: /echo }
            auth: { issuers: [idp] }
            forward: { claims: { sub: x-user-id } }
        """
    }

    /// A JWKS server, an upstream and a sidecar whose one issuer fetches from that server.
    final class Setup {
        let jwks: JWKSServer
        let upstream: TestUpstream
        let proxy: ProxyHarness

        init(_ mode: JWKSServer.Mode, refresh: String) throws {
            jwks = try JWKSServer(mode)
            upstream = try TestUpstream()
            proxy = try ProxyHarness(policies: ["p.yaml": JWKSRotationTests.policy(url: jwks.url, refresh: refresh)], upstreamPort: upstream.port)
        }

        deinit {
            _ = proxy.stop()
            upstream.shutdown()
            jwks.shutdown()
        }
    }

    static func get(_ proxy: ProxyHarness, _ token: String) throws -> Int {
        try proxy.request("GET", "/echo", headers: [("Authorization", "Bearer \(tokens[token] ?? "missing")")]).status
    }

    /// `tollgate_jwks_refresh_total{issuer="idp",result=…}` as the proxy reports it now (0 while absent).
    static func refreshes(_ proxy: ProxyHarness, _ result: String) throws -> Int {
        let prefix = "tollgate_jwks_refresh_total{issuer=\"idp\",result=\"\(result)\"} "
        let line = try proxy.admin("GET", "/metrics").text.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
    }

    static func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(100_000)
        }
        return try condition()
    }

    @Test("a new kid is accepted without restart (one early refetch); another unknown kid within 30 s is not refetched")
    func unknownKidRefetch() throws {
        let setup = try Setup(.serve(try Self.document("jwks-a.json")), refresh: "1h")
        defer { withExtendedLifetime(setup) {} }
        let (jwks, proxy) = (setup.jwks, setup.proxy)

        #expect(try Self.waitFor(10) { try proxy.admin("GET", "/readyz").status == 200 }, "ready once the JWKS is fetched")
        #expect(try Self.get(proxy, "a") == 200)
        #expect(try Self.get(proxy, "b") == 401, "kid b is not published yet")
        let afterFirstMiss = jwks.requests
        #expect(afterFirstMiss == 2, "start-up fetch + one early refetch for kid b")

        jwks.set(.serve(try Self.document("jwks-ab.json")))
        // Within 30 s of the last early refetch, an unknown kid does not fetch again.
        #expect(try Self.get(proxy, "b") == 401)
        #expect(jwks.requests == afterFirstMiss)
        #expect(try Self.get(proxy, "unknown") == 401)
        #expect(jwks.requests == afterFirstMiss)
        #expect(try Self.get(proxy, "a2") == 200, "known keys keep working")
    }

    @Test("rotation: a kid published after start is picked up by an early refetch, RSA JWKs included")
    func rotationPickedUp() throws {
        let setup = try Setup(.serve(try Self.document("jwks-a.json")), refresh: "1h")
        defer { withExtendedLifetime(setup) {} }
        let (jwks, upstream, proxy) = (setup.jwks, setup.upstream, setup.proxy)
        #expect(try Self.waitFor(10) { try proxy.admin("GET", "/readyz").status == 200 })
        jwks.set(.serve(try Self.document("jwks-ab.json")))
        #expect(try Self.get(proxy, "b") == 200, "the unknown kid triggered a refetch and the request waited for it")
        #expect(upstream.received.last?.header("x-user-id") == "user-b")
        #expect(try Self.get(proxy, "r") == 200, "RS256 with an RSA JWK (n, e)")
        #expect(try Self.get(proxy, "a") == 200)
    }

    @Test("https JWKS URLs: a DNS name (SNI) and an IP literal, trusted through --jwks-ca-file; without it the certificate is refused")
    func https() throws {
        let tls = TLSTests.tls
        let jwks = try JWKSServer(.serve(try Self.document("jwks-ab.json")), tls: (tls.appendingPathComponent("server.pem").path, tls.appendingPathComponent("server-key.pem").path))
        let upstream = try TestUpstream()
        defer {
            upstream.shutdown()
            jwks.shutdown()
        }
        for host in ["localhost", "127.0.0.1"] {
            let policy = Self.policy(url: jwks.url(host: host), refresh: "1m")
            let trusting = try ProxyHarness(
                policies: ["p.yaml": policy], upstreamPort: upstream.port,
                arguments: ["--jwks-ca-file", tls.appendingPathComponent("ca.pem").path])
            #expect(try Self.waitFor(10) { try trusting.admin("GET", "/readyz").status == 200 }, "\(host): fetched over https")
            #expect(try Self.get(trusting, "a") == 200, "\(host)")
            _ = trusting.stop()

            let untrusting = try ProxyHarness(policies: ["p.yaml": policy], upstreamPort: upstream.port)
            #expect(try Self.waitFor(10) {
                try untrusting.admin("GET", "/metrics").text.contains("tollgate_jwks_refresh_total{issuer=\"idp\",result=\"error\"}")
            }, "\(host): a certificate from an unknown CA is refused")
            #expect(try untrusting.admin("GET", "/readyz").status == 503)
            #expect(try Self.get(untrusting, "a") == 503)
            _ = untrusting.stop()
        }
    }

    @Test("not ready until the first fetch; keys unavailable is 503; a failed refresh keeps the old keys and is counted; the periodic refresh (not an early refetch) brings new keys")
    func failuresKeepKeys() throws {
        let setup = try Setup(.fail(503), refresh: "1s")
        defer { withExtendedLifetime(setup) {} }
        let (jwks, proxy) = (setup.jwks, setup.proxy)

        let notReady = try proxy.admin("GET", "/readyz")
        #expect(notReady.status == 503)
        #expect(notReady.text.contains("idp"), "\(notReady.text)")
        #expect(try proxy.admin("GET", "/metrics").text.contains("\ntollgate_ready 0\n"), "the gauge says what /readyz says")
        let unavailable = try proxy.request("GET", "/echo", headers: [("Authorization", "Bearer \(Self.tokens["a"]!)")])
        #expect(unavailable.status == 503)
        #expect(unavailable.json["type"] as? String == "urn:tollgate:problem:keys-unavailable")

        jwks.set(.serve(try Self.document("jwks-a.json")))
        #expect(try Self.waitFor(10) { try proxy.admin("GET", "/readyz").status == 200 }, "retried with back-off until it worked")
        #expect(try proxy.admin("GET", "/metrics").text.contains("\ntollgate_ready 1\n"))
        #expect(try Self.get(proxy, "a") == 200)
        // Spend the issuer's early refetch (one per 30 s): from here on only the periodic refresh can
        // bring a new kid. Twice, in case the first request joined a periodic fetch already running,
        // which leaves the allowance unspent.
        #expect(try Self.get(proxy, "unknown") == 401)
        #expect(try Self.get(proxy, "unknown") == 401)
        let earlyRefetchSpent = Date()

        jwks.set(.fail(500))
        let failedBefore = jwks.requests
        #expect(Self.waitFor(10) { jwks.requests >= failedBefore + 2 }, "refreshes keep being tried")
        #expect(try Self.get(proxy, "a2") == 200, "a token never seen before still verifies with the kept keys")
        #expect(try proxy.admin("GET", "/readyz").status == 200, "ready stays ready on a failed refresh")
        #expect(try Self.refreshes(proxy, "error") >= 1)
        let successes = try Self.refreshes(proxy, "success")
        #expect(successes >= 1)

        jwks.set(.serve(try Self.document("jwks-ab.json")))
        // No request names a new kid until the refresher has fetched the new set on its own.
        #expect(try Self.waitFor(10) { try Self.refreshes(proxy, "success") > successes },
                "a periodic refresh succeeds with no request asking for it")
        #expect(try Self.waitFor(5) { try Self.get(proxy, "r") == 200 }, "the new kid r verifies")
        #expect(try Self.get(proxy, "b") == 200 && (try Self.get(proxy, "a3")) == 200)
        #expect(Date().timeIntervalSince(earlyRefetchSpent) < 30,
                "still inside the 30 s after the spent early refetch, so the keys came from the periodic refresh")
    }

    @Test("the JWKS server down (connection refused) at refresh: counted as an error, the old keys keep working, still ready")
    func serverDownKeepsKeys() throws {
        let setup = try Setup(.serve(try Self.document("jwks-a.json")), refresh: "1s")
        defer { withExtendedLifetime(setup) {} }
        let (jwks, proxy) = (setup.jwks, setup.proxy)
        #expect(try Self.waitFor(10) { try proxy.admin("GET", "/readyz").status == 200 })
        #expect(try Self.get(proxy, "a") == 200)
        #expect(try Self.refreshes(proxy, "error") == 0)

        jwks.stopListening()
        let requestsWhenDown = jwks.requests
        #expect(try Self.waitFor(10) { try Self.refreshes(proxy, "error") >= 2 }, "each refused refresh is counted as a failure")
        #expect(jwks.requests == requestsWhenDown, "no request reached the stopped server")
        #expect(try Self.get(proxy, "a2") == 200, "a token never seen before verifies with the kept keys")
        #expect(try Self.get(proxy, "a") == 200)
        #expect(try proxy.admin("GET", "/readyz").status == 200, "ready stays ready while the provider is down")
        // Keys are there, so an unknown kid is the caller's problem (401), not keys-unavailable (503).
        #expect(try Self.get(proxy, "b") == 401)
        #expect(proxy.stderr.contains("JWKS fetch failed; keeping the previous keys"))
    }

    @Test("a JWKS server that accepts and never answers: requests are not held up, the fetch times out (5 s) and is counted, the old keys keep working")
    func hangingServerKeepsKeys() throws {
        let setup = try Setup(.serve(try Self.document("jwks-a.json")), refresh: "1s")
        defer { withExtendedLifetime(setup) {} }
        let (jwks, proxy) = (setup.jwks, setup.proxy)
        #expect(try Self.waitFor(10) { try proxy.admin("GET", "/readyz").status == 200 })
        #expect(try Self.get(proxy, "a") == 200)

        jwks.set(.hang)
        let before = jwks.requests
        #expect(Self.waitFor(5) { jwks.requests > before }, "a refresh reached the hanging server")
        // That fetch is now waiting for an answer (its timeout is 5 s): requests go on meanwhile.
        #expect(try Self.get(proxy, "a2") == 200)
        #expect(try proxy.admin("GET", "/readyz").status == 200)
        #expect(try Self.refreshes(proxy, "error") == 0, "the hanging fetch has not failed yet")

        #expect(try Self.waitFor(10) { try Self.refreshes(proxy, "error") >= 1 }, "the fetch timed out and was counted")
        #expect(try Self.get(proxy, "a3") == 200, "a token never seen before verifies with the kept keys")
        #expect(try proxy.admin("GET", "/readyz").status == 200)
        #expect(proxy.stderr.contains("no complete response in time"))
    }
}
