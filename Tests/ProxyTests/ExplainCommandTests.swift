import Foundation
import TestSupport
import Testing

/// `tollgate-proxy explain` on the example policies.
@Suite("tollgate-proxy explain")
struct ExplainCommandTests {
    let proxy = BuiltBinary("tollgate-proxy")
    let write = "/v1/orders/4b5c6d7e-0000-4000-8000-000000000000"

    @Test("a request matched by the third route: why the first two did not match, each gate, the answer")
    func thirdRoute() throws {
        let result = try proxy.run(
            ["explain", "--policies", "policies", "PUT", "http://api.example.com" + write, "-H", "X-Tenant: acme",
             "--as", "gwen", "--tests", "policy-tests/orders.yaml"],
            in: ValidateCommandTests.repository)
        #expect(result.status == 0, "\(result.stderr)")
        let text = result.stdout
        #expect(text.contains("1. health (policies/routes/00-public.yaml:7:5): no: path \(write) is not /healthz"), "\(text)")
        #expect(text.contains("2. docs (policies/routes/00-public.yaml:11:5): no: path \(write) is not below prefix /docs"))
        #expect(text.contains("3. orders-write (policies/routes/10-orders.yaml:7:5): MATCH"))
        #expect(!text.contains("4. "), "routes after the match are not tried")
        #expect(text.contains("authenticate: passed: issuer control (alg ES256, kid none), subject gwen"))
        #expect(text.contains("flag: passed: flag orders-v2: enabled, rollout 100%, subject gwen, bucket 4"))
        #expect(text.contains("limit per-tenant-writes: passed: key tg:orders:per-tenant-writes:acme:PUT; rate 100/m, burst 50, cost 2, in-process"))
        #expect(text.contains("answer: forward (decision allowed); headers sent upstream:"))
        #expect(text.contains("  x-user-tier: gold"))
    }

    @Test("--json: the same explanation as JSON, with the refusal's status and problem type")
    func json() throws {
        let result = try proxy.run(
            ["explain", "--policies", "policies", "--json", "PUT", write, "-H", "x-tenant: acme",
             "--as", "bob", "--tests", "policy-tests/orders.yaml"],
            in: ValidateCommandTests.repository)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["route"] as? String == "orders-write")
        let routes = try #require(object["routes"] as? [[String: Any]])
        #expect(routes.map { $0["matched"] as? Bool } == [false, false, true])
        let answer = try #require(object["answer"] as? [String: Any])
        #expect(answer["status"] as? Int == 403)
        #expect(answer["type"] as? String == "urn:tollgate:problem:insufficient-scope")
        #expect(answer["decision"] as? String == "insufficient-scope:claim_mismatch")
        let gates = try #require(object["gates"] as? [[String: Any]])
        #expect(gates.first { $0["name"] as? String == "authorize" }?["verdict"] as? String == "refused")
        #expect(gates.first { $0["name"] as? String == "flag" }?["verdict"] as? String == "not reached")
    }

    @Test("a real token is verified for real: a forged one is refused with the reason")
    func realToken() throws {
        let header = Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8).unpaddedBase64URL
        let payload = Data(#"{"iss":"legacy","sub":"cron","exp":4102444800}"#.utf8).unpaddedBase64URL
        let forged = "\(header).\(payload).\(Data("not a signature".utf8).unpaddedBase64URL)"
        let result = try proxy.run(
            ["explain", "--policies", "policies", "GET", "/legacy/status", "--token", forged],
            in: ValidateCommandTests.repository, environment: ["LEGACY_JWT_SECRET": String(repeating: "k", count: 40)])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("answer: 401 urn:tollgate:problem:invalid-token (decision invalid-token:signature)"), "\(result.stdout)")
    }
}

extension ExplainCommandTests {
    @Test("a real token of a jwks_url issuer: the JWKS is fetched once and the token verified for real")
    func jwksIssuer() throws {
        let jwks = try JWKSServer(.serve(try JWKSRotationTests.document("jwks-a.json")))
        defer { jwks.shutdown() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-explain-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data(JWKSRotationTests.policy(url: jwks.url, refresh: "5m").utf8).write(to: root.appendingPathComponent("p.yaml"))
        let token = try #require(JWKSRotationTests.tokens["a"])
        let result = try proxy.run(["explain", "--policies", root.path, "GET", "/echo/x", "--token", token])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(jwks.requests == 1)
        #expect(result.stdout.contains("note: issuer idp: fetched 1 key from \(jwks.url)"), "\(result.stdout)")
        #expect(result.stdout.contains("authenticate: passed: issuer idp (alg ES256, kid a), subject user-a"))
        #expect(result.stdout.contains("  x-user-id: user-a"))
    }
}

extension Data {
    var unpaddedBase64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
