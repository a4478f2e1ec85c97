import Testing

@testable import Core

@Suite("PCRE2 patterns")
struct PCRE2RegexTests {
    @Test("compiles with the JIT and matches unanchored unless anchored")
    func matching() throws {
        let regex = try PCRE2Regex("^/v1/orders/[0-9a-f-]{36}$")
        #expect(regex.isJITCompiled)
        #expect(regex.isMatch("/v1/orders/123e4567-e89b-12d3-a456-426614174000"))
        #expect(!regex.isMatch("/v1/orders/123e4567-e89b-12d3-a456-426614174000/x"))
        let unanchored = try PCRE2Regex("admin")
        #expect(unanchored.isMatch("/x/admin/y"))
        #expect(unanchored.matches("") == .notMatched)
    }

    @Test("case-insensitive matching when asked")
    func caseless() throws {
        #expect(try PCRE2Regex("^bearer$", caseInsensitive: true).isMatch("Bearer"))
        #expect(!(try PCRE2Regex("^bearer$").isMatch("Bearer")))
    }

    @Test("a pattern that does not compile reports PCRE2's message and offset")
    func compileErrors() {
        #expect(throws: PCRE2Error(code: 114, message: "missing closing parenthesis", offset: 1)) { try PCRE2Regex("(") }
        do {
            _ = try PCRE2Regex("ab[c-")
            Issue.record("expected a compile error")
        } catch {
            #expect(error.description == "missing terminating ] for character class at offset 5")
        }
    }

    @Test("catastrophic backtracking stops at the match limit instead of spinning")
    func matchLimit() throws {
        let regex = try PCRE2Regex("^(a+)+$", limits: .init(matchLimit: 10_000))
        let subject = String(repeating: "a", count: 40) + "b"
        #expect(regex.matches(subject) == .limitExceeded)
        #expect(!regex.isMatch(subject))
        #expect(regex.matches("aaaa") == .matched)
    }

    @Test("invalid UTF-8 in a subject cannot match a UTF-8 pattern, and does not fail")
    func invalidUTF8() throws {
        let regex = try PCRE2Regex("^/caf\u{e9}$")
        #expect(regex.matches(Array("/caf\u{e9}".utf8)) == .matched)
        #expect(regex.matches([0x2F, 0x63, 0x61, 0x66, 0xC3]) == .notMatched)
        #expect(try PCRE2Regex("x").matches([0xFF, 0x78, 0xFE]) == .matched)
    }
}
