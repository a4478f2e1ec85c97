import Testing

@testable import Core

@Suite("Request path normalization")
struct RequestPathTests {
    @Test("dot segments are removed and unreserved escapes decoded, before dot removal", arguments: [
        ("/", "/"),
        ("/v1/orders", "/v1/orders"),
        ("/v1/./orders", "/v1/orders"),
        ("/v1/public/../admin", "/v1/admin"),
        ("/v1/%61dmin", "/v1/admin"),
        ("/v1/%2E%2E/admin", "/admin"),
        ("/v1/%2e/a", "/v1/a"),
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/a/..", "/"),
        ("/a//b", "/a//b"),
        ("/a/%2f/b", "/a/%2F/b"),
        ("/%7Euser", "/~user"),
        ("/a/.b/c", "/a/.b/c"),
    ])
    func normalizes(input: String, expected: String) {
        #expect(RequestPath.normalize(input) == .success(expected))
    }

    @Test("paths that climb above the root, or carry forbidden bytes, are refused", arguments: [
        ("/..", RequestPath.Problem.climbsAboveRoot),
        ("/a/../..", .climbsAboveRoot),
        ("/%2e%2e/etc/passwd", .climbsAboveRoot),
        ("v1/orders", .notAbsolute),
        ("", .notAbsolute),
        ("/a b", .forbiddenByte(0x20)),
        ("/a\u{0}", .forbiddenByte(0)),
        ("/a#frag", .forbiddenByte(UInt8(ascii: "#"))),
        ("/a%zz", .malformedEscape),
        ("/a%4", .malformedEscape),
    ])
    func refuses(input: String, problem: RequestPath.Problem) {
        #expect(RequestPath.normalize(input) == .failure(problem))
    }

    @Test("a policy path must already be in normalized form")
    func policyPaths() {
        #expect(RequestPath.problemWithPolicyPath("/v1/orders") == nil)
        #expect(RequestPath.problemWithPolicyPath("/v1/orders?x=1") == #"a path must not contain a query ("?")"#)
        #expect(RequestPath.problemWithPolicyPath("v1") == #"invalid path "v1": the path must start with "/""#)
    }

    @Test("a path isNormal calls normal is what normalize makes of it, byte for byte; random paths over a small alphabet")
    func isNormalAgrees() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("/ab.%2e9#~-_ ".utf8)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...12, using: &generator)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            let path = String(decoding: bytes, as: UTF8.self)
            if RequestPath.isNormal(path[...].utf8) {
                #expect(RequestPath.normalize(path) == .success(path), "\(path)")
            }
        }
        #expect(RequestPath.isNormal("/v1/orders/abc-DEF_~"[...].utf8))
        #expect(!RequestPath.isNormal("/v1/file.json"[...].utf8) && !RequestPath.isNormal("v1"[...].utf8))
    }
}
