import NIOCore

/// A strict HTTP/1.1 head parser over the bytes as they arrive: fed a buffer whose readable bytes
/// start at a head, it answers "need more bytes", a parsed `HTTPHead` (whose `length` says where the
/// body starts), or an `HTTPHeadError`.
///
/// Strict, because the sidecar sits in front of another parser: any head two parsers could read
/// differently (request smuggling, RFC 9112 §11.2) is refused instead of interpreted. The rules
/// are listed in docs/http-parser.md, with each place where this parser is deliberately stricter
/// than llhttp (SwiftNIO's parser), which differential tests hold it to.
///
/// Pure value code: no channel, event loop or future. The parser keeps the fields of the head in
/// progress in one array that it reuses from one head to the next, so a head parsed and dropped
/// before the next one costs no allocation; a caller that keeps an `HTTPHead` keeps its own copy.
public struct HTTPHeadParser: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// The largest head, start line to final empty line (`--max-header-bytes`): more is 431.
        public var maxHeadBytes: Int
        /// The most field lines in one head: more is 431.
        public var maxFieldCount: Int
        /// The longest request target: more is 414.
        public var maxTargetBytes: Int

        public init(maxHeadBytes: Int = 32_768, maxFieldCount: Int = 256, maxTargetBytes: Int = 8_192) {
            self.maxHeadBytes = maxHeadBytes
            self.maxFieldCount = maxFieldCount
            self.maxTargetBytes = maxTargetBytes
        }
    }

    public let configuration: Configuration
    public let kind: HTTPHead.Kind
    /// How far the search for the head's end has looked, so bytes fed again are not searched again.
    private var searched = 0
    /// Where the line being searched starts.
    private var lineStart = 0
    private var head: HTTPHead

    public init(_ kind: HTTPHead.Kind, configuration: Configuration = .init()) {
        self.kind = kind
        self.configuration = configuration
        self.head = HTTPHead(kind: kind)
        self.head.fields.reserveCapacity(16)
    }

    /// Parses the request head at the start of `buffer`'s readable bytes. Call again with the same
    /// head's bytes and more after `nil`; after a head, the next call starts a new head.
    public mutating func parseRequest(_ buffer: ByteBuffer) throws(HTTPHeadError) -> HTTPHead? {
        precondition(kind == .request)
        return try parse(buffer, requestMethod: .GET)
    }

    /// Parses the response head at the start of `buffer`'s readable bytes, the answer to a request
    /// whose method was `requestMethod` (a response to `HEAD` has no body, whatever it says).
    public mutating func parseResponse(_ buffer: ByteBuffer, to requestMethod: HTTPMethodName) throws(HTTPHeadError) -> HTTPHead? {
        precondition(kind == .response)
        return try parse(buffer, requestMethod: requestMethod)
    }

    /// Forgets a partly searched head (the connection was reset or the caller gave up on it).
    public mutating func reset() {
        searched = 0
        lineStart = 0
    }

    private mutating func parse(_ buffer: ByteBuffer, requestMethod: HTTPMethodName) throws(HTTPHeadError) -> HTTPHead? {
        let result: Result<HTTPHead?, HTTPHeadError> = buffer.withUnsafeReadableBytes { bytes in
            do throws(HTTPHeadError) {
                guard let length = try findEnd(bytes) else { return .success(nil) }
                searched = 0
                lineStart = 0
                try parseHead(UnsafeRawBufferPointer(rebasing: bytes[0..<length]), requestMethod: requestMethod)
                return .success(head)
            } catch {
                searched = 0
                lineStart = 0
                return .failure(error)
            }
        }
        return try result.get()
    }

    // MARK: Finding the end

    /// The length of the head if its final empty line is in `bytes`. Every line must end in CRLF:
    /// a bare LF is refused here, as soon as it is seen (some parsers end lines at a bare LF and
    /// some do not, the classic way to smuggle a header past one of them).
    private mutating func findEnd(_ bytes: UnsafeRawBufferPointer) throws(HTTPHeadError) -> Int? {
        let limit = min(bytes.count, configuration.maxHeadBytes)
        var index = searched
        while index < limit {
            guard let found = Self.firstLineFeed(bytes, from: index, to: limit) else { break }
            guard found > lineStart, bytes[found - 1] == UInt8(ascii: "\r") else {
                throw HTTPHeadError(.bareLineFeed, at: found)
            }
            if found - 1 == lineStart {
                if lineStart == 0 { throw HTTPHeadError(.emptyLineBeforeHead, at: 0) }
                return found + 1
            }
            lineStart = found + 1
            index = found + 1
        }
        if bytes.count >= configuration.maxHeadBytes { throw HTTPHeadError(.headTooLarge, at: configuration.maxHeadBytes) }
        searched = limit
        return nil
    }

    @inline(__always)
    private static func firstLineFeed(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        var index = start
        while index < end {
            if bytes[index] == UInt8(ascii: "\n") { return index }
            index &+= 1
        }
        return nil
    }

    // MARK: Parsing a complete head

    /// `bytes` is exactly the head: lines that each end in CRLF, the last one empty.
    private mutating func parseHead(_ bytes: UnsafeRawBufferPointer, requestMethod: HTTPMethodName) throws(HTTPHeadError) {
        head.fields.removeAll(keepingCapacity: true)
        head.length = bytes.count
        // A stray CR or LF before the start line (an extra CRLF after a body, say): llhttp skips
        // any number of them; refusing keeps the next message's start unambiguous.
        if bytes[0] == UInt8(ascii: "\r") || bytes[0] == UInt8(ascii: "\n") { throw HTTPHeadError(.emptyLineBeforeHead, at: 0) }
        var index = 0
        switch kind {
        case .request: try parseRequestLine(bytes, &index)
        case .response: try parseStatusLine(bytes, &index)
        }
        let end = bytes.count - 2
        while index < end {
            try parseField(bytes, &index)
        }
        switch kind {
        case .request: try decideRequestFraming(bytes)
        case .response: try decideResponseFraming(bytes, requestMethod: requestMethod)
        }
    }

    /// `method SP request-target SP HTTP-version CRLF` (RFC 9112 §3), one space each.
    private mutating func parseRequestLine(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) throws(HTTPHeadError) {
        while HTTPToken.isTokenCharacter(bytes[index]) { index &+= 1 }
        guard index > 0, bytes[index] == UInt8(ascii: " ") else { throw HTTPHeadError(.badRequestLine, at: index) }
        head.methodSpan = .init(0, index)
        guard let method = HTTPMethodName.recognise(UnsafeRawBufferPointer(rebasing: bytes[0..<index])) else {
            throw HTTPHeadError(.unknownMethod, at: 0)
        }
        guard method != .CONNECT else { throw HTTPHeadError(.connectNotSupported, at: 0) }
        head.method = method
        index &+= 1

        // Visible ASCII only: no control byte, no second space, nothing a later parser could
        // decode differently (non-ASCII must be percent-encoded, RFC 3986 §2.1).
        let targetStart = index
        while bytes[index] &- 0x21 < 0x5E { index &+= 1 }
        guard index > targetStart else { throw HTTPHeadError(.badTarget, at: index) }
        guard index - targetStart <= configuration.maxTargetBytes else { throw HTTPHeadError(.targetTooLong, at: targetStart) }
        guard bytes[index] == UInt8(ascii: " ") else {
            throw HTTPHeadError(bytes[index] == UInt8(ascii: "\r") ? .badRequestLine : .badTarget, at: index)
        }
        try Self.checkTargetForm(UnsafeRawBufferPointer(rebasing: bytes[targetStart..<index]), at: targetStart)
        head.target = .init(targetStart, index)
        index &+= 1
        try parseVersion(bytes, &index)
        guard bytes[index] == UInt8(ascii: "\r"), bytes[index &+ 1] == UInt8(ascii: "\n") else {
            throw HTTPHeadError(.badVersion, at: index)
        }
        index &+= 2
    }

    /// `HTTP-version SP status-code SP [ reason-phrase ] CRLF` (RFC 9112 §4).
    private mutating func parseStatusLine(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) throws(HTTPHeadError) {
        try parseVersion(bytes, &index)
        guard bytes[index] == UInt8(ascii: " ") else { throw HTTPHeadError(.badStatusLine, at: index) }
        index &+= 1
        var status = 0
        for _ in 0..<3 {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw HTTPHeadError(.badStatusLine, at: index) }
            status = status * 10 + Int(digit)
            index &+= 1
        }
        guard status >= 100 else { throw HTTPHeadError(.badStatusLine, at: index - 3) }
        head.status = status
        guard bytes[index] == UInt8(ascii: " ") else { throw HTTPHeadError(.badStatusLine, at: index) }
        index &+= 1
        let reasonStart = index
        while Self.isFieldValueByte(bytes[index]) { index &+= 1 }
        guard bytes[index] == UInt8(ascii: "\r"), bytes[index &+ 1] == UInt8(ascii: "\n") else {
            throw HTTPHeadError(.badStatusLine, at: index)
        }
        head.reason = .init(reasonStart, index)
        index &+= 2
    }

    /// origin-form (`/path?query`), asterisk-form (`*`) or absolute-form (`scheme://authority`
    /// then a path or query; the scheme letters only and no userinfo, RFC 9112 §3.2): a target
    /// that is none of them is one more thing two parsers could split differently.
    private static func checkTargetForm(_ target: UnsafeRawBufferPointer, at start: Int) throws(HTTPHeadError) {
        let first = target[0]
        if first == UInt8(ascii: "/") { return }
        if first == UInt8(ascii: "*") {
            guard target.count == 1 else { throw HTTPHeadError(.badTarget, at: start + 1) }
            return
        }
        var index = 0
        while index < target.count, ASCII.lowercased(target[index]) &- UInt8(ascii: "a") < 26 { index += 1 }
        guard index > 0, target.count - index > 3, target[index] == UInt8(ascii: ":"),
            target[index + 1] == UInt8(ascii: "/"), target[index + 2] == UInt8(ascii: "/")
        else {
            throw HTTPHeadError(.badTarget, at: start + index)
        }
        index += 3
        let authorityStart = index
        while index < target.count, isAuthorityByte(target[index]) { index += 1 }
        guard index > authorityStart,
            index == target.count || target[index] == UInt8(ascii: "/") || target[index] == UInt8(ascii: "?")
        else {
            throw HTTPHeadError(.badTarget, at: start + index)
        }
    }

    /// RFC 3986 `host [ ":" port ]` bytes: unreserved, sub-delims, `%`, `:`, `[`, `]` (no `@`).
    private static func isAuthorityByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
             UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
             UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: "%"), UInt8(ascii: ":"), UInt8(ascii: "["),
             UInt8(ascii: "]"):
            true
        default:
            false
        }
    }

    /// `HTTP/1.0` or `HTTP/1.1`; another `HTTP/d.d` is 505, anything else 400.
    private mutating func parseVersion(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) throws(HTTPHeadError) {
        let start = index
        // The head ends in CRLF CRLF, so the eight bytes are there unless the line is short, and a
        // short line fails on a byte before the end.
        guard bytes.count - start >= 10,
            bytes[start] == UInt8(ascii: "H"), bytes[start + 1] == UInt8(ascii: "T"),
            bytes[start + 2] == UInt8(ascii: "T"), bytes[start + 3] == UInt8(ascii: "P"),
            bytes[start + 4] == UInt8(ascii: "/"), bytes[start + 6] == UInt8(ascii: "."),
            bytes[start + 5] &- UInt8(ascii: "0") < 10, bytes[start + 7] &- UInt8(ascii: "0") < 10
        else {
            throw HTTPHeadError(.badVersion, at: start)
        }
        let minor = bytes[start + 7] &- UInt8(ascii: "0")
        guard bytes[start + 5] == UInt8(ascii: "1"), minor <= 1 else { throw HTTPHeadError(.unsupportedVersion, at: start) }
        head.minorVersion = Int(minor)
        index = start + 8
    }

    /// `field-name ":" OWS field-value OWS CRLF` (RFC 9112 §5), the value's OWS not part of it.
    private mutating func parseField(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) throws(HTTPHeadError) {
        let lineStart = index
        if bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
            // A continuation of the previous line (RFC 9112 §5.2): a parser that joins it and one
            // that starts a new field see different headers.
            throw HTTPHeadError(.obsoleteLineFolding, at: index)
        }
        while HTTPToken.isTokenCharacter(bytes[index]) { index &+= 1 }
        let nameEnd = index
        guard bytes[index] == UInt8(ascii: ":") else {
            let byte = bytes[index]
            if nameEnd > lineStart, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                // `Transfer-Encoding : chunked`: one parser's unknown header is another's framing.
                throw HTTPHeadError(.spaceBeforeColon, at: index)
            }
            throw HTTPHeadError(byte == UInt8(ascii: "\r") && bytes[index &+ 1] != UInt8(ascii: "\n") ? .bareCarriageReturn : .badHeaderName, at: index)
        }
        guard nameEnd > lineStart else { throw HTTPHeadError(.badHeaderName, at: index) }
        index &+= 1
        while bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index &+= 1 }
        let valueStart = index
        var valueEnd = index
        while true {
            let byte = bytes[index]
            if Self.isFieldValueByte(byte) {
                index &+= 1
                if byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") { valueEnd = index }
            } else if byte == UInt8(ascii: "\r") {
                guard bytes[index &+ 1] == UInt8(ascii: "\n") else { throw HTTPHeadError(.bareCarriageReturn, at: index) }
                break
            } else {
                throw HTTPHeadError(.badHeaderValue, at: index)
            }
        }
        index &+= 2
        guard head.fields.count < configuration.maxFieldCount else { throw HTTPHeadError(.tooManyHeaders, at: lineStart) }
        let known = HTTPHeaderName.classify(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<nameEnd]))
        head.fields.append(.init(
            name: .init(lineStart, nameEnd), value: .init(valueStart, valueEnd), line: .init(lineStart, index), known: known))
    }

    /// HTAB, SP, visible ASCII and obs-text (RFC 9110 §5.5): every byte but the controls and DEL.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        (byte >= 0x20 && byte != 0x7F) || byte == 0x09
    }

    // MARK: Framing

    /// RFC 9112 §6.3 for requests, refusing every shape two parsers could frame differently.
    private mutating func decideRequestFraming(_ bytes: UnsafeRawBufferPointer) throws(HTTPHeadError) {
        var contentLength: Int?
        var transferEncoding: HTTPHead.Field?
        var hosts = 0
        for field in head.fields {
            switch field.known {
            case .contentLength:
                if contentLength != nil { throw HTTPHeadError(.repeatedContentLength, at: Int(field.line.start)) }
                contentLength = try Self.contentLength(bytes, field)
            case .transferEncoding:
                // Only one, and only `chunked`: `gzip, chunked` is valid HTTP but no client of a
                // sidecar needs it, and every extra coding is one more thing to frame alike.
                if transferEncoding != nil { throw HTTPHeadError(.badTransferEncoding, at: Int(field.line.start)) }
                transferEncoding = field
            case .host:
                hosts += 1
                if hosts > 1 { throw HTTPHeadError(.repeatedHost, at: Int(field.line.start)) }
                try Self.checkHost(bytes, field)
            default:
                break
            }
        }
        if let transferEncoding {
            if contentLength != nil { throw HTTPHeadError(.contentLengthWithTransferEncoding, at: Int(transferEncoding.line.start)) }
            // Exactly `chunked`, with nothing after it on the line: llhttp, for one, reads
            // `chunked` followed by a tab as some other coding.
            guard ASCII.equalsLowercased(UnsafeRawBufferPointer(rebasing: bytes[transferEncoding.value.range]), "chunked"),
                transferEncoding.value.end == transferEncoding.line.end - 2
            else {
                throw HTTPHeadError(.badTransferEncoding, at: Int(transferEncoding.value.start))
            }
            // An HTTP/1.0 peer cannot send chunked (RFC 9112 §6.1): a faulty frame.
            guard head.minorVersion == 1 else { throw HTTPHeadError(.transferEncodingInHTTP10, at: Int(transferEncoding.line.start)) }
            head.framing = .chunked
        } else if let contentLength, contentLength > 0 {
            head.framing = .length(contentLength)
        } else {
            head.framing = .none
        }
        // HTTP/1.1 requires exactly one Host (RFC 9112 §3.2); HTTP/1.0 may omit it.
        if hosts == 0, head.minorVersion == 1 { throw HTTPHeadError(.missingHost, at: bytes.count) }
    }

    /// RFC 9112 §6.3 for responses: no body for `HEAD`, 1xx, 204 and 304 (whatever the fields
    /// say, though they must still be well formed), chunked when it is the final coding, until the
    /// close when another coding is, else `Content-Length`, else until the close.
    private mutating func decideResponseFraming(_ bytes: UnsafeRawBufferPointer, requestMethod: HTTPMethodName) throws(HTTPHeadError) {
        var contentLength: Int?
        var sawTransferEncoding = false
        var chunkedLast = false
        for field in head.fields {
            switch field.known {
            case .contentLength:
                if contentLength != nil { throw HTTPHeadError(.repeatedContentLength, at: Int(field.line.start)) }
                contentLength = try Self.contentLength(bytes, field)
            case .transferEncoding:
                // Whitespace after the last coding reads differently in different parsers.
                guard field.value.end == field.line.end - 2 else { throw HTTPHeadError(.badTransferEncoding, at: Int(field.value.end)) }
                sawTransferEncoding = true
                chunkedLast = try Self.endsInChunked(bytes, field, after: chunkedLast)
            default:
                break
            }
        }
        if sawTransferEncoding, contentLength != nil {
            throw HTTPHeadError(.contentLengthWithTransferEncoding, at: 0)
        }
        let status = head.status
        if requestMethod == .HEAD || status < 200 || status == 204 || status == 304 {
            head.framing = .none
        } else if sawTransferEncoding {
            head.framing = chunkedLast ? .chunked : .untilClose
        } else if let contentLength {
            head.framing = contentLength > 0 ? .length(contentLength) : .none
        } else {
            head.framing = .untilClose
        }
    }

    /// 1 to 18 digits and nothing else: no sign, no list, no second value, never an overflow, and
    /// no whitespace after the digits (llhttp refuses a tab there and accepts a space).
    private static func contentLength(_ bytes: UnsafeRawBufferPointer, _ field: HTTPHead.Field) throws(HTTPHeadError) -> Int {
        let value = field.value
        guard value.count > 0, value.count <= 18, value.end == field.line.end - 2 else {
            throw HTTPHeadError(.badContentLength, at: Int(value.start))
        }
        var length = 0
        for index in value.range {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw HTTPHeadError(.badContentLength, at: index) }
            length = length * 10 + Int(digit)
        }
        return length
    }

    /// Not empty, no space, no `/` or `@` (a path or userinfo where a host belongs).
    private static func checkHost(_ bytes: UnsafeRawBufferPointer, _ field: HTTPHead.Field) throws(HTTPHeadError) {
        guard field.value.count > 0 else { throw HTTPHeadError(.badHost, at: Int(field.value.start)) }
        for index in field.value.range {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "/"), UInt8(ascii: "@"):
                throw HTTPHeadError(.badHost, at: index)
            default:
                continue
            }
        }
    }

    /// Reads one `Transfer-Encoding` field as a comma-separated list of codings (each a token,
    /// parameters not allowed, no empty elements) and says whether `chunked` is the last coding so
    /// far; `chunked` followed by another coding is refused (chunked must be applied last, and only
    /// once). Empty elements are refused too: llhttp reads `chunked,` as not chunked.
    private static func endsInChunked(_ bytes: UnsafeRawBufferPointer, _ field: HTTPHead.Field, after chunkedBefore: Bool) throws(HTTPHeadError) -> Bool {
        var chunkedLast = chunkedBefore
        var index = Int(field.value.start)
        let end = Int(field.value.end)
        while index <= end {
            while index < end, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
            let start = index
            while index < end, HTTPToken.isTokenCharacter(bytes[index]) { index += 1 }
            let coding = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
            while index < end, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
            guard index == end || bytes[index] == UInt8(ascii: ",") else { throw HTTPHeadError(.badTransferEncoding, at: index) }
            guard !coding.isEmpty else { throw HTTPHeadError(.badTransferEncoding, at: start) }
            if chunkedLast { throw HTTPHeadError(.badTransferEncoding, at: start) }
            chunkedLast = ASCII.equalsLowercased(coding, "chunked")
            index += 1
        }
        return chunkedLast
    }
}
