import Testing
@testable import tollgate_control

@Suite("Scope and audience narrowing (no HTTP)")
struct ScopeNarrowingTests {
    static func code(_ body: () throws -> [String]) -> String? {
        do {
            _ = try body()
            return nil
        } catch let error as OAuthError {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    @Test("a client gets the scopes it asks for among its own; none asked, all of them; admin may ask for any control-plane scope")
    func clientScopes() throws {
        #expect(try ScopeNarrowing.requestedScopes(nil, allowed: ["a", "b"]) == ["a", "b"])
        #expect(try ScopeNarrowing.requestedScopes("b a a", allowed: ["a", "b", "c"]) == ["a", "b"])
        #expect(try ScopeNarrowing.requestedScopes("flag.read", allowed: ["admin"]) == ["flag.read"])
        #expect(Self.code { try ScopeNarrowing.requestedScopes("orders.read", allowed: ["admin"]) } == "invalid_scope")
        #expect(Self.code { try ScopeNarrowing.requestedScopes("c", allowed: ["a"]) } == "invalid_scope")
    }

    @Test("a user gets what the roles grant of what was asked, plus OpenID's own; a refresh may only narrow")
    func userScopes() throws {
        #expect(try ScopeNarrowing.userScopes("flag.read openid", granted: ["flag.read"], previous: nil) == ["flag.read", "openid"])
        #expect(try ScopeNarrowing.userScopes("flag.read flag.write", granted: ["flag.read"], previous: nil) == ["flag.read"])
        #expect(Self.code { try ScopeNarrowing.userScopes("flag.write", granted: ["flag.read"], previous: nil) } == "invalid_scope")
        #expect(try ScopeNarrowing.userScopes(nil, granted: ["flag.read"], previous: nil) == ["flag.read"])
        let previous = ["flag.read"]
        #expect(try ScopeNarrowing.userScopes(nil, granted: ["flag.read", "flag.write"], previous: previous) == ["flag.read"])
        #expect(Self.code { try ScopeNarrowing.userScopes("flag.write", granted: ["flag.read", "flag.write"], previous: previous) } == "invalid_scope")
        // Roles re-read at refresh: a scope the user lost is dropped even though the login had it.
        #expect(try ScopeNarrowing.userScopes(nil, granted: [], previous: previous) == [])
    }

    @Test("audiences: the client's, or the issuer when it has none; anything else is invalid_target")
    func audiences() throws {
        #expect(try ScopeNarrowing.requestedAudience(nil, clientAudiences: [], issuer: "http://issuer") == ["http://issuer"])
        #expect(try ScopeNarrowing.requestedAudience("b", clientAudiences: ["a", "b"], issuer: "i") == ["b"])
        #expect(Self.code { try ScopeNarrowing.requestedAudience("c", clientAudiences: ["a"], issuer: "i") } == "invalid_target")
        #expect(Self.code { try ScopeNarrowing.requestedAudience("", clientAudiences: ["a"], issuer: "i") } == "invalid_request")
    }
}
