import Core
import Foundation
import HTTPTypes
import Hummingbird

/// RFC 6749 token endpoint, RFC 7662 introspection, RFC 7009 revocation, OIDC userinfo, discovery
/// and JWKS.
enum OAuthRoutes {

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

    // MARK: Token

    static func token(_ request: Request, _ context: ControlContext, _ services: ControlServices) async throws -> Response {
        let form = try await RequestBody.form(request)
        do {
            let client = try await ClientAuthentication.authenticate(authorization: request.headers[.authorization], form: form, services: services)
            let issued = try await TokenGrants(services: services).issue(
                grant: form["grant_type"], client: client, form: form, requestID: context.requestID)
            services.metrics.increment(ControlMetrics.tokensIssued, [("grant_type", form["grant_type"] ?? "")])
            return tokenResponse(issued)
        } catch let error as OAuthError {
            services.metrics.increment(ControlMetrics.tokenErrors, [("error", error.code)])
            throw error
        }
    }

    static func tokenResponse(_ issued: IssuedTokens) -> Response {
        var members: [(String, JSONOutput)] = [
            ("access_token", .string(issued.accessToken)), ("token_type", "Bearer"), ("expires_in", .int(issued.expiresIn)),
            ("scope", .string(issued.scopes.joined(separator: " "))),
        ]
        if let refreshToken = issued.refreshToken { members.append(("refresh_token", .string(refreshToken))) }
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
            _ = try await ClientAuthentication.authenticate(authorization: request.headers[.authorization], form: parameters, services: services)
        }
        guard let token = parameters["token"], !token.isEmpty else { throw OAuthError.invalidRequest("token is required") }
        let answer = try await TokenIntrospection.answer(for: token, services: services)
        services.metrics.increment(ControlMetrics.introspections, [("active", answer.active ? "true" : "false")])
        return JSONResponse.make(answer.body, headers: [.cacheControl: "no-store"])
    }

    // MARK: Revocation (RFC 7009)

    static func revoke(_ request: Request, requestID: String, _ services: ControlServices) async throws -> Response {
        let form = try await RequestBody.form(request)
        let client = try await ClientAuthentication.authenticate(authorization: request.headers[.authorization], form: form, services: services)
        guard let token = form["token"], !token.isEmpty else { throw OAuthError.invalidRequest("token is required") }
        try await TokenRevocation.revoke(token, client: client, requestID: requestID, services: services)
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
            ("scopes_supported", .strings(ScopeNarrowing.openIDScopes.sorted() + Scope.all)),
            ("claims_supported", ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id", "sid", "email", "name"]),
        ])
    }
}
