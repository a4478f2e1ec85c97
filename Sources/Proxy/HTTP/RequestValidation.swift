import Core
import NIOHTTP1

/// Refuses requests whose framing two HTTP parsers could read differently (request smuggling),
/// before any phase runs. NIO's parser (llhttp) rejects most malformed framing itself; these checks
/// cover what a lenient parser downstream could still disagree on. Each case answers 400 and closes
/// the connection, because after a framing doubt nothing else on it can be trusted.
enum RequestValidation {
    enum Problem: Error, Equatable, CustomStringConvertible {
        case contentLengthWithTransferEncoding
        case badContentLength
        case badTransferEncoding
        case badHeaderByte(String)
        case badHost

        var description: String {
            switch self {
            case .contentLengthWithTransferEncoding: "both Content-Length and Transfer-Encoding"
            case .badContentLength: "a repeated or malformed Content-Length"
            case .badTransferEncoding: "a Transfer-Encoding other than a final chunked"
            case let .badHeaderByte(name): "a control character in header \(name)"
            case .badHost: "a missing, repeated or malformed Host"
            }
        }
    }

    /// How the request's body is framed, read once here for the rest of the request's life.
    struct Framing: Equatable {
        /// The declared length; nil when absent (no body, or chunked).
        let contentLength: Int?
        let chunked: Bool

        /// The request carries body bytes after its head.
        var hasBody: Bool { chunked || (contentLength ?? 0) > 0 }
    }

    static func check(_ head: HTTPRequestHead) -> Result<Framing, Problem> {
        let contentLengths = head.headers[canonicalForm: "content-length"]
        let transferEncodings = head.headers[canonicalForm: "transfer-encoding"]
        if !contentLengths.isEmpty, !transferEncodings.isEmpty { return .failure(.contentLengthWithTransferEncoding) }
        if contentLengths.count > 1 { return .failure(.badContentLength) }
        var contentLength: Int?
        if let text = contentLengths.first {
            guard isDecimal(text), let value = Int(text) else { return .failure(.badContentLength) }
            contentLength = value
        }
        if !transferEncodings.isEmpty {
            // Only "chunked", once, last; anything else (gzip, chunked twice, "chunked, identity") is refused.
            guard transferEncodings.count == 1, transferEncodings[0].lowercased() == "chunked" else {
                return .failure(.badTransferEncoding)
            }
        }
        if let problem = headerProblem(in: head) { return .failure(problem) }
        return .success(Framing(contentLength: contentLength, chunked: !transferEncodings.isEmpty))
    }

    private static func headerProblem(in head: HTTPRequestHead) -> Problem? {
        var hosts = 0
        for (name, value) in head.headers {
            if !HTTPToken.isValid(name) { return .badHeaderByte(name) }
            if HeaderBytes.hasControlByte(value) { return .badHeaderByte(name) }
            if name.utf8.count == 4, name.lowercased() == "host" {
                hosts += 1
                if value.isEmpty || value.utf8.contains(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "@") }) {
                    return .badHost
                }
            }
        }
        // HTTP/1.1 requires exactly one Host (RFC 9112 §3.2); HTTP/1.0 may omit it.
        if hosts > 1 || (hosts == 0 && head.version.minor >= 1 && head.version.major == 1) { return .badHost }
        return nil
    }

    private static func isDecimal(_ value: Substring) -> Bool {
        !value.isEmpty && value.count <= 18 && value.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
