import Core
import Foundation

/// The claims of an access token this service issued, once checked.
struct AccessClaims: Sendable {
    let jti: String
    let clientID: String
    /// Set for tokens a user logged in for (password and refresh grants).
    let userID: String?
    /// The refresh-token family (`sid`) of a user token.
    let familyID: String?
    let subject: String
    let scopes: Set<String>
    let expiresAt: Int64
    let issuedAt: Int64?
    let audience: JSONValue?
}

enum TokenState: Sendable {
    case active(AccessClaims)
    case inactive(String)
}
