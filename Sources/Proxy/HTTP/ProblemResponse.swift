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
        var body = allocator.buffer(capacity: 160 + detail.utf8.count)
        body.writeStaticString("{\"type\":\"urn:tollgate:problem:")
        JSONText.writeEscaped(slug, to: &body)
        body.writeStaticString("\",\"title\":\"")
        JSONText.writeEscaped(title, to: &body)
        body.writeStaticString("\",\"status\":")
        body.writeString(String(status.code))
        body.writeStaticString(",\"detail\":\"")
        JSONText.writeEscaped(detail, to: &body)
        body.writeStaticString("\",\"instance\":\"")
        JSONText.writeEscaped(requestID, to: &body)
        body.writeStaticString("\"}\n")

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

/// JSON string escaping without Foundation: the request path writes JSON (problem bodies, access
/// log lines) and must not pay for JSONSerialization.
enum JSONText {
    private static let hex = Array("0123456789abcdef".utf8)

    static func writeEscaped(_ string: String, to buffer: inout ByteBuffer) {
        var pending = string.utf8.startIndex
        let utf8 = string.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                buffer.writeBytes(utf8[pending..<index])
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
                case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
                case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
                default:
                    buffer.writeStaticString("\\u00")
                    buffer.writeInteger(hex[Int(byte >> 4)])
                    buffer.writeInteger(hex[Int(byte & 0x0F)])
                }
                pending = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        buffer.writeBytes(utf8[pending..<utf8.endIndex])
    }
}
