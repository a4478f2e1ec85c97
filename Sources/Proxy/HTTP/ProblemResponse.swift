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

    /// The head and body, ready to write. `version` follows the request's.
    func encoded(requestID: String, version: HTTPVersion, allocator: ByteBufferAllocator) -> (HTTPResponseHead, ByteBuffer) {
        // Built by hand (no Foundation JSON on the request path); strings escaped by Core's writer.
        var json: [UInt8] = []
        json.reserveCapacity(160 + detail.utf8.count)
        JSONOutput.object([
            ("type", .string("urn:tollgate:problem:" + slug)), ("title", .string(title)), ("status", .int(Int64(status.code))),
            ("detail", .string(detail)), ("instance", .string(requestID)),
        ]).write(to: &json)
        json.append(UInt8(ascii: "\n"))
        let body = allocator.buffer(bytes: json)

        var head = HTTPResponseHead(version: version, status: status)
        head.headers.add(name: "content-type", value: "application/problem+json")
        head.headers.add(name: "content-length", value: String(body.readableBytes))
        head.headers.add(name: "x-request-id", value: requestID)
        head.headers.add(name: "cache-control", value: "no-store")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if closeConnection { head.headers.add(name: "connection", value: "close") }
        return (head, body)
    }
}
