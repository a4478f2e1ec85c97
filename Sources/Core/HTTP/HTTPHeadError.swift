/// Why a head (or a chunked body) was refused: an opaque `code` that tests assert, the status the
/// sidecar answers with, and a slug for the problem document and the access log.
///
/// Every refusal closes the connection: after a framing doubt nothing else on it can be trusted.
public struct HTTPHeadError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        // The start line.
        case badRequestLine = "bad-request-line"
        case unknownMethod = "unknown-method"
        case connectNotSupported = "connect-not-supported"
        case badTarget = "bad-target"
        case targetTooLong = "target-too-long"
        case badVersion = "bad-version"
        case unsupportedVersion = "unsupported-version"
        case badStatusLine = "bad-status-line"
        // Line structure.
        case bareLineFeed = "bare-lf"
        case bareCarriageReturn = "bare-cr"
        case emptyLineBeforeHead = "empty-line-before-head"
        case obsoleteLineFolding = "obs-fold"
        // Field lines.
        case badHeaderName = "bad-header-name"
        case spaceBeforeColon = "space-before-colon"
        case badHeaderValue = "bad-header-value"
        case headTooLarge = "header-block-too-large"
        case tooManyHeaders = "too-many-headers"
        // Framing and the fields the sidecar relies on.
        case contentLengthWithTransferEncoding = "content-length-with-transfer-encoding"
        case repeatedContentLength = "repeated-content-length"
        case badContentLength = "bad-content-length"
        case badTransferEncoding = "bad-transfer-encoding"
        case transferEncodingInHTTP10 = "transfer-encoding-in-http-1.0"
        case missingHost = "missing-host"
        case repeatedHost = "repeated-host"
        case badHost = "bad-host"
        // Chunked bodies.
        case badChunkSize = "bad-chunk-size"
        case chunkSizeOverflow = "chunk-size-overflow"
        case badChunkExtension = "bad-chunk-extension"
        case badChunkTerminator = "bad-chunk-terminator"
        case badTrailer = "bad-trailer"
    }

    public let code: Code
    /// Where in the bytes fed the problem was found (from the head's or the body's first byte).
    public let offset: Int

    public init(_ code: Code, at offset: Int) {
        self.code = code
        self.offset = offset
    }

    /// The status the sidecar answers a request refused this way with: 431 for a head that is too
    /// large, 414 for a target over its own limit, 505 for a version other than 1.0 and 1.1, 501 for
    /// a method the parser does not know or `CONNECT`, 400 for everything else. (For a response from the upstream
    /// every code means 502.)
    public var status: Int {
        switch code {
        case .headTooLarge, .tooManyHeaders: 431
        case .targetTooLong: 414
        case .unsupportedVersion: 505
        case .unknownMethod, .connectNotSupported: 501
        default: 400
        }
    }

    /// The slug that names the problem in a problem document or a log line.
    public var reason: String { code.rawValue }

    public var description: String { "\(code.rawValue) at byte \(offset)" }
}
