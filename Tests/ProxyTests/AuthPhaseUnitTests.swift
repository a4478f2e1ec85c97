import Core
import NIOCore
import Testing
import NIOHTTP1
@testable import tollgate_proxy

@Suite("Authenticate and forward helpers")
struct AuthPhaseUnitTests {
    @Test("Bearer parsing: case-insensitive scheme, one token, nothing else", arguments: [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER  abc ", "abc"),
        ("Bearer", nil), ("Bearer ", nil), ("Bearerabc", nil), ("Basic abc", nil),
        ("Bearer a b", nil), ("Token abc", nil), ("", nil),
    ] as [(String, String?)])
    func bearer(_ header: String, _ expected: String?) {
        #expect(AuthenticatePhase.bearerToken(header).map(String.init) == expected)
    }

    @Test("claims as header values; objects and control characters are not forwarded")
    func headerValues() {
        #expect(ForwardPhase.headerValue(.string("alice")) == "alice")
        #expect(ForwardPhase.headerValue(.number("42", 42)) == "42")
        #expect(ForwardPhase.headerValue(.bool(true)) == "true")
        #expect(ForwardPhase.headerValue(.array([.string("a"), .string("b")])) == "a,b")
        #expect(ForwardPhase.headerValue(.string("evil\r\nx-admin: 1")) == nil)
        #expect(ForwardPhase.headerValue(.string("nul\u{0}")) == nil)
        #expect(ForwardPhase.headerValue(.object([:])) == nil)
        #expect(ForwardPhase.headerValue(.null) == nil)
        #expect(ForwardPhase.headerValue(.array([.object([:])])) == nil)
    }

    @Test("claim rules: equal to an allowed value, or an array containing one; types must agree")
    func claimRules() {
        let tiers: [ClaimRule.Value] = [.string("gold"), .string("silver")]
        #expect(AuthorizePhase.satisfies(.string("gold"), tiers))
        #expect(!AuthorizePhase.satisfies(.string("bronze"), tiers))
        #expect(AuthorizePhase.satisfies(.array([.string("bronze"), .string("silver")]), tiers))
        #expect(!AuthorizePhase.satisfies(nil, tiers))
        #expect(AuthorizePhase.satisfies(.number("3", 3), [.integer(3)]))
        #expect(!AuthorizePhase.satisfies(.string("3"), [.integer(3)]))
        #expect(AuthorizePhase.satisfies(.bool(true), [.boolean(true)]))
        #expect(!AuthorizePhase.satisfies(.string("true"), [.boolean(true)]))
    }

    @Test("challenge parameters carry no quote, backslash or control character")
    func quotable() {
        #expect(ProblemResponse.quotable("a\"b\\c\r\nd") == "abcd")
    }
}

@Suite("Hop-by-hop headers")
struct HopByHopUnitTests {
    /// The field lines the upstream gets of a head with `fields`, after the hop-by-hop edit.
    static func forwarded(_ fields: [(String, String)], keepUpgrade: Bool = false) throws -> [String] {
        let text = "GET / HTTP/1.1\r\n" + fields.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
        let bytes = ByteBuffer(string: text)
        var parser = HTTPHeadParser(.request)
        let head = try #require(try parser.parseRequest(bytes))
        var splice = HTTPHeadSplice(head)
        splice.removeHopByHop(in: bytes, keepUpgrade: keepUpgrade)
        var out = ByteBuffer()
        splice.write(from: bytes, into: &out)
        return String(buffer: out).components(separatedBy: "\r\n").dropFirst().filter { !$0.isEmpty }
    }

    @Test("hop-by-hop names and those Connection lists go, in any case; the rest keep their order")
    func strip() throws {
        let stripped = try Self.forwarded([
            ("Host", "a"), ("CONNECTION", "Keep-Alive, X-Secret ,  x-other"), ("Keep-Alive", "timeout=5"), ("x-secret", "1"),
            ("X-Other", "2"), ("TE", "trailers"), ("Transfer-Encoding", "chunked"), ("User-Agent", "t"), ("Accept", "*/*"),
        ])
        #expect(stripped == ["Host: a", "User-Agent: t", "Accept: */*"])
        let upgrade = try Self.forwarded(
            [("Host", "a"), ("Connection", "Upgrade, x-a"), ("Upgrade", "websocket"), ("X-A", "1"), ("Origin", "o")], keepUpgrade: true)
        #expect(upgrade == ["Host: a", "Upgrade: websocket", "Origin: o", "Connection: upgrade"])
        #expect(try Self.forwarded([("Host", "a"), ("Content-Length", "3")]).count == 2)
    }
}
