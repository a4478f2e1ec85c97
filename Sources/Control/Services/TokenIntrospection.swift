import Core

/// Token introspection (RFC 7662), without HTTP: the route authenticates the caller.
enum TokenIntrospection {
    /// RFC 7662's answer for `token`: an access token this service signed and that is still
    /// active, or a refresh token neither used, revoked nor expired of an active user; anything else
    /// is `{"active": false}`.
    static func answer(for token: String, services: ControlServices) async throws -> (active: Bool, body: JSONOutput) {
        let inactive: (Bool, JSONOutput) = (false, .object([("active", false)]))
        let issuer = services.configuration.issuer
        if token.hasPrefix(TokenGrants.refreshPrefix) {
            guard let record = try await TokenStore.findRefresh(token, on: services.database), record.usedAt == nil,
                  record.familyRevokedAt == nil, record.expiresAt > Clock.nowMilliseconds(),
                  let user = try await UserStore.find(id: record.userID, crypto: services.userCrypto, on: services.database), user.isActive
            else { return inactive }
            return (true, .object([
                ("active", true), ("scope", .string(record.scope)), ("client_id", .string(record.clientID)), ("sub", .string(user.id)),
                ("username", .string(user.email)), ("exp", .int(record.expiresAt / 1000)), ("iss", .string(issuer)),
                ("token_type", "refresh_token"),
            ]))
        }
        guard case let .active(claims) = await TokenChecks.active(token, services: services) else { return inactive }
        var members: [(String, JSONOutput)] = [
            ("active", true), ("scope", .string(claims.scopes.sorted().joined(separator: " "))), ("client_id", .string(claims.clientID)),
            ("sub", .string(claims.subject)),
        ]
        if let userID = claims.userID, let user = try await UserStore.find(id: userID, crypto: services.userCrypto, on: services.database) {
            members.append(("username", .string(user.email)))
        }
        members += [("exp", .int(claims.expiresAt))]
        if let issuedAt = claims.issuedAt { members.append(("iat", .int(issuedAt))) }
        members += [("iss", .string(issuer))]
        if let audience = claims.audience { members.append(("aud", JSONOutput(audience))) }
        members += [("token_type", "Bearer"), ("jti", .string(claims.jti))]
        return (true, .object(members))
    }
}
