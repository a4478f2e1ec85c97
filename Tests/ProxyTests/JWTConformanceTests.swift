import Core
import Foundation
import TestSupport
import Testing

/// The real sidecar against every case of Tests/Fixtures/jwt/cases.json (tokens made by Python's
/// cryptography and joserfc): status, the RFC 6750 challenge, and what reaches the upstream.
@Suite("JWT conformance through the sidecar", .serialized)
final class JWTSidecarConformanceTests {
    let upstream: TestUpstream
    let proxy: ProxyHarness

    init() throws {
        upstream = try TestUpstream()
        proxy = try ProxyHarness(
            policies: try JWTConformance.policyFiles(), upstreamPort: upstream.port, environment: JWTConformance.environment)
    }

    deinit {
        _ = proxy.stop()
        upstream.shutdown()
    }

    @Test("every fixture case gets its expected answer; twice, so the cached path is checked too")
    func allCases() throws {
        #expect(JWTConformance.cases.count >= 60)
        for round in 1...2 {
            for testCase in JWTConformance.cases {
                try check(testCase, round: round)
            }
        }
        let metrics = try proxy.admin("GET", "/metrics").text
        #expect(metrics.contains("tollgate_auth_decisions_total{route=\"rsa\",result=\"denied\",reason=\"expired\"} 2"))
        #expect(metrics.contains("tollgate_auth_decisions_total{route=\"scoped\",result=\"denied\",reason=\"insufficient_scope\"}"))
        #expect(metrics.contains("tollgate_auth_decisions_total{route=\"optional\",result=\"anonymous\",reason=\"no_token\"}"))
        let log = proxy.accessLog(atLeast: 2 * JWTConformance.cases.count)
        #expect(log.contains { ($0["decision"] as? String) == "invalid-token:expired" })
        #expect(log.contains { ($0["subject"] as? String) == "alice" })
        // No token, in whole or in part, ever reaches a log.
        let logs = proxy.stdout + proxy.stderr
        for testCase in JWTConformance.cases {
            if let token = testCase.bearerToken, token.count > 20 {
                let signature = String(token.split(separator: ".").last ?? "")
                #expect(!logs.contains(token) && (signature.count < 20 || !logs.contains(signature)), "\(testCase.name) logged")
            }
        }
    }

    @Test("identity headers are removed on every route, auth: none included; Authorization passes there untouched")
    func identityHeadersOnPublicRoutes() throws {
        let response = try proxy.request("GET", "/public/x", headers: [
            ("X-User-Id", "mallory"), ("X-User-Tier", "gold"), ("Authorization", "Bearer not-even-a-jwt"),
        ])
        #expect(response.status == 200)
        let received = try #require(upstream.received.last)
        #expect(received.headers(named: "x-user-id").isEmpty && received.headers(named: "x-user-tier").isEmpty)
        #expect(received.header("authorization") == "Bearer not-even-a-jwt")
    }

    @Test("a reload that replaces a key file takes effect at once, cached tokens included")
    func keyRotationByReload() throws {
        let valid = try #require(JWTConformance.cases.first { $0.name == "rs256-valid-on-rsa" }?.authorization)
        #expect(try proxy.request("GET", "/rsa/x", headers: [("Authorization", valid)]).status == 200)
        #expect(try proxy.request("GET", "/rsa/x", headers: [("Authorization", valid)]).status == 200, "now cached")
        let otherKey = JWTConformance.directory.deletingLastPathComponent().appendingPathComponent("keys/rsa2048.pem")
        try proxy.writePolicy("keys/rsa.pem", try String(contentsOf: otherKey, encoding: .utf8))
        let reload = try proxy.admin("POST", "/reload")
        // 200 whether this call or the directory watcher (polling every second) installed the new set.
        #expect(reload.status == 200, "\(reload.text)")
        let after = try proxy.request("GET", "/rsa/x", headers: [("Authorization", valid)])
        #expect(after.status == 401, "the old key is gone, and so is the cached verification")
        #expect(after.header("www-authenticate")?.contains("error=\"invalid_token\"") == true)
    }

    private func check(_ testCase: JWTConformance.Case, round: Int) throws {
        let before = upstream.received.count
        var headers = testCase.extraHeaders
        if let authorization = testCase.authorization { headers.append(("Authorization", authorization)) }
        let response = try proxy.request(testCase.method, testCase.path, headers: headers)
        let label = "\(testCase.name) (round \(round))"
        #expect(response.status == testCase.status, "\(label): \(response.text)")
        if let error = testCase.error {
            let challenge = response.header("www-authenticate") ?? ""
            #expect(challenge.hasPrefix("Bearer realm=\"tollgate\", error=\"\(error)\""), "\(label): \(challenge)")
            #expect(response.header("content-type") == "application/problem+json", "\(label)")
            #expect(upstream.received.count == before, "\(label): a refused request reached the upstream")
            return
        }
        guard testCase.status == 200 else { return }
        let received = try #require(upstream.received.last, "\(label): nothing reached the upstream")
        #expect(upstream.received.count == before + 1)
        for (name, value) in testCase.upstreamHeaders {
            #expect(received.headers(named: name) == [value], "\(label): upstream \(name)")
        }
        for name in testCase.absentUpstreamHeaders {
            #expect(received.headers(named: name).isEmpty, "\(label): upstream has \(name)")
        }
    }
}
