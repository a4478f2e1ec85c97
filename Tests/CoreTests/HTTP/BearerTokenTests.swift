import Core
import Testing

@Suite("Bearer token parsing (shared by the sidecar and the control plane)")
struct BearerTokenTests {
    @Test("case-insensitive scheme, one token, spaces around it only", arguments: [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER  abc ", "abc"),
        ("Bearer", nil), ("Bearer ", nil), ("Bearer    ", nil), ("Bearerabc", nil), ("Basic abc", nil),
        ("Bearer a b", nil), ("Token abc", nil), ("", nil), ("Bearer\tabc", nil),
    ] as [(String, String?)])
    func parse(_ header: String, _ expected: String?) {
        #expect(BearerToken.parse(header).map(String.init) == expected)
    }
}
