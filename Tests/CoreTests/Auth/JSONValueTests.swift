import Core
import Testing

@Suite("JSON reader for JOSE")
struct JSONValueTests {
    func parse(_ text: String) throws -> JSONValue {
        try JSONValue.parse(Array(text.utf8))
    }

    @Test("objects, arrays, strings with escapes, numbers, literals")
    func values() throws {
        let value = try parse(#" { "a" : [1, -2.5e3, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "o": {} } "#)
        #expect(value["a"]?.arrayValue?.count == 5)
        #expect(value["a"]?.arrayValue?[1].numberValue == -2500)
        #expect(value["s"]?.stringValue == "x\"\\/\né😀")
        #expect(value["o"]?.objectValue?.isEmpty == true)
        #expect(try parse("4102444800") == .number("4102444800", 4102444800))
    }

    @Test("what a strict reader refuses", arguments: [
        #"{"a":1,"a":2}"#,          // duplicate member: two parsers could read two tokens
        #"{"a":1} x"#,              // trailing bytes
        #"{"a":01}"#,               // leading zero
        #"{"a":1.}"#, "-", "1e", "+1", "NaN", "Infinity",
        #"{"a":"\ud800"}"#,         // lone surrogate
        #"{"a":"\udc00x"}"#,
        "{\"a\":\"tab\there\"}",    // raw control character
        #"{"a":"\x"}"#,             // invalid escape
        #"{'a':1}"#, "{a:1}", "[1,]", "{\"a\":1,}", "", "   ", "tru", "nul",
        String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
        "1e400",                    // not finite
    ])
    func refused(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try parse(text) }
    }

    @Test("invalid UTF-8 inside a string is refused")
    func invalidUTF8() {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test("nesting up to the limit is fine")
    func depth() throws {
        let depth = JSONValue.maximumDepth
        _ = try parse(String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
    }
}

@Suite("Token cache")
struct TokenCacheTests {
    func token(_ subject: String) -> VerifiedToken {
        VerifiedToken(issuerName: "i", subject: subject, expiresAt: 0, claims: [:], scopes: [])
    }

    @Test("a hit until validUntil, a miss after")
    func expiry() {
        var cache = TokenCache(capacity: 10)
        cache.insert("t", verified: token("a"), validUntil: 100, now: 0)
        #expect(cache.lookup("t", now: 100)?.subject == "a")
        #expect(cache.lookup("t", now: 100.5) == nil)
        #expect(cache.count == 0, "an expired entry is dropped when met")
    }

    @Test("bounded: expired entries go first, then half")
    func bounded() {
        var cache = TokenCache(capacity: 4)
        cache.insert("old1", verified: token("o"), validUntil: 5, now: 0)
        cache.insert("old2", verified: token("o"), validUntil: 5, now: 0)
        cache.insert("a", verified: token("a"), validUntil: 100, now: 0)
        cache.insert("b", verified: token("b"), validUntil: 100, now: 0)
        cache.insert("c", verified: token("c"), validUntil: 100, now: 10)
        #expect(cache.count == 3)
        #expect(cache.lookup("old1", now: 10) == nil)
        #expect(cache.lookup("c", now: 10) != nil)
        cache.insert("d", verified: token("d"), validUntil: 100, now: 10)
        cache.insert("e", verified: token("e"), validUntil: 100, now: 10)
        #expect(cache.count <= 4)
        #expect(cache.lookup("e", now: 10) != nil, "the newest entry is always kept")
    }
}
