import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What a request carries through the control plane: its id and, once authenticated, who called.
struct ControlContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var requestID = ""
    var principal: Principal?

    init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// The caller of a `/v1` route: a client (client_credentials token) or a user (password/refresh).
struct Principal: Sendable {
    let clientID: String
    let userID: String?
    let scopes: Set<String>

    /// For the audit log: `client:<id>` or `user:<id>`.
    var actor: String { userID.map { "user:\($0)" } ?? "client:\(clientID)" }
}

/// An RFC 9457 problem: every error the API returns (bar RFC 6749's token errors).
struct Problem: Error, CustomStringConvertible {
    let status: HTTPResponse.Status
    let slug: String
    let title: String
    let detail: String
    var headers: HTTPFields = [:]

    var description: String { "\(status.code) \(slug): \(detail)" }

    static func badRequest(_ detail: String) -> Problem { Problem(status: .badRequest, slug: "bad-request", title: "Bad request", detail: detail) }
    static func invalid(_ detail: String) -> Problem {
        Problem(status: .unprocessableContent, slug: "validation-failed", title: "Validation failed", detail: detail)
    }
    static func notFound(_ detail: String) -> Problem { Problem(status: .notFound, slug: "not-found", title: "Not found", detail: detail) }
    static func conflict(_ detail: String) -> Problem { Problem(status: .conflict, slug: "conflict", title: "Conflict", detail: detail) }
    static func preconditionFailed(_ detail: String) -> Problem {
        Problem(status: .preconditionFailed, slug: "precondition-failed", title: "Precondition failed", detail: detail)
    }

    func response(requestID: String) -> Response {
        var headers = headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        let body = JSONOutput.object([
            ("type", .string("urn:tollgate:problem:\(slug)")), ("title", .string(title)), ("status", .int(Int64(status.code))),
            ("detail", .string(detail)), ("request_id", .string(requestID)),
        ])
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.serialized())))
    }
}

/// RFC 6749 §5.2 errors of the token, introspection and revocation endpoints.
struct OAuthError: Error, CustomStringConvertible {
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

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache"]
        if basicChallenge { headers[.wwwAuthenticate] = "Basic realm=\"tollgate\"" }
        let body = JSONOutput.object([("error", .string(code)), ("error_description", .string(HeaderText.quotable(detail)))])
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.serialized())))
    }
}

extension HTTPField.Name {
    static let pragma = HTTPField.Name("Pragma")!
    static let requestID = HTTPField.Name("X-Request-Id")!
}

enum JSONResponse {
    static func make(_ value: JSONOutput, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.utf8())))
    }

    static func text(_ text: String, contentType: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

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

enum FormDecoding {
    static func parameters(_ text: some StringProtocol) throws -> [String: String] {
        var parameters: [String: String] = [:]
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(bytes: parts[0]), let value = parts.count > 1 ? decode(bytes: parts[1]) : "" else {
                throw OAuthError.invalidRequest("a parameter is not valid percent-encoding")
            }
            guard parameters[name] == nil else { throw OAuthError.invalidRequest("parameter \(HeaderText.quotable(name)) is sent twice") }
            parameters[name] = value
        }
        return parameters
    }

    static func decode(_ text: some StringProtocol) -> String? {
        decode(bytes: text.utf8)
    }

    /// `application/x-www-form-urlencoded` value: `+` is a space, `%XX` a byte; the result must be UTF-8.
    static func decode(bytes: some Collection<UInt8>) -> String? {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                let high = bytes.index(after: index)
                guard high != bytes.endIndex else { return nil }
                let low = bytes.index(after: high)
                guard low != bytes.endIndex, let h = hexValue(bytes[high]), let l = hexValue(bytes[low]) else { return nil }
                output.append(h << 4 | l)
                index = bytes.index(after: low)
                continue
            }
            output.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            index = bytes.index(after: index)
        }
        return String(validating: output, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Versions as entity tags (RFC 9110 §8.8.3): a resource with a `version` sends `ETag: "<version>"`;
/// a write with `If-Match` goes ahead only when one of its tags (or `*`) matches, else 412.
enum EntityTag {
    static func value(_ version: Int64) -> String { "\"\(version)\"" }

    /// Throws 412 when `ifMatch` (the request's `If-Match`) is not satisfied by `version`. Weak tags
    /// (`W/"…"`) never match: If-Match uses the strong comparison.
    static func check(_ ifMatch: String?, version: Int64) throws {
        guard let ifMatch else { return }
        let current = value(version)
        let tags = ifMatch.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard tags.contains("*") || tags.contains(current) else {
            throw Problem.preconditionFailed("If-Match \(HeaderText.quotable(ifMatch)) does not match the current version \(current)")
        }
    }
}

/// RFC 3339 out, RFC 3339 or Unix milliseconds in.
enum Timestamp {
    static func rfc3339(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            .formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    static func parse(_ text: String) -> Int64? {
        if let milliseconds = Int64(text) { return milliseconds }
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        let plain = Date.ISO8601FormatStyle(timeZone: .gmt)
        guard let date = (try? withFraction.parse(text)) ?? (try? plain.parse(text)) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
