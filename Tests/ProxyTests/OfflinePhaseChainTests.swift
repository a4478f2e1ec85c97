import Core
import Foundation
import Testing

@testable import tollgate_proxy

/// The phase chain without sockets, as `test` and `explain` drive it.
@Suite("Offline phase chain")
struct OfflinePhaseChainTests {
    static let policy = """
        version: 1
        issuers:
          idp: { issuer: https://idp.example.com, jwks_url: https://idp.example.com/jwks, audiences: [shop] }
        limits:
          per-ip: { rate: 1/m, burst: 1, key: [ip] }
          trial: { rate: 1/m, burst: 1, key: [ip], mode: shadow }
        flags:
          beta: { enabled: false }
        routes:
          - name: limited
            match: { prefix: /limited }
            auth: none
            limits: [trial, per-ip]
          - name: beta
            match: { prefix: /beta }
            mode: shadow
            auth: none
            flag: { name: beta }
          - name: api
            match: { prefix: /api }
            auth: { issuers: [idp] }
            forward: { claims: { sub: x-user-id } }
        """

    static func snapshot() throws -> PolicySnapshot {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-offline-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(policy.utf8).write(to: directory.appendingPathComponent("p.yaml"))
        return try PolicyLoader.load(directory: directory.path)
    }

    func request(_ target: String, headers: [(name: String, value: String)] = []) -> OfflinePhaseChain.Request {
        OfflinePhaseChain.Request(method: "GET", target: target, host: "shop.example.com", headers: headers, clientIP: "192.0.2.7")
    }

    @Test("limits refill on the chain's clock, not the machine's; a shadow limit never refuses")
    func clock() throws {
        let chain = OfflinePhaseChain(policy: ActivePolicy(snapshot: try Self.snapshot(), staticKeys: [:]))
        let first = chain.send(request("/limited"))
        #expect(first.status == "forward")
        #expect(first.decision == "allowed")
        let second = chain.send(request("/limited"))
        #expect(second.status == "429")
        #expect(second.limit == "per-ip", "the enforcing limit refused, not the shadow one")
        #expect(second.exchange.shadowed == ["rate-limited:trial"])
        chain.time = 59.9
        #expect(chain.send(request("/limited")).status == "429")
        chain.time = 60
        let third = chain.send(request("/limited"))
        #expect(third.status == "forward")
        #expect(third.decision == "allowed", "both buckets refilled one token at 60 s")
        chain.reset()
        #expect(chain.send(request("/limited")).decision == "allowed", "reset: empty buckets at time 0")
    }

    @Test("a shadow route's refusal is a note; the request goes on")
    func shadowRoute() throws {
        let chain = OfflinePhaseChain(policy: ActivePolicy(snapshot: try Self.snapshot(), staticKeys: [:]))
        let outcome = chain.send(request("/beta/x"))
        #expect(outcome.status == "forward")
        #expect(outcome.exchange.shadowed == ["flag-off"])
        chain.reset(flags: ["beta": try #require(Self.snapshot().flags["beta"]).with(enabled: true)])
        #expect(chain.send(request("/beta/x")).decision == "allowed", "flag states of a test file replace the policy's")
    }

    @Test("test tokens pass the real verifier; exp is checked on the chain's clock")
    func testTokens() throws {
        let snapshot = try Self.snapshot()
        let issuer = try #require(snapshot.issuers["idp"])
        var mint = TestTokenMint()
        try mint.prepare(issuer)
        let location = SourceLocation(file: "t.yaml", line: 1, column: 1)
        let token = try mint.token(PolicyTestFile.Token(name: "t", issuer: issuer, claims: ["sub": .string("ann"), "exp": .number("100", 100)], location: location))
        let chain = OfflinePhaseChain(policy: ActivePolicy(snapshot: snapshot, staticKeys: mint.keys))
        let admitted = chain.send(request("/api", headers: [("authorization", "Bearer " + token), ("x-user-id", "mallory")]))
        #expect(admitted.status == "forward")
        #expect(admitted.upstreamHead?.headers["x-user-id"] == ["ann"])
        chain.time = 131
        let expired = chain.send(request("/api", headers: [("authorization", "Bearer " + token)]))
        #expect(expired.status == "401")
        #expect(expired.decision == "invalid-token:expired")
        let forged = chain.send(request("/api", headers: [("authorization", "Bearer " + token.dropLast(4) + "AAAA")]))
        #expect(forged.decision == "invalid-token:signature", "the runner's key is still checked")
    }

    @Test("JUnit text is escaped")
    func junitEscape() {
        #expect(JUnitReport.escape(#"a<b & "c" 'd'>"#) == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;")
        #expect(JUnitReport.escape("bell\u{7}") == "bell?")
    }
}

extension FlagDefault {
    func with(enabled: Bool) -> FlagDefault {
        FlagDefault(name: name, enabled: enabled, rollout: rollout, location: location)
    }
}
