import Core
import Foundation

/// What a grant hands out; the token route writes it as RFC 6749 §5.1 JSON.
struct IssuedTokens: Sendable {
    let accessToken: String
    let expiresIn: Int64
    let scopes: [String]
    let refreshToken: String?
}

/// RFC 6749's three grants, without HTTP: `client_credentials`, `password` (with the login throttle)
/// and `refresh_token` (rotating: a used refresh token is dead, and presenting it again revokes its
/// whole family, RFC 9700 §4.14.2). The token route parses the form and authenticates the client;
/// these decide.
struct TokenGrants {
    static let refreshPrefix = "tgr_"
    static let supported = ["client_credentials", "password", "refresh_token"]

    let services: ControlServices

    /// Runs `grant` for an authenticated client. Errors are RFC 6749 §5.2 `OAuthError`s.
    func issue(grant: String?, client: ClientRecord, form: [String: String], requestID: String) async throws -> IssuedTokens {
        guard let grant else { throw OAuthError.invalidRequest("grant_type is required") }
        guard Self.supported.contains(grant) else {
            throw OAuthError(code: "unsupported_grant_type", detail: "grant_type \(grant) is not supported")
        }
        guard client.grantTypes.contains(grant) else {
            throw OAuthError(code: "unauthorized_client", detail: "this client may not use grant_type \(grant)")
        }
        switch grant {
        case "client_credentials": return try clientCredentials(client, form)
        case "password": return try await password(client, form)
        default: return try await refresh(client, form, requestID: requestID)
        }
    }

    func clientCredentials(_ client: ClientRecord, _ form: [String: String]) throws -> IssuedTokens {
        let scopes = try ScopeNarrowing.requestedScopes(form["scope"], allowed: client.scopes)
        let audience = try ScopeNarrowing.requestedAudience(form["audience"], clientAudiences: client.audiences, issuer: services.configuration.issuer)
        let issued = try TokenChecks.issue(
            services: services, clientID: client.clientID, subject: client.clientID, familyID: nil, scopes: scopes, audience: audience)
        return IssuedTokens(accessToken: issued.token, expiresIn: issued.expiresIn, scopes: scopes, refreshToken: nil)
    }

    func password(_ client: ClientRecord, _ form: [String: String]) async throws -> IssuedTokens {
        guard let username = form["username"], let password = form["password"] else {
            throw OAuthError.invalidRequest("username and password are required")
        }
        let index = services.userCrypto.emailIndex(username)
        let attempted = Clock.nowMilliseconds()
        if let until = try await LoginThrottle.lockedUntil(index, now: attempted, on: services.database) {
            throw OAuthError.invalidGrant("too many failed logins for this username; try again in \((until - attempted + 999) / 1000) s")
        }
        let user = try await UserStore.find(email: username, crypto: services.userCrypto, on: services.database)
        guard await services.passwords.verify(password, stored: user?.passwordHash), let user, user.isActive else {
            if let until = try await LoginThrottle.recordFailure(
                index, now: attempted, policy: services.configuration.loginThrottle, on: services.database
            ) {
                services.logger.warning("password logins locked after repeated failures", metadata: [
                    "client_id": "\(client.clientID)", "locked_for_s": "\((until - attempted) / 1000)",
                ])
            }
            throw OAuthError.invalidGrant("the username or password is wrong, or the account is not active")
        }
        let granted = try await UserStore.grantedScopes(userID: user.id, on: services.database)
        let scopes = try ScopeNarrowing.userScopes(form["scope"], granted: granted, previous: nil)
        let audience = try ScopeNarrowing.requestedAudience(form["audience"], clientAudiences: client.audiences, issuer: services.configuration.issuer)
        let familyID = "fam_" + Base64URL.encode(try SecureRandom.bytes(12))
        let refreshToken = Self.refreshPrefix + Base64URL.encode(try SecureRandom.bytes(32))
        let now = Clock.nowMilliseconds()
        try await services.database.transaction { executor in
            try await TokenStore.createFamily(id: familyID, clientID: client.clientID, userID: user.id, now: now, on: executor)
            try await TokenStore.insertRefresh(
                token: refreshToken, familyID: familyID, scope: scopes.joined(separator: " "), audience: audience.joined(separator: " "),
                now: now, expiresAt: now + services.configuration.refreshLifetime, on: executor)
            try await UserStore.recordLogin(id: user.id, now: now, on: executor)
            try await LoginThrottle.clear(index, on: executor)
        }
        let issued = try TokenChecks.issue(
            services: services, clientID: client.clientID, subject: user.id, familyID: familyID, scopes: scopes, audience: audience)
        return IssuedTokens(accessToken: issued.token, expiresIn: issued.expiresIn, scopes: scopes, refreshToken: refreshToken)
    }

    private enum RefreshOutcome: Sendable {
        case rotated(String)
        case reused
    }

    func refresh(_ client: ClientRecord, _ form: [String: String], requestID: String) async throws -> IssuedTokens {
        guard let presented = form["refresh_token"] else { throw OAuthError.invalidRequest("refresh_token is required") }
        let now = Clock.nowMilliseconds()
        guard let record = try await TokenStore.findRefresh(presented, on: services.database), record.clientID == client.clientID else {
            throw OAuthError.invalidGrant("the refresh token is not valid")
        }
        guard record.familyRevokedAt == nil else { throw OAuthError.invalidGrant("the refresh token was revoked") }
        guard record.expiresAt > now else { throw OAuthError.invalidGrant("the refresh token has expired") }
        guard try await UserStore.status(id: record.userID, on: services.database) == "active" else {
            throw OAuthError.invalidGrant("the account is not active")
        }
        let granted = try await UserStore.grantedScopes(userID: record.userID, on: services.database)
        let previous = record.scope.split(separator: " ").map(String.init)
        let scopes = try ScopeNarrowing.userScopes(form["scope"], granted: granted, previous: previous)
        let audience = record.audience.split(separator: " ").map(String.init)
        let next = Self.refreshPrefix + Base64URL.encode(try SecureRandom.bytes(32))
        let outcome = try await services.database.transaction { executor -> RefreshOutcome in
            guard record.usedAt == nil, try await TokenStore.markUsed(tokenHash: record.tokenHash, now: now, on: executor) else {
                return .reused
            }
            try await TokenStore.insertRefresh(
                token: next, familyID: record.familyID, scope: scopes.joined(separator: " "), audience: record.audience, now: now,
                expiresAt: now + services.configuration.refreshLifetime, on: executor)
            return .rotated(next)
        }
        guard case let .rotated(refreshToken) = outcome else {
            // A used refresh token came back: it was stolen or replayed. Every token of the login dies.
            try await Self.revokeFamily(
                record.familyID, reason: "refresh token reused", actor: "client:\(client.clientID)", requestID: requestID, now: now, services)
            services.metrics.increment(ControlMetrics.refreshReuse, [])
            services.logger.warning("refresh token reused; family revoked", metadata: ["family": "\(record.familyID)", "client_id": "\(client.clientID)"])
            throw OAuthError.invalidGrant("the refresh token was already used; the login is revoked")
        }
        let issued = try TokenChecks.issue(
            services: services, clientID: client.clientID, subject: record.userID, familyID: record.familyID, scopes: scopes,
            audience: audience)
        return IssuedTokens(accessToken: issued.token, expiresIn: issued.expiresIn, scopes: scopes, refreshToken: refreshToken)
    }

    /// Revokes every token of a login, with its audit row, in one transaction.
    static func revokeFamily(
        _ familyID: String, reason: String, actor: String, requestID: String, now: Int64, _ services: ControlServices
    ) async throws {
        try await services.database.transaction { executor in
            try await TokenStore.revokeFamily(familyID, reason: reason, now: now, on: executor)
            try await AuditStore.record(
                actor: actor, action: "token-family.revoke", resource: "token-family:\(familyID)", before: nil,
                after: .object([("reason", .string(reason))]), requestID: requestID, on: executor)
        }
    }
}
