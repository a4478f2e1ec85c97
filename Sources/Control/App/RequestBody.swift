import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

enum RequestBody {
    static let maximumBytes = 1 << 20

    static func bytes(_ request: Request) async throws -> [UInt8] {
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: maximumBytes)
            return Array(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw Problem(status: .contentTooLarge, slug: "too-large", title: "Body too large", detail: "the body is larger than 1 MiB")
        }
    }

    /// `application/x-www-form-urlencoded` (RFC 6749 §3.2: a parameter sent twice is an error).
    static func form(_ request: Request) async throws -> [String: String] {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
            throw OAuthError.invalidRequest("send the parameters as application/x-www-form-urlencoded")
        }
        guard let text = String(validating: try await bytes(request), as: UTF8.self) else {
            throw OAuthError.invalidRequest("the body is not UTF-8")
        }
        return try FormDecoding.parameters(text)
    }
}
