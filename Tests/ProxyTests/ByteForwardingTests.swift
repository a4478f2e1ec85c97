import Foundation
import Testing
import TestSupport

/// The forwarding core on raw bytes (issue 15): heads spliced from the bytes that came, bodies
/// passed on in the framing they came in, and the framings a client cannot read converted.
/// Upstreams here are `ScriptedUpstream`s, so every byte either way is the test's own.
@Suite("Forwarding as bytes")
struct ByteForwardingTests {
    static let policy = """
        version: 1
        routes:
          - name: all
            match: { prefix: / }
            auth: none
        """

    private func proxy(_ upstream: ScriptedUpstream) throws -> ProxyHarness {
        try ProxyHarness(policies: ["routes.yaml": Self.policy], upstreamPort: upstream.port)
    }

    @Test("the forwarded head is the client's bytes: case and order kept, hop-by-hop and Connection-named fields out, the sidecar's fields added")
    func headSpliced() throws {
        let upstream = try ScriptedUpstream(response: "HTTP/1.1 204 No Content\r\n\r\n")
        defer { upstream.shutdown() }
        let proxy = try proxy(upstream)
        defer { _ = proxy.stop() }
        let connection = try proxy.connect()
        try connection.send(
            "GET /a?b=c HTTP/1.1\r\nHost: a.example\r\nX-Mixed-CASE: Value  with  spaces\r\nConnection: keep-alive, X-Drop\r\n"
                + "X-Drop: 1\r\nKeep-Alive: timeout=5\r\nAccept: */*\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 204, "\(response.status) \(String(decoding: response.body, as: UTF8.self))")
        let lines = try #require(upstream.requests.first).components(separatedBy: "\r\n")
        #expect(Array(lines.prefix(4)) == ["GET /a?b=c HTTP/1.1", "Host: a.example", "X-Mixed-CASE: Value  with  spaces", "Accept: */*"])
        let added = lines.dropFirst(4).filter { !$0.isEmpty }.map { String($0.prefix { $0 != ":" }) }
        #expect(added == ["x-request-id", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"])
    }

    @Test("a normalized path and an HTTP/1.0 request get a new request line; the fields stay as they came")
    func requestLineRewritten() throws {
        let upstream = try ScriptedUpstream(response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        defer { upstream.shutdown() }
        let proxy = try proxy(upstream)
        defer { _ = proxy.stop() }
        let connection = try proxy.connect()
        try connection.send("GET /a/./b/../c?q HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
        let old = try proxy.connect()
        try old.send("GET /old HTTP/1.0\r\nX-B: 2\r\n\r\n")
        let response = try old.readResponse()
        #expect(response.status == 200 && response.body == Array("ok".utf8))
        let requests = upstream.requests
        #expect(requests.count == 2)
        #expect(requests.first?.hasPrefix("GET /a/c?q HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n") == true, "\(requests)")
        #expect(requests.last?.hasPrefix("GET /old HTTP/1.1\r\nX-B: 2\r\n") == true, "\(requests)")
    }

    @Test("a chunked request body reaches the upstream in the framing it was sent in: sizes, extensions and trailers as they were")
    func chunkedRequestPassesThrough() throws {
        let upstream = try ScriptedUpstream(requestEnd: "X-Checksum: 42\r\n\r\n", response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        defer { upstream.shutdown() }
        let proxy = try proxy(upstream)
        defer { _ = proxy.stop() }
        let connection = try proxy.connect()
        let body = "4;name=value\r\nWiki\r\n000005\r\npedia\r\n0\r\nX-Checksum: 42\r\n\r\n"
        try connection.send("POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        #expect(try connection.readResponse().status == 200)
        let request = try #require(upstream.requests.first)
        #expect(request.hasSuffix("\r\n\r\n" + body), "\(request)")
        #expect(request.components(separatedBy: "\r\n").filter { $0.lowercased().hasPrefix("transfer-encoding:") } == ["Transfer-Encoding: chunked"])
    }

    @Test("a chunked response reaches an HTTP/1.0 client as its data, ended by the close")
    func chunkedToHTTP10() throws {
        let upstream = try ScriptedUpstream(
            response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-U: 1\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        defer { upstream.shutdown() }
        let proxy = try proxy(upstream)
        defer { _ = proxy.stop() }
        let connection = try proxy.connect()
        try connection.send("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let text = String(decoding: try connection.readToEnd(), as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let head = parts[0].components(separatedBy: "\r\n")
        #expect(head.first == "HTTP/1.0 200 OK")
        #expect(!head.contains { $0.lowercased().hasPrefix("transfer-encoding") })
        #expect(head.contains("connection: close") && head.contains("X-U: 1"))
        #expect(parts.dropFirst().joined(separator: "\r\n\r\n") == "hello world")
    }

    @Test("a close-delimited response reaches an HTTP/1.1 client chunked, and the connection serves the next request")
    func closeDelimitedToHTTP11() throws {
        let upstream = try ScriptedUpstream(response: "HTTP/1.1 200 OK\r\nX-U: 1\r\n\r\nuntil the close", closeAfter: true)
        defer { upstream.shutdown() }
        let proxy = try proxy(upstream)
        defer { _ = proxy.stop() }
        let connection = try proxy.connect()
        for _ in 0..<2 {
            try connection.send("GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.status == 200 && response.header("transfer-encoding") == "chunked")
            #expect(String(decoding: response.body, as: UTF8.self) == "until the close")
        }
    }

    @Test("a response the strict parser refuses is never passed on: 502, and the upstream connection is not reused",
          arguments: [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok",
            "HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
          ])
    func malformedResponse(response: String) throws {
        let upstream = try ScriptedUpstream(response: response)
        defer { upstream.shutdown() }
        let proxy = try proxy(upstream)
        defer { _ = proxy.stop() }
        let answer = try proxy.connect()
        try answer.send("GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        // Refused in the body (the head already went): the client sees the response cut short,
        // never the bad bytes.
        if response.hasSuffix("zz\r\n") {
            let text = String(decoding: try answer.readToEnd(), as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200 OK") && !text.contains("zz"), "\(text)")
            return
        }
        // Refused at the head: a 502, and the next request gets a new upstream connection.
        #expect(try answer.readResponse().status == 502)
        try answer.send("GET /y HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try answer.readResponse().status == 502)
        #expect(upstream.requests.count == 2)
    }

    @Test("what the parser refuses gets the status its code names, through the binary: 501, 505, 414, 431, 400",
          arguments: [
            ("PURGEX / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
            ("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 501),
            ("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505),
            ("GET /" + String(repeating: "a", count: 9_000) + " HTTP/1.1\r\nHost: h\r\n\r\n", 414),
            ("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "v", count: 40_000) + "\r\n\r\n", 431),
            ("GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n", 400),
          ])
    func refusalStatuses(request: String, status: Int) throws {
        let upstream = try ScriptedUpstream(response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        defer { upstream.shutdown() }
        let proxy = try proxy(upstream)
        defer { _ = proxy.stop() }
        let connection = try proxy.connect()
        try connection.send(request)
        let response = try connection.readResponse()
        #expect(response.status == status)
        #expect(response.header("connection") == "close" && connection.isClosedByPeer(), "every refusal closes the connection")
        #expect(upstream.requests.isEmpty, "nothing refused reaches the upstream")
    }
}
