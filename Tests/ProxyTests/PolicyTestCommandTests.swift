import Foundation
import TestSupport
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// `tollgate-proxy test` as CI runs it: output lines, exit status, JUnit XML, file errors.
@Suite("tollgate-proxy test")
struct PolicyTestCommandTests {
    let proxy = BuiltBinary("tollgate-proxy")

    static let policy = """
        version: 1
        issuers:
          idp: { issuer: https://idp.example.com, jwks_url: https://idp.example.com/jwks, audiences: [shop] }
        limits:
          per-user: { rate: 1/m, burst: 2, key: [subject] }
        routes:
          - name: health
            match: { path: /healthz }
            auth: none
          - name: orders
            match: { prefix: /orders }
            auth: { issuers: [idp], scopes: [orders.read], claims: { tier: [gold] } }
            limits: [per-user]
            forward: { claims: { sub: x-user-id } }
        """

    /// A scratch folder with `policies/routes.yaml` and the given test files.
    func workspace(tests: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-test-cmd-\(UUID().uuidString)")
        var files = tests.map { ("policy-tests/" + $0.key, $0.value) }
        files.append(("policies/routes.yaml", Self.policy))
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    static let mixed = """
        version: 1
        tokens:
          gold: { issuer: idp, claims: { sub: ann, scope: orders.read, tier: gold } }
          late: { issuer: idp, claims: { sub: ben, scope: orders.read, tier: gold, exp: 100 } }
        cases:
          - name: gold reads
            request: { path: /orders, token: gold }
            expect: { status: forward, route: orders, upstream_headers: { x-user-id: ann } }
          - name: a wrong expectation
            request: { path: /orders }
            expect: { status: 403, route: health }
          - name: the third read within a minute is limited, however slowly the test runs
            request: { path: /orders, token: gold, repeat: 3, every: 19s }
            expect: { last: { status: 429, limit: per-user, headers: { retry-after: "22" } } }
          - name: expiry on the runner's clock (exp 100 + 30s skew)
            request: { path: /orders, token: late, repeat: 2, every: 131s }
            expect: { last: { status: 401, reason: expired } }
        """

    @Test("the example policy-tests pass against the example policies: exit 0")
    func examplePolicyTests() throws {
        let result = try proxy.run(["test", "--policies", "policies", "policy-tests"], in: ValidateCommandTests.repository)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.dropLast().allSatisfy { $0.hasPrefix("ok   ") }, "\(result.stdout)")
        #expect(lines.last?.hasSuffix(" passed, 0 failed") == true)
        // Every route of the example set is exercised by some case.
        let verbose = try proxy.run(["test", "--policies", "policies", "--verbose", "policy-tests"], in: ValidateCommandTests.repository)
        for route in ["health", "docs", "orders-write", "orders-read", "orders-export", "partner-catalog", "legacy-status"] {
            #expect(verbose.stdout.contains("route=\(route) "), "no case reaches route \(route)")
        }
    }

    @Test("passing and failing cases: one line each, expected and got named, then the counts; exit 1")
    func passAndFail() throws {
        let root = try workspace(tests: ["orders.yaml": Self.mixed])
        defer { try? FileManager.default.removeItem(at: root) }
        let result = try proxy.run(["test"], in: root)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout == """
            ok   ./policy-tests/orders.yaml: gold reads
            FAIL ./policy-tests/orders.yaml:9:5: a wrong expectation: expected status 403, got 401 (invalid-token:missing_token); expected route health, got orders
            ok   ./policy-tests/orders.yaml: the third read within a minute is limited, however slowly the test runs
            ok   ./policy-tests/orders.yaml: expiry on the runner's clock (exp 100 + 30s skew)
            3 passed, 1 failed

            """)
    }

    @Test("--junit writes JUnit XML that parses, with the failure's message")
    func junit() throws {
        let root = try workspace(tests: ["orders.yaml": Self.mixed])
        defer { try? FileManager.default.removeItem(at: root) }
        let report = root.appendingPathComponent("report.xml")
        let result = try proxy.run(["test", "--junit", report.path], in: root)
        #expect(result.status == 1)
        let document = try XMLDocument(contentsOf: report)
        let suites = try document.nodes(forXPath: "/testsuites/testsuite")
        #expect(suites.count == 1)
        let cases = try document.nodes(forXPath: "//testcase")
        #expect(cases.count == 4)
        let failures = try document.nodes(forXPath: "//testcase/failure")
        #expect(failures.count == 1)
        let message = (failures.first as? XMLElement)?.attribute(forName: "message")?.stringValue
        #expect(message == "expected status 403, got 401 (invalid-token:missing_token); expected route health, got orders")
        #expect((document.rootElement()?.attribute(forName: "failures")?.stringValue) == "1")
    }

    @Test("a test file error is reported as FILE:LINE:COL: PATH: message; exit 2, nothing run")
    func invalidTestFile() throws {
        let root = try workspace(tests: ["bad.yaml": """
            version: 1
            tokens:
              gold: { issuer: idpp, claims: { sub: ann } }
            cases:
              - name: typo
                request: { path: /orders, token: glod, repaet: 2 }
                expect: { status: forwarded, route: order }
            """])
        defer { try? FileManager.default.removeItem(at: root) }
        let result = try proxy.run(["test"], in: root)
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == """
            ./policy-tests/bad.yaml:3:19: tokens.gold.issuer: unknown issuer "idpp" (did you mean "idp"?)
            ./policy-tests/bad.yaml:6:44: cases[0].request: unknown key "repaet" (did you mean "repeat"?)
            ./policy-tests/bad.yaml:6:38: cases[0].request.token: unknown token "glod" (did you mean "gold"?)
            ./policy-tests/bad.yaml:7:23: cases[0].expect.status: status must be a number (e.g. 429) or forward, got "forwarded"
            ./policy-tests/bad.yaml:7:41: cases[0].expect.route: unknown route "order" (did you mean "orders"?)
            invalid test files: 5 errors

            """)
    }

    @Test("an invalid policy set and a usage error both exit 2")
    func usageAndPolicyErrors() throws {
        let root = try workspace(tests: ["orders.yaml": Self.mixed])
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("version: 1\nroutes: [ { name: x } ]\n".utf8).write(to: root.appendingPathComponent("policies/routes.yaml"))
        let invalid = try proxy.run(["test"], in: root)
        #expect(invalid.status == 2)
        #expect(invalid.stderr.contains("./policies/routes.yaml:2:11: routes[0]: missing required key \"match\""))
        let usage = try proxy.run(["test", "--no-such-flag"], in: root)
        #expect(usage.status == 2)
        let missing = try proxy.run(["test", "nowhere"], in: root)
        #expect(missing.status == 2)
    }
}
