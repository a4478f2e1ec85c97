import Core
import Foundation
import HTTPTypes
import Hummingbird

/// RFC 6749 token endpoint, RFC 7662 introspection, RFC 7009 revocation, OIDC userinfo, discovery
/// and JWKS.
enum OAuthRoutes {
    static let refreshPrefix = "tgr_"
    /// Scopes every user may ask for (OpenID Connect's own).
    static let openIDScopes: Set<String> = ["openid", "profile", "email"]

    static func register(_ api: APIRouter) {
        let services = api.services
        api.add(.post, "/oauth/token") { request, context in
            try await token(request, context, services)
        }
        api.add(.post, "/oauth/introspect") { request, _ in
            try await introspect(request, parameters: try await RequestBody.form(request), services)
        }
        api.add(.get, "/oauth/introspect") { request, _ in
            let query = request.uri.queryParameters
            var parameters: [String: String] = [:]
            if let token = query["token"] { parameters["token"] = String(token) }
            return try await introspect(request, parameters: parameters, services)
        }
        api.add(.post, "/oauth/revoke") { request, context in
            try await revoke(request, requestID: context.requestID, services)
        }
        api.add(.get, "/oauth/userinfo") { request, _ in
            try await userinfo(request, services)
        }
        api.add(.get, "/.well-known/openid-configuration") { _, _ in
            JSONResponse.make(discovery(services.configuration), headers: [.cacheControl: "public, max-age=300"])
        }
        api.add(.get, "/.well-known/jwks.json") { _, _ in
            await services.keyRing.refreshIfStale()
            return JSONResponse.make(.raw(services.keyRing.jwksDocument()), headers: [.cacheControl: "public, max-age=60"])
        }
    }

    // MARK: Client authentication (RFC 6749 §2.3.1)

    static func authenticateClient(_ request: Request, _ form: [String: String], _ services: ControlServices) async throws -> ClientRecord {
        let clientID: String
        let secret: String
        let basic: Bool
        if let header = request.headers[.authorization], header.lowercased().hasPrefix("basic ") {
            guard form["client_secret"] == nil else { throw OAuthError.invalidRequest("authenticate the client one way, not two") }
            guard let decoded = Data(base64Encoded: String(header.dropFirst(6).drop { $0 == " " })),
                  let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                  let id = FormDecoding.decode(text[..<colon]), let password = FormDecoding.decode(text[text.index(after: colon)...])
            else { throw OAuthError.invalidClient("the Basic credentials are malformed", basic: true) }
            clientID = id
            secret = password
            basic = true
        } else if let id = form["client_id"], let password = form["client_secret"] {
            clientID = id
            secret = password
            basic = false
        } else {
            throw OAuthError.invalidClient("authenticate the client (HTTP Basic or client_id and client_secret)", basic: true)
        }
        guard let client = try await services.clients.find(clientID),
              services.clientSecrets.matches(secret, stored: client.secretHash)
        else { throw OAuthError.invalidClient("unknown client or wrong secret", basic: basic) }
        return client
    }

    // MARK: Token

    static func token(_ request: Request, _ context: ControlContext, _ services: ControlServices) async throws -> Response {
        let form = try await RequestBody.form(request)
        do {
            let client = try await authenticateClient(request, form, services)
            guard let grant = form["grant_type"] else { throw OAuthError.invalidRequest("grant_type is required") }
            guard ["client_credentials", "password", "refresh_token"].contains(grant) else {
                throw OAuthError(code: "unsupported_grant_type", detail: "grant_type \(grant) is not supported")
            }
            guard client.grantTypes.contains(grant) else {
                throw OAuthError(code: "unauthorized_client", detail: "this client may not use grant_type \(grant)")
            }
            let response: Response
            switch grant {
            case "client_credentials": response = try clientCredentials(client, form, services)
            case "password": response = try await password(client, form, services)
            default: response = try await refresh(client, form, requestID: context.requestID, services)
            }
            services.metrics.increment("tollgate_control_tokens_issued_total", [("grant_type", grant)])
            return response
        } catch let error as OAuthError {
            services.metrics.increment("tollgate_control_token_errors_total", [("error", error.code)])
            throw error
        }
    }

    static func clientCredentials(_ client: ClientRecord, _ form: [String: String], _ services: ControlServices) throws -> Response {
        let scopes = try requestedScopes(form["scope"], allowed: client.scopes)
        let audience = try requestedAudience(form["audience"], client: client, services: services)
        let issued = try TokenChecks.issue(
            services: services, clientID: client.clientID, subject: client.clientID, familyID: nil, scopes: scopes, audience: audience)
        return tokenResponse(issued, scopes: scopes, refreshToken: nil)
    }

    static func password(_ client: ClientRecord, _ form: [String: String], _ services: ControlServices) async throws -> Response {
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
        let scopes = try userScopes(form["scope"], granted: granted, previous: nil)
        let audience = try requestedAudience(form["audience"], client: client, services: services)
        let familyID = "fam_" + Base64URL.encode(try SecureRandom.bytes(12))
        let refreshToken = refreshPrefix + Base64URL.encode(try SecureRandom.bytes(32))
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
        return tokenResponse(issued, scopes: scopes, refreshToken: refreshToken)
    }

    private enum RefreshOutcome: Sendable {
        case rotated(String)
        case reused
    }

    static func refresh(_ client: ClientRecord, _ form: [String: String], requestID: String, _ services: ControlServices) async throws -> Response {
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
        let scopes = try userScopes(form["scope"], granted: granted, previous: previous)
        let audience = record.audience.split(separator: " ").map(String.init)
        let next = refreshPrefix + Base64URL.encode(try SecureRandom.bytes(32))
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
            try await revokeFamily(
                record.familyID, reason: "refresh token reused", actor: "client:\(client.clientID)", requestID: requestID, now: now, services)
            services.metrics.increment("tollgate_control_refresh_reuse_total", [])
            services.logger.warning("refresh token reused; family revoked", metadata: ["family": "\(record.familyID)", "client_id": "\(client.clientID)"])
            throw OAuthError.invalidGrant("the refresh token was already used; the login is revoked")
        }
        let issued = try TokenChecks.issue(
            services: services, clientID: client.clientID, subject: record.userID, familyID: record.familyID, scopes: scopes,
            audience: audience)
        return tokenResponse(issued, scopes: scopes, refreshToken: refreshToken)
    }

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
    static func requestedAudience(_ requested: String?, client: ClientRecord, services: ControlServices) throws -> [String] {
        let allowed = client.audiences.isEmpty ? [services.configuration.issuer] : client.audiences
        guard let requested else { return allowed }
        let names = requested.split(separator: " ").map(String.init)
        guard !names.isEmpty else { throw OAuthError.invalidRequest("audience is empty") }
        if let missing = names.first(where: { !allowed.contains($0) }) {
            throw OAuthError(code: "invalid_target", detail: "audience \(missing) is not allowed for this client")
        }
        return names
    }

    static func tokenResponse(_ issued: (token: String, expiresIn: Int64), scopes: [String], refreshToken: String?) -> Response {
        var members: [(String, JSONOutput)] = [
            ("access_token", .string(issued.token)), ("token_type", "Bearer"), ("expires_in", .int(issued.expiresIn)),
            ("scope", .string(scopes.joined(separator: " "))),
        ]
        if let refreshToken { members.append(("refresh_token", .string(refreshToken))) }
        return JSONResponse.make(.object(members), headers: [.cacheControl: "no-store", .pragma: "no-cache"])
    }

    // MARK: Introspection (RFC 7662)

    static func introspect(_ request: Request, parameters: [String: String], _ services: ControlServices) async throws -> Response {
        if Authenticator.bearerToken(request.headers) != nil {
            let caller = try await Authenticator.principal(request.headers, services: services)
            guard caller.scopes.contains("auth.introspect") || caller.scopes.contains(Scope.admin) else {
                var problem = Problem(status: .forbidden, slug: "insufficient-scope", title: "Insufficient scope",
                                      detail: "introspection needs the auth.introspect scope")
                problem.headers[.wwwAuthenticate] = "Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"auth.introspect\""
                throw problem
            }
        } else {
            _ = try await authenticateClient(request, parameters, services)
        }
        guard let token = parameters["token"], !token.isEmpty else { throw OAuthError.invalidRequest("token is required") }
        let answer = try await introspection(of: token, services)
        services.metrics.increment("tollgate_control_introspections_total", [("active", answer.active ? "true" : "false")])
        return JSONResponse.make(answer.body, headers: [.cacheControl: "no-store"])
    }

    static func introspection(of token: String, _ services: ControlServices) async throws -> (active: Bool, body: JSONOutput) {
        let inactive: (Bool, JSONOutput) = (false, .object([("active", false)]))
        let issuer = services.configuration.issuer
        if token.hasPrefix(refreshPrefix) {
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

    // MARK: Revocation (RFC 7009)

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

    static func revoke(_ request: Request, requestID: String, _ services: ControlServices) async throws -> Response {
        let form = try await RequestBody.form(request)
        let client = try await authenticateClient(request, form, services)
        guard let token = form["token"], !token.isEmpty else { throw OAuthError.invalidRequest("token is required") }
        let now = Clock.nowMilliseconds()
        if token.hasPrefix(refreshPrefix) {
            if let record = try await TokenStore.findRefresh(token, on: services.database) {
                guard record.clientID == client.clientID else {
                    throw OAuthError(code: "unauthorized_client", detail: "the token was issued to another client")
                }
                try await revokeFamily(
                    record.familyID, reason: "revoked by the client", actor: "client:\(client.clientID)", requestID: requestID, now: now, services)
            }
        } else if case let .success(verified) = await services.keyRing.verify(token),
                  let jti = verified.claims["jti"]?.stringValue
        {
            guard verified.claims["client_id"]?.stringValue == client.clientID else {
                throw OAuthError(code: "unauthorized_client", detail: "the token was issued to another client")
            }
            try await services.database.transaction { executor in
                try await TokenStore.revokeAccessToken(jti: jti, expiresAt: Int64(verified.expiresAt) * 1000, now: now, on: executor)
                try await AuditStore.record(
                    actor: "client:\(client.clientID)", action: "token.revoke", resource: "token:\(jti)", before: nil, after: nil,
                    requestID: requestID, on: executor)
            }
        }
        // RFC 7009 §2.2: an unknown or already invalid token is answered the same way.
        return Response(status: .ok, headers: [.cacheControl: "no-store"])
    }

    // MARK: OIDC

    static func userinfo(_ request: Request, _ services: ControlServices) async throws -> Response {
        let principal = try await Authenticator.principal(request.headers, services: services)
        guard let userID = principal.userID,
              let user = try await UserStore.find(id: userID, crypto: services.userCrypto, on: services.database)
        else { throw Authenticator.unauthorized("userinfo needs a token issued to a user", error: "invalid_token") }
        return JSONResponse.make(.object([
            ("sub", .string(user.id)), ("email", .string(user.email)), ("name", .optional(user.displayName)),
            ("roles", .strings(user.roles)),
        ]), headers: [.cacheControl: "no-store"])
    }

    static func discovery(_ configuration: ControlConfiguration) -> JSONOutput {
        let issuer = configuration.issuer
        let authMethods: JSONOutput = ["client_secret_basic", "client_secret_post"]
        return .object([
            ("issuer", .string(issuer)), ("token_endpoint", .string(issuer + "/oauth/token")),
            ("introspection_endpoint", .string(issuer + "/oauth/introspect")),
            ("revocation_endpoint", .string(issuer + "/oauth/revoke")), ("userinfo_endpoint", .string(issuer + "/oauth/userinfo")),
            ("jwks_uri", .string(issuer + "/.well-known/jwks.json")),
            ("grant_types_supported", ["client_credentials", "password", "refresh_token"]),
            ("response_types_supported", ["token"]), ("subject_types_supported", ["public"]),
            ("token_endpoint_auth_methods_supported", authMethods), ("introspection_endpoint_auth_methods_supported", authMethods),
            ("revocation_endpoint_auth_methods_supported", authMethods),
            ("id_token_signing_alg_values_supported", .strings([configuration.signingAlgorithm.rawValue])),
            ("scopes_supported", .strings(openIDScopes.sorted() + Scope.all)),
            ("claims_supported", ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id", "sid", "email", "name"]),
        ])
    }
}
