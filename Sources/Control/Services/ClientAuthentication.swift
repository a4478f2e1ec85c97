import Core
import Foundation

/// RFC 6749 §2.3.1 client authentication for the token, introspection and revocation endpoints:
/// HTTP Basic (`client_id:secret`, each form-encoded) or the `client_id` and `client_secret` form
/// fields, never both. A failure is `invalid_client` (401 with a Basic challenge when Basic was tried).
enum ClientAuthentication {
    /// The client the request authenticates as: `authorization` is its `Authorization` header,
    /// `form` its form parameters.
    static func authenticate(authorization: String?, form: [String: String], services: ControlServices) async throws -> ClientRecord {
        let clientID: String
        let secret: String
        let basic: Bool
        if let header = authorization, header.lowercased().hasPrefix("basic ") {
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
}
