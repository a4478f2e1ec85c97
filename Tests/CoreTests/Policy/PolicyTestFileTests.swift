import Testing

@testable import Core

@Suite("Policy test files")
struct PolicyTestFileTests {
    static let policy = """
        version: 1
        issuers:
          idp: { issuer: https://idp.example.com, jwks_url: https://idp.example.com/jwks }
        flags:
          beta: { enabled: false }
        routes:
          - name: api
            match: { prefix: /api }
            auth: { issuers: [idp] }
        """

    static let validFile = """
        version: 1
        tokens:
          ann: { issuer: idp, claims: { sub: ann, level: 3, admin: false, groups: [a, b], country: no } }
        flags:
          beta: { enabled: true, rollout: 10 }
        cases:
          - name: one
            request: { path: /api?x=1, token: ann }
            expect: { status: forward, upstream_headers: { x-a: "1", x-b: null } }
          - name: many
            request: { method: POST, path: /nowhere, host: example.com, ip: 10.0.0.1, repeat: 3, every: 250ms }
            expect: { route: null, last: { status: 404, reason: no-route } }
        """

    /// Wrong in ways the JSON Schema of test files can say too (see PolicySchemaTests).
    static let invalidFile = """
        version: 2
        flags:
          betta: { enabled: true }
        cases:
          - name: x
            request: { path: api, repeat: 0, every: 1.5s }
            expect: {}
        """

    func snapshot() throws -> PolicySnapshot {
        try PolicyFixture(["a.yaml": Self.policy]).load()
    }

    @Test("defaults, claims typed as YAML 1.2 reads them, route: null, and last")
    func decodes() throws {
        let file = try PolicyTestFile.decode(yaml: Self.validFile, path: "t.yaml", snapshot: try snapshot()).get()
        let claims = try #require(file.tokens["ann"]).claims
        #expect(claims["sub"] == .string("ann"))
        #expect(claims["level"]?.numberValue == 3)
        #expect(claims["admin"] == .bool(false))
        #expect(claims["groups"] == .array([.string("a"), .string("b")]))
        #expect(claims["country"] == .string("no"), "YAML 1.2: no is a string")
        #expect(file.flags["beta"]?.enabled == true && file.flags["beta"]?.rollout == 10)
        let first = file.cases[0]
        #expect(first.request.method == "GET" && first.request.host == "localhost" && first.request.repeatCount == 1)
        #expect(first.request.target == "/api?x=1" && first.request.every == .zero)
        #expect(first.each.status == .forward)
        #expect(first.each.upstreamHeaders.map(\.value) == ["1", nil])
        let many = file.cases[1]
        #expect(many.request.repeatCount == 3 && many.request.every == .milliseconds(250) && many.request.clientIP == "10.0.0.1")
        #expect(many.each.route == .some(nil))
        #expect(many.last?.status == .code(404) && many.last?.reason == "no-route")
    }

    @Test("every problem of a file at once, at FILE:LINE:COL: PATH")
    func errors() throws {
        let result = PolicyTestFile.decode(yaml: Self.invalidFile, path: "t.yaml", snapshot: try snapshot())
        guard case let .failure(error) = result else {
            Issue.record("expected errors")
            return
        }
        #expect(error.diagnostics.map(\.description) == [
            "t.yaml:1:10: version: unsupported version 2 (this runner reads version 1)",
            #"t.yaml:3:3: flags.betta: unknown flag "betta" (did you mean "beta"?)"#,
            #"t.yaml:6:22: cases[0].request.path: path must start with "/" and hold no spaces or control characters"#,
            "t.yaml:6:35: cases[0].request.repeat: 0 is out of range (1...100000)",
            #"t.yaml:6:45: cases[0].request.every: invalid duration "1.5s": use a whole number and ms, s, m or h (e.g. 250ms, 30s, 5m, 1h)"#,
            "t.yaml:7:13: cases[0].expect: expect must check something: status, route, reason, limit, upstream_headers, headers or last",
        ])
    }
}
