import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An RFC 9457 problem: every error the API returns (bar RFC 6749's token errors). Handlers throw
/// it; as a Hummingbird `HTTPResponseError` it renders itself (`application/problem+json`) with the
/// request id `ControlMiddleware` gave the request.
struct Problem: HTTPResponseError, CustomStringConvertible {
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

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response(requestID: (context as? ControlContext)?.requestID ?? "")
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
