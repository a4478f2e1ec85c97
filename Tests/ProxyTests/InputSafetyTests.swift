import Foundation
import TestSupport
import Testing

/// Requests that two parsers could frame differently are refused with 400 before any phase runs,
/// the connection is closed, and the upstream never sees the request or a smuggled second one.
@Suite("Input safety: smuggling, limits, idle clients")
struct InputSafetyTests {
    static let smuggled = "GET /echo/SMUGGLED HTTP/1.1\r\nHost: a\r\n\r\n"

    static let smugglingShapes: [(String, String)] = [
        ("Content-Length and Transfer-Encoding",
         "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled),
        ("two Content-Length headers",
         "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n" + smuggled),
        ("a Content-Length list",
         "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 44\r\n\r\n" + smuggled),
        ("a malformed Content-Length",
         "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +44\r\n\r\n" + smuggled),
        ("Transfer-Encoding other than chunked last",
         "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled),
        ("Transfer-Encoding gzip",
         "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n" + smuggled),
        ("two Transfer-Encoding headers",
         "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled),
        ("obsolete line folding",
         "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc" + smuggled),
        ("a bad chunk size",
         "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n" + smuggled),
        ("a chunk size that overflows",
         "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n" + smuggled),
        ("a control byte in a header value",
         "GET /echo HTTP/1.1\r\nHost: a\r\nX-Bad: a\u{01}b\r\n\r\n" + smuggled),
        ("a space before the colon",
         "GET /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled),
        ("a bare LF line ending in the header block",
         "GET /echo HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n" + smuggled),
        ("two Host headers",
         "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + smuggled),
        ("no Host in HTTP/1.1",
         "GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n" + smuggled),
    ]

    @Test("each smuggling shape gets 400, the connection closes, and nothing reaches the upstream",
          arguments: smugglingShapes.map(\.0))
    func smuggling(shape: String) throws {
        let request = try #require(Self.smugglingShapes.first { $0.0 == shape }?.1)
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect(timeout: 5)
        try connection.send(request)
        let bytes = try connection.readToEnd()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 400 "), "\(shape): \(text)")
        let statusLines = text.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/1.") }
        #expect(statusLines.count == 1, "exactly one response: \(text)")
        #expect(fixture.upstream.received.isEmpty, "\(shape): the upstream saw \(fixture.upstream.received.map(\.uri))")
    }

    @Test("a header block over --max-header-bytes gets 431")
    func headersTooLarge() throws {
        let fixture = try ProxyFixture(arguments: ["--max-header-bytes", "4096"])
        let connection = try fixture.proxy.connect()
        try connection.send("GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "a", count: 8000))\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 431)
        #expect(response.header("content-type") == "application/problem+json")
        #expect(fixture.upstream.received.isEmpty)
        #expect(try fixture.proxy.request("GET", "/echo", headers: [("X-Small", String(repeating: "a", count: 1000))]).status == 200)
    }

    @Test("a declared body over --max-body-bytes gets 413 without being read")
    func declaredBodyTooLarge() throws {
        let fixture = try ProxyFixture(arguments: ["--max-body-bytes", "1000"])
        let connection = try fixture.proxy.connect()
        try connection.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 413)
        #expect(response.header("connection") == "close")
        #expect(fixture.upstream.received.isEmpty)
    }

    @Test("a chunked body that grows past --max-body-bytes gets 413 and is not delivered whole")
    func chunkedBodyTooLarge() throws {
        let fixture = try ProxyFixture(arguments: ["--max-body-bytes", "1000"])
        let connection = try fixture.proxy.connect()
        let chunk = String(repeating: "x", count: 600)
        try connection.send("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n\(chunk)\r\n")
        try? connection.send("258\r\n\(chunk)\r\n0\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 413)
        #expect(!fixture.upstream.received.contains { $0.bodyBytes > 1000 })
    }

    @Test("a client that sends nothing for --idle-timeout is closed")
    func idleTimeout() throws {
        let fixture = try ProxyFixture(arguments: ["--idle-timeout", "300ms"])
        let connection = try fixture.proxy.connect(timeout: 5)
        try connection.send("GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
        let started = Date()
        #expect(connection.isClosedByPeer())
        #expect(Date().timeIntervalSince(started) < 4)
        let stalled = try fixture.proxy.connect(timeout: 5)
        try stalled.send("GET /echo HTTP/1.1\r\nHost:")
        #expect(stalled.isClosedByPeer(), "a half-sent head does not hold the connection open")
    }
}
