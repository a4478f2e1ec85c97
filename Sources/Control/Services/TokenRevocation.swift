import Core

/// Token revocation (RFC 7009), without HTTP: the route authenticates the client. A refresh token
/// revokes its whole family (the login); an access token is revoked by `jti`. Unknown and invalid
/// tokens are not an error (RFC 7009 §2.2); a token of another client is `unauthorized_client`.
enum TokenRevocation {
    static func revoke(_ token: String, client: ClientRecord, requestID: String, services: ControlServices) async throws {
        let now = Clock.nowMilliseconds()
        if token.hasPrefix(TokenGrants.refreshPrefix) {
            if let record = try await TokenStore.findRefresh(token, on: services.database) {
                guard record.clientID == client.clientID else {
                    throw OAuthError(code: "unauthorized_client", detail: "the token was issued to another client")
                }
                try await TokenGrants.revokeFamily(
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
    }
}
