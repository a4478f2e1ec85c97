import Core
import NIOHTTP1

/// Refuses requests whose framing two HTTP parsers could read differently (request smuggling),
/// before any phase runs. NIO's parser (llhttp) rejects most malformed framing itself; these checks
/// cover what a lenient parser downstream could still disagree on. Each case answers 400 and closes
/// the connection, because after a framing doubt nothing else on it can be trusted.
enum RequestValidation {
    enum Problem: Equatable, CustomStringConvertible {
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

    static func problem(in head: HTTPRequestHead) -> Problem? {
        let contentLengths = head.headers[canonicalForm: "content-length"]
        let transferEncodings = head.headers[canonicalForm: "transfer-encoding"]
        if !contentLengths.isEmpty, !transferEncodings.isEmpty { return .contentLengthWithTransferEncoding }
        if contentLengths.count > 1 { return .badContentLength }
        if let length = contentLengths.first, !isDecimal(length) { return .badContentLength }
        if !transferEncodings.isEmpty {
            // Only "chunked", once, last; anything else (gzip, chunked twice, "chunked, identity") is refused.
            guard transferEncodings.count == 1, transferEncodings[0].lowercased() == "chunked" else {
                return .badTransferEncoding
            }
        }
        var hosts = 0
        for (name, value) in head.headers {
            if !HTTPToken.isValid(name) { return .badHeaderByte(name) }
            if value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) { return .badHeaderByte(name) }
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
