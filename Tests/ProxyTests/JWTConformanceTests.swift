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
        let names = Set(JWTConformance.cases.map(\.name))
        for name in [
            "eddsa-valid-on-okp-jwk", "eddsa-tampered-payload-on-okp-jwk", "truncated-mid-signature",
            "truncated-mid-signature-impossible-length", "truncated-mid-payload",
        ] {
            #expect(names.contains(name), "fixture case \(name)")
        }
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

    @Test("a repeated token is answered by the verified-token cache (no signature check); a new token and a refused one are verified")
    func verifiedTokenCache() throws {
        // One event loop, so every request meets the same per-loop cache.
        let single = try ProxyHarness(
            policies: try JWTConformance.policyFiles(), upstreamPort: upstream.port, arguments: ["--threads", "1"],
            environment: JWTConformance.environment)
        defer { _ = single.stop() }
        func authorization(_ name: String) throws -> String {
            try #require(JWTConformance.cases.first { $0.name == name }?.authorization, "case \(name)")
        }
        func send(_ name: String, _ path: String) throws -> Int {
            try single.request("GET", path, headers: [("Authorization", try authorization(name))]).status
        }
        func counts() throws -> (hit: Int, miss: Int) {
            let text = try single.admin("GET", "/metrics").text
            func value(_ result: String) -> Int {
                let prefix = "tollgate_auth_token_cache_total{result=\"\(result)\"} "
                return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } ?? -1
            }
            return (value("hit"), value("miss"))
        }

        #expect(try counts() == (0, 0))
        #expect(try send("rs256-valid-on-rsa", "/rsa/x") == 200)
        #expect(try counts() == (0, 1), "first sight: verified")
        #expect(try send("rs256-valid-on-rsa", "/rsa/x") == 200)
        #expect(try counts() == (1, 1), "the same token again: answered from the cache")
        #expect(try send("ps256-valid-on-rsa", "/rsa/x") == 200)
        #expect(try counts() == (1, 2), "a different token of the same issuer: verified")
        #expect(try send("rs256-valid-on-rsa", "/rsa/x") == 200)
        #expect(try counts() == (2, 2))
        for _ in 1...2 { #expect(try send("tampered-payload", "/rsa/x") == 401) }
        #expect(try counts() == (2, 4), "a refused token is not cached: verified each time")
        // A cached token still only passes on routes whose issuers include its own.
        #expect(try send("rs256-valid-on-rsa", "/ec/x") == 401)
    }

    /// The `error_description` attribute of a challenge: a quoted string that ends the header or is
    /// followed by another attribute; nil when absent or not properly quoted.
    static func errorDescription(_ challenge: String) -> String? {
        guard let start = challenge.range(of: ", error_description=\"") else { return nil }
        let rest = challenge[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        let after = rest[rest.index(after: end)...]
        guard after.isEmpty || after.hasPrefix(", ") else { return nil }
        return String(rest[..<end])
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
            let description = Self.errorDescription(challenge)
            #expect(description?.isEmpty == false, "\(label): no quoted, non-empty error_description: \(challenge)")
            if let description {
                // RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E, so no quote or backslash can end it early.
                #expect(description.unicodeScalars.allSatisfy { (0x20...0x7E).contains($0.value) && $0 != "\"" && $0 != "\\" },
                        "\(label): \(description)")
                if let token = testCase.bearerToken, token.count > 20 {
                    #expect(!description.contains(token.suffix(20)), "\(label): the description quotes the token")
                }
            }
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
