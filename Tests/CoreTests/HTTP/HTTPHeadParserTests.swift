import NIOCore
import Testing

@testable import Core

/// Parses one head fed whole; nil when the parser wants more bytes.
func parseRequest(_ text: String, _ configuration: HTTPHeadParser.Configuration = .init()) throws(HTTPHeadError) -> HTTPHead? {
    var parser = HTTPHeadParser(.request, configuration: configuration)
    return try parser.parseRequest(ByteBuffer(string: text))
}

func requestError(_ text: String, _ configuration: HTTPHeadParser.Configuration = .init()) -> HTTPHeadError.Code? {
    do {
        _ = try parseRequest(text, configuration)
        return nil
    } catch {
        return error.code
    }
}

func responseHead(_ text: String, to method: HTTPMethodName = .GET) throws(HTTPHeadError) -> HTTPHead? {
    var parser = HTTPHeadParser(.response)
    return try parser.parseResponse(ByteBuffer(string: text), to: method)
}

@Suite("HTTP head parser")
struct HTTPHeadParserTests {
    static let plain = "GET /plain/items?id=7 HTTP/1.1\r\nHost: api.example\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"

    @Test("a plain GET is parsed into method, target, version and fields as spans of the bytes")
    func plainGet() throws {
        let buffer = ByteBuffer(string: Self.plain + "next")
        var parser = HTTPHeadParser(.request)
        let head = try #require(try parser.parseRequest(buffer))
        #expect(head.method == .GET)
        #expect(buffer.string(of: head.methodSpan) == "GET")
        #expect(buffer.string(of: head.target) == "/plain/items?id=7")
        #expect(head.minorVersion == 1)
        #expect(head.length == Self.plain.utf8.count)
        #expect(head.fields.map { buffer.string(of: $0.name) } == ["Host", "User-Agent", "Accept"])
        #expect(head.fields.map { buffer.string(of: $0.value) } == ["api.example", "wrk", "*/*"])
        #expect(head.fields.map(\.known) == [.host, .other, .other])
        #expect(head.framing == .none)
    }

    @Test("a head that arrives a byte at a time is complete only with its last byte")
    func incremental() throws {
        let bytes = Array(Self.plain.utf8)
        var parser = HTTPHeadParser(.request)
        var buffer = ByteBuffer()
        for (index, byte) in bytes.enumerated() {
            buffer.writeInteger(byte)
            let head = try parser.parseRequest(buffer)
            #expect((head != nil) == (index == bytes.count - 1), "after byte \(index)")
        }
    }

    @Test("two pipelined heads are parsed one after the other from the offset the first reports")
    func pipelined() throws {
        var buffer = ByteBuffer(string: Self.plain + "DELETE /x HTTP/1.0\r\n\r\n")
        var parser = HTTPHeadParser(.request)
        let first = try #require(try parser.parseRequest(buffer))
        buffer.moveReaderIndex(forwardBy: first.length)
        let second = try #require(try parser.parseRequest(buffer))
        #expect(second.method == .DELETE)
        #expect(buffer.string(of: second.target) == "/x")
        #expect(second.minorVersion == 0)
        #expect(second.length == buffer.readableBytes)
    }

    @Test("values lose the spaces and tabs around them, keep the ones inside, and may be empty")
    func valueWhitespace() throws {
        let text = "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t one two \t\r\nX-Empty:\r\nX-Spaces:   \r\n\r\n"
        let buffer = ByteBuffer(string: text)
        let head = try #require(try parseRequest(text))
        #expect(head.fields.map { buffer.string(of: $0.value) } == ["a", "one two", "", ""])
    }

    @Test("known names are found in any case, others by their lower-cased bytes")
    func lookups() throws {
        let text = "POST /u HTTP/1.1\r\nhOsT: a\r\nCONTENT-LENGTH: 5\r\nX-Request-ID: r1\r\nTraceParent: t\r\nX-User: u\r\nx-forwarded-for: 1.2.3.4\r\n\r\n"
        let buffer = ByteBuffer(string: text)
        let head = try #require(try parseRequest(text))
        #expect(head.firstIndex(of: .host) == 0)
        #expect(head.firstIndex(of: .contentLength) == 1)
        #expect(head.firstIndex(of: .xRequestId) == 2)
        #expect(head.firstIndex(of: .traceparent) == 3)
        #expect(head.firstIndex(of: .xForwardedFor) == 5)
        #expect(head.firstIndex(of: .authorization) == nil)
        #expect(head.firstIndex(ofLowercased: "x-user", in: buffer) == 4)
        #expect(head.firstIndex(ofLowercased: "x-use", in: buffer) == nil)
        #expect(head.framing == .length(5))
    }

    @Test("every name the sidecar knows is recognised from its spelling in upper case")
    func everyKnownName() throws {
        for name in HTTPHeaderName.allCases where name != .other && name != .host {
            let upper = name.lowercased.description.uppercased()
            let value = name == .contentLength ? "0" : name == .transferEncoding ? "chunked" : "v"
            let head = try #require(try parseRequest("POST / HTTP/1.1\r\nHOST: a\r\n\(upper): \(value)\r\n\r\n"), "\(name)")
            #expect(head.fields.map(\.known) == [.host, name], "\(upper)")
        }
    }

    @Test("body framing: none, a length, or chunked")
    func requestFraming() throws {
        #expect(try parseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")?.framing == HTTPBodyFraming.none)
        #expect(try parseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0012\r\n\r\n")?.framing == .length(12))
        #expect(try parseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n")?.framing == .chunked)
    }

    @Test("each smuggling shape of the contract is refused with its own code", arguments: [
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n", HTTPHeadError.Code.contentLengthWithTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n", .contentLengthWithTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n", .repeatedContentLength),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", .repeatedContentLength),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 44\r\n\r\n", .badContentLength),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +44\r\n\r\n", .badContentLength),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", .badContentLength),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n", .badContentLength),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", .badTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .badTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", .badTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .badTransferEncoding),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .transferEncodingInHTTP10),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\u{01}b\r\n\r\n", .badHeaderValue),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\u{7F}b\r\n\r\n", .badHeaderValue),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\u{00}b\r\n\r\n", .badHeaderValue),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\rb\r\n\r\n", .bareCarriageReturn),
        ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", .spaceBeforeColon),
        ("GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", .bareLineFeed),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\n\r\n", .bareLineFeed),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .repeatedHost),
        ("GET / HTTP/1.1\r\nX-A: b\r\n\r\n", .missingHost),
        ("GET / HTTP/1.1\r\nHost:\r\n\r\n", .badHost),
        ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", .badHost),
        ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", .badHost),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", .badHost),
        ("GET / HTTP/1.1\r\nX-A\u{01}: b\r\nHost: a\r\n\r\n", .badHeaderName),
        ("GET / HTTP/1.1\r\n: b\r\nHost: a\r\n\r\n", .badHeaderName),
        ("GET / HTTP/1.1\r\nX(A): b\r\nHost: a\r\n\r\n", .badHeaderName),
        ("GET / HTTP/1.1\r\nNoColon\r\nHost: a\r\n\r\n", .badHeaderName),
        // Found by the differential tests: llhttp reads these differently from a plain reading.
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\t\r\n\r\n", .badContentLength),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 \r\n\r\n", .badContentLength),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n", .badTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", .badTransferEncoding),
    ])
    func smuggling(text: String, code: HTTPHeadError.Code) {
        #expect(requestError(text) == code, "\(text.debugDescription)")
    }

    @Test("a malformed request line is refused, and says which part", arguments: [
        ("get / HTTP/1.1\r\nHost: a\r\n\r\n", HTTPHeadError.Code.unknownMethod),
        ("FETCH / HTTP/1.1\r\nHost: a\r\n\r\n", .unknownMethod),
        ("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", .connectNotSupported),
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", .badTarget),
        ("GET /a\u{01}b HTTP/1.1\r\nHost: a\r\n\r\n", .badTarget),
        ("GET /caf\u{E9} HTTP/1.1\r\nHost: a\r\n\r\n", .badTarget),
        ("GET /\r\nHost: a\r\n\r\n", .badRequestLine),
        ("GET\r\nHost: a\r\n\r\n", .badRequestLine),
        (" GET / HTTP/1.1\r\nHost: a\r\n\r\n", .badRequestLine),
        ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", .badVersion),
        ("GET / http/1.1\r\nHost: a\r\n\r\n", .badVersion),
        ("GET / HTTP/1\r\nHost: a\r\n\r\n", .badVersion),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", .unsupportedVersion),
        ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", .unsupportedVersion),
        ("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .emptyLineBeforeHead),
        ("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", .emptyLineBeforeHead),
        ("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", .badTarget),
        ("GET *a HTTP/1.1\r\nHost: a\r\n\r\n", .badTarget),
        ("GET h0ttp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", .badTarget),
        ("GET http:/a/ HTTP/1.1\r\nHost: a\r\n\r\n", .badTarget),
        ("GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n", .badTarget),
        ("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", .badTarget),
    ])
    func requestLine(text: String, code: HTTPHeadError.Code) {
        #expect(requestError(text) == code, "\(text.debugDescription)")
    }

    @Test("targets in origin, absolute and asterisk form are accepted as sent")
    func targetForms() throws {
        for target in ["/", "/a/b?c=d&e#f", "http://a.example:8080", "http://a.example/x?y", "HTTPS://[::1]:8443?q", "*"] {
            let text = "OPTIONS \(target) HTTP/1.1\r\nHost: a\r\n\r\n"
            let head = try #require(try parseRequest(text), "\(target)")
            #expect(ByteBuffer(string: text).string(of: head.target) == target)
        }
    }

    @Test("errors map to the status the sidecar answers with")
    func statuses() {
        #expect(HTTPHeadError(.headTooLarge, at: 0).status == 431)
        #expect(HTTPHeadError(.tooManyHeaders, at: 0).status == 431)
        #expect(HTTPHeadError(.targetTooLong, at: 0).status == 414)
        #expect(HTTPHeadError(.unsupportedVersion, at: 0).status == 505)
        #expect(HTTPHeadError(.unknownMethod, at: 0).status == 501)
        #expect(HTTPHeadError(.contentLengthWithTransferEncoding, at: 0).status == 400)
        #expect(HTTPHeadError(.obsoleteLineFolding, at: 0).reason == "obs-fold")
    }

    @Test("a head over the byte limit is refused as soon as the limit is passed, not when it ends")
    func headLimit() throws {
        let configuration = HTTPHeadParser.Configuration(maxHeadBytes: 1024)
        var parser = HTTPHeadParser(.request, configuration: configuration)
        let big = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "a", count: 1000)
        #expect(try parser.parseRequest(ByteBuffer(string: String(big.prefix(1000)))) == nil)
        #expect(throws: HTTPHeadError(.headTooLarge, at: 1024)) { try parser.parseRequest(ByteBuffer(string: big)) }
        let prefix = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: "
        let fits = prefix + String(repeating: "a", count: 1024 - prefix.utf8.count - 4) + "\r\n\r\n"
        #expect(fits.utf8.count == 1024)
        #expect(try parseRequest(fits, configuration)?.length == 1024)
        #expect(requestError(fits + "x", .init(maxHeadBytes: 1023)) == .headTooLarge)
    }

    @Test("more fields than the limit is 431; a target over its limit is 414")
    func countAndTargetLimits() {
        let fields = (0..<5).map { "X-\($0): v\r\n" }.joined()
        #expect(requestError("GET / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n", .init(maxFieldCount: 6)) == nil)
        #expect(requestError("GET / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n", .init(maxFieldCount: 5)) == .tooManyHeaders)
        #expect(requestError("GET /\(String(repeating: "a", count: 99)) HTTP/1.1\r\nHost: a\r\n\r\n", .init(maxTargetBytes: 100)) == nil)
        #expect(requestError("GET /\(String(repeating: "a", count: 100)) HTTP/1.1\r\nHost: a\r\n\r\n", .init(maxTargetBytes: 100)) == .targetTooLong)
    }

    @Test("the parser reuses its field storage: a head dropped before the next is not copied")
    func reuse() throws {
        var parser = HTTPHeadParser(.request)
        var buffer = ByteBuffer(string: Self.plain + Self.plain)
        var first = try #require(try parser.parseRequest(buffer))
        let storage = first.fields.withUnsafeBufferPointer { $0.baseAddress }
        buffer.moveReaderIndex(forwardBy: first.length)
        first = HTTPHead(kind: .request)
        let second = try #require(try parser.parseRequest(buffer))
        #expect(second.fields.withUnsafeBufferPointer { $0.baseAddress } == storage)
        _ = first
    }
}

@Suite("HTTP head parser: responses")
struct HTTPResponseHeadParserTests {
    @Test("a response with a length is parsed into status, reason, version and framing")
    func withLength() throws {
        let text = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: b\r\n\r\n"
        let head = try #require(try responseHead(text))
        #expect(head.status == 201)
        #expect(ByteBuffer(string: text).string(of: head.reason) == "Created")
        #expect(head.framing == .length(2))
        #expect(head.fields.count == 2)
    }

    @Test("framing follows RFC 9112 §6.3: HEAD, 1xx, 204 and 304 have no body whatever they say")
    func framing() throws {
        #expect(try responseHead("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", to: .HEAD)?.framing == HTTPBodyFraming.none)
        #expect(try responseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", to: .HEAD)?.framing == HTTPBodyFraming.none)
        #expect(try responseHead("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n")?.framing == HTTPBodyFraming.none)
        #expect(try responseHead("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n")?.framing == HTTPBodyFraming.none)
        #expect(try responseHead("HTTP/1.1 100 Continue\r\n\r\n")?.framing == HTTPBodyFraming.none)
        #expect(try responseHead("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")?.framing == HTTPBodyFraming.none)
        #expect(try responseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")?.framing == .chunked)
        #expect(try responseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")?.framing == .untilClose)
        #expect(try responseHead("HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n")?.framing == .untilClose)
        #expect(try responseHead("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")?.framing == HTTPBodyFraming.none)
    }

    @Test("a status line needs three digits and a space; the reason may be empty")
    func statusLine() throws {
        #expect(try responseHead("HTTP/1.1 200 \r\n\r\n")?.status == 200)
        for bad in ["HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 OK\r\n\r\n", "HTTP/1.1 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n"] {
            #expect(throws: HTTPHeadError.self, "\(bad.debugDescription)") { try responseHead(bad) }
        }
    }

    @Test("framing doubts are refused in responses too")
    func responseSmuggling() {
        let bad = [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: ch unked\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,,chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\t\r\n\r\n",
            "\nHTTP/1.1 200 OK\r\n\r\n",
        ]
        for text in bad {
            #expect(throws: HTTPHeadError.self, "\(text.debugDescription)") { try responseHead(text) }
        }
    }
}
