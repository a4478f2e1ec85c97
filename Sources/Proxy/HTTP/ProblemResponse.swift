import Core
import NIOCore
import NIOHTTP1

/// A response the sidecar makes itself (refusals and errors): RFC 9457 problem+json with `type`,
/// `title`, `status`, `detail` and `instance` = the request id, so a caller can quote it to an operator.
struct ProblemResponse {
    let status: HTTPResponseStatus
    /// Short, stable slug: `urn:tollgate:problem:<slug>`; also the access log's `decision`.
    let slug: String
    let title: String
    let detail: String
    var headers: [(String, String)] = []
    /// True when the connection must close after this response (framing cannot be trusted).
    var closeConnection = false
    /// The access log's `decision` when more precise than the slug (`invalid-token:expired`).
    var decision: String?

    static func badRequest(_ detail: String) -> ProblemResponse {
        ProblemResponse(status: .badRequest, slug: "bad-request", title: "Bad Request", detail: detail, closeConnection: true)
    }

    static func routeNotFound() -> ProblemResponse {
        ProblemResponse(status: .notFound, slug: "no-route", title: "Not Found", detail: "no route matches this request")
    }

    static func headersTooLarge() -> ProblemResponse {
        ProblemResponse(status: .requestHeaderFieldsTooLarge, slug: "headers-too-large",
                        title: "Request Header Fields Too Large", detail: "the request's header block is larger than this sidecar accepts",
                        closeConnection: true)
    }

    static func bodyTooLarge(limit: Int) -> ProblemResponse {
        ProblemResponse(status: .payloadTooLarge, slug: "body-too-large", title: "Content Too Large",
                        detail: "the request body is larger than \(limit) bytes", closeConnection: true)
    }

    static func badGateway(_ detail: String) -> ProblemResponse {
        ProblemResponse(status: .badGateway, slug: "upstream-unavailable", title: "Bad Gateway", detail: detail)
    }

    static func gatewayTimeout() -> ProblemResponse {
        ProblemResponse(status: .gatewayTimeout, slug: "upstream-timeout", title: "Gateway Timeout",
                        detail: "the upstream did not answer in time")
    }

    static func serviceUnavailable(_ detail: String) -> ProblemResponse {
        ProblemResponse(status: .serviceUnavailable, slug: "unavailable", title: "Service Unavailable", detail: detail,
                        closeConnection: true)
    }

    /// What the head parser or the chunked-body tracker refused: 431 for a head over the limit,
    /// 414, 505 and 501 for what those name, 400 for anything else malformed. The connection closes.
    static func malformed(_ error: HTTPHeadError) -> ProblemResponse {
        switch error.status {
        case 431:
            return headersTooLarge()
        case 414:
            return ProblemResponse(status: .uriTooLong, slug: "uri-too-long", title: "URI Too Long",
                                   detail: "the request target is longer than this sidecar accepts", closeConnection: true)
        case 505:
            return ProblemResponse(status: .httpVersionNotSupported, slug: "http-version-not-supported",
                                   title: "HTTP Version Not Supported", detail: "only HTTP/1.0 and HTTP/1.1 are served", closeConnection: true)
        case 501:
            return ProblemResponse(status: .notImplemented, slug: "method-not-implemented", title: "Not Implemented",
                                   detail: "the request method is not one this sidecar forwards (\(error.reason))", closeConnection: true)
        default:
            return badRequest("the request is not valid HTTP/1.1 (\(error.reason))")
        }
    }

    /// The whole response, head and body (none for a `HEAD` request), in one buffer ready to write.
    /// `minorVersion` follows the request's; an HTTP/1.0 client that asked to keep the connection
    /// is told it is kept.
    func serialized(requestID: RequestID, minorVersion: Int, includeBody: Bool, keepAliveHTTP10: Bool = false, allocator: ByteBufferAllocator) -> ByteBuffer {
        let requestID = requestID.description
        // Built by hand (no Foundation JSON on the request path); strings escaped by Core's writer.
        var json: [UInt8] = []
        json.reserveCapacity(160 + detail.utf8.count)
        JSONOutput.object([
            ("type", .string("urn:tollgate:problem:" + slug)), ("title", .string(title)), ("status", .int(Int64(status.code))),
            ("detail", .string(detail)), ("instance", .string(requestID)),
        ]).write(to: &json)
        json.append(UInt8(ascii: "\n"))
        var out = allocator.buffer(capacity: 256 + json.count + requestID.utf8.count)
        out.writeStaticString(minorVersion == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        out.writeString(String(status.code))
        out.writeStaticString(" ")
        out.writeString(status.reasonPhrase)
        out.writeStaticString("\r\ncontent-type: application/problem+json\r\ncontent-length: ")
        out.writeString(String(json.count))
        out.writeStaticString("\r\nx-request-id: ")
        out.writeString(requestID)
        out.writeStaticString("\r\ncache-control: no-store\r\n")
        for (name, value) in headers {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if closeConnection {
            out.writeStaticString("connection: close\r\n")
        } else if minorVersion == 0, keepAliveHTTP10 {
            out.writeStaticString("connection: keep-alive\r\n")
        }
        out.writeStaticString("\r\n")
        if includeBody { out.writeBytes(json) }
        return out
    }
}
