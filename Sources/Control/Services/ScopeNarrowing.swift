/// What a token may carry: the scopes and audiences a grant asks for, narrowed to what the client
/// (or the user's roles) hold. Pure functions: the grants call them, the tests call them directly.
enum ScopeNarrowing {
    /// Scopes every user may ask for (OpenID Connect's own).
    static let openIDScopes: Set<String> = ["openid", "profile", "email"]

    /// `scope` for a client: every requested scope must be the client's (`admin` holds every
    /// scope, so an admin client may ask for a narrower token); none requested → all of them.
    static func requestedScopes(_ requested: String?, allowed: [String]) throws -> [String] {
        guard let requested else { return allowed }
        let names = requested.split(separator: " ").map(String.init)
        let grantable = allowed.contains(Scope.admin) ? Set(Scope.all) : Set(allowed)
        if let missing = names.first(where: { !grantable.contains($0) }) {
            throw OAuthError.invalidScope("scope \(missing) is not granted to this client")
        }
        return Array(Set(names)).sorted()
    }

    /// `scope` for a user: the requested scopes the user's roles grant (RFC 6749 §3.3 lets the
    /// answer differ from the request; `scope` in the response says what was granted). On refresh
    /// the request may only narrow what the login had.
    static func userScopes(_ requested: String?, granted: Set<String>, previous: [String]?) throws -> [String] {
        let available = (granted.contains(Scope.admin) ? granted.union(Scope.all) : granted).union(openIDScopes)
        var names: Set<String>
        if let requested {
            names = Set(requested.split(separator: " ").map(String.init))
            if let previous, let extra = names.subtracting(previous).first {
                throw OAuthError.invalidScope("scope \(extra) was not part of the original grant")
            }
        } else {
            names = previous.map(Set.init) ?? granted
        }
        let result = names.intersection(available)
        if result.isEmpty, requested != nil { throw OAuthError.invalidScope("none of the requested scopes is granted to this user") }
        return result.sorted()
    }

    /// `audience`: space-separated, each one of the client's audiences; absent → all of them (or
    /// the issuer when the client has none).
    static func requestedAudience(_ requested: String?, clientAudiences: [String], issuer: String) throws -> [String] {
        let allowed = clientAudiences.isEmpty ? [issuer] : clientAudiences
        guard let requested else { return allowed }
        let names = requested.split(separator: " ").map(String.init)
        guard !names.isEmpty else { throw OAuthError.invalidRequest("audience is empty") }
        if let missing = names.first(where: { !allowed.contains($0) }) {
            throw OAuthError(code: "invalid_target", detail: "audience \(missing) is not allowed for this client")
        }
        return names
    }
}
