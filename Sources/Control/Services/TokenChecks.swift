import Core
import Foundation

/// Issues access tokens and decides whether one is still good.
enum TokenChecks {
    /// Signature, expiry, revocation (the token's `jti`, its family), the client still registered,
    /// the user still active.
    static func active(_ token: String, services: ControlServices) async -> TokenState {
        let verified: VerifiedToken
        switch await services.keyRing.verify(token) {
        case let .success(token): verified = token
        case let .failure(failure): return .inactive(failure.detail)
        }
        let claims = verified.claims
        guard let jti = claims["jti"]?.stringValue, let clientID = claims["client_id"]?.stringValue, let subject = verified.subject else {
            return .inactive("the token lacks jti, client_id or sub")
        }
        let familyID = claims["sid"]?.stringValue
        let access = AccessClaims(
            jti: jti, clientID: clientID, userID: familyID == nil ? nil : subject, familyID: familyID, subject: subject,
            scopes: verified.scopes, expiresAt: Int64(verified.expiresAt), issuedAt: claims["iat"]?.numberValue.map { Int64($0) },
            audience: claims["aud"])
        do {
            let database = services.database
            if try await TokenStore.isRevoked(jti: jti, on: database) { return .inactive("the token was revoked") }
            if let familyID, try await TokenStore.familyRevoked(familyID, on: database) { return .inactive("the token's login was revoked") }
            if try await services.clients.find(clientID) == nil { return .inactive("the token's client no longer exists") }
            if let userID = access.userID, try await UserStore.status(id: userID, on: database) != "active" {
                return .inactive("the token's user is not active")
            }
        } catch {
            services.logger.error("token check failed", metadata: ["error": "\(error)"])
            return .inactive("the token could not be checked")
        }
        return .active(access)
    }

    /// A signed access token and its lifetime in seconds.
    static func issue(
        services: ControlServices, clientID: String, subject: String, familyID: String?, scopes: [String], audience: [String]
    ) throws -> (token: String, expiresIn: Int64) {
        let now = Clock.nowMilliseconds() / 1000
        let lifetime = services.configuration.tokenLifetime / 1000
        let audienceClaim: JSONOutput = audience.count == 1 ? .string(audience[0]) : .strings(audience)
        var claims: [(String, JSONOutput)] = [
            ("iss", .string(services.configuration.issuer)), ("sub", .string(subject)), ("aud", audienceClaim),
            ("exp", .int(now + lifetime)), ("iat", .int(now)), ("nbf", .int(now)),
            ("jti", .string(Base64URL.encode(try SecureRandom.bytes(16)))), ("scope", .string(scopes.joined(separator: " "))),
            ("client_id", .string(clientID)),
        ]
        if let familyID { claims.append(("sid", .string(familyID))) }
        return (try services.keyRing.sign(.object(claims)), lifetime)
    }
}
