import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// RFC 6749 §5.2 errors of the token, introspection and revocation endpoints: `{error,
/// error_description}` as `application/json`, not a problem (OAuth clients parse this shape).
struct OAuthError: HTTPResponseError, CustomStringConvertible {
    let code: String
    let detail: String
    var status: HTTPResponse.Status = .badRequest
    /// `invalid_client` after HTTP Basic: 401 with a Basic challenge.
    var basicChallenge = false

    var description: String { "\(code): \(detail)" }

    static func invalidRequest(_ detail: String) -> OAuthError { OAuthError(code: "invalid_request", detail: detail) }
    static func invalidGrant(_ detail: String) -> OAuthError { OAuthError(code: "invalid_grant", detail: detail) }
    static func invalidScope(_ detail: String) -> OAuthError { OAuthError(code: "invalid_scope", detail: detail) }
    static func invalidClient(_ detail: String, basic: Bool) -> OAuthError {
        OAuthError(code: "invalid_client", detail: detail, status: .unauthorized, basicChallenge: basic)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache"]
        if basicChallenge { headers[.wwwAuthenticate] = "Basic realm=\"tollgate\"" }
        let body = JSONOutput.object([("error", .string(code)), ("error_description", .string(HeaderText.quotable(detail)))])
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.serialized())))
    }
}
