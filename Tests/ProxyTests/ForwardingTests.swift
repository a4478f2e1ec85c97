import Foundation
import TestSupport
import Testing

@Suite("Forwarding: what the upstream and the client see")
struct ForwardingTests {
    @Test("a request is forwarded with X-Forwarded-*, a request id, and no hop-by-hop headers")
    func forwardsWithRewrittenHeaders() throws {
        let fixture = try ProxyFixture()
        let response = try fixture.proxy.request("GET", "/echo/a?x=1", headers: [
            ("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.example"),
            ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Proxy-Authorization", "Basic eA=="),
            ("Connection", "x-internal"), ("X-Internal", "secret"), ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ])
        #expect(response.status == 200)
        let received = try #require(fixture.upstream.received.last)
        #expect(received.uri == "/echo/a?x=1")
        #expect(
            received.headers(named: "x-forwarded-for") == ["6.6.6.6, 127.0.0.1"],
            "the chain is kept and the peer appended, trusted or not; the consumer decides whom to trust")
        #expect(received.header("x-forwarded-proto") == "http")
        #expect(received.header("x-forwarded-host") == "localhost")
        for name in ["keep-alive", "te", "proxy-authorization", "x-internal"] {
            #expect(received.header(name) == nil, "\(name) must not reach the upstream")
        }
        #expect(received.header("traceparent") == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        let requestID = try #require(received.header("x-request-id"))
        #expect(requestID.count == 32)
        #expect(response.header("x-request-id") == requestID)
        #expect(response.header("x-upstream") == "test")
    }

    @Test("X-Forwarded-For from an untrusted peer is appended to (several lines joined), but the client IP is the peer")
    func untrustedForwardedForIsAppended() throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect()
        try connection.send(
            "GET /echo HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7, 10.1.2.3\r\nX-Forwarded-For: 198.51.100.2\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
        let received = try #require(fixture.upstream.received.last)
        #expect(received.headers(named: "x-forwarded-for") == ["203.0.113.7, 10.1.2.3, 198.51.100.2, 127.0.0.1"])
        #expect(fixture.proxy.accessLog(atLeast: 1).last?["client_ip"] as? String == "127.0.0.1", "an untrusted peer's list is not believed")
    }

    @Test("a valid incoming X-Request-Id is kept; an unsafe one is replaced")
    func requestIDs() throws {
        let fixture = try ProxyFixture()
        _ = try fixture.proxy.request("GET", "/echo", headers: [("X-Request-Id", "abc-123.trace:9")])
        #expect(fixture.upstream.received.last?.header("x-request-id") == "abc-123.trace:9")
        _ = try fixture.proxy.request("GET", "/echo", headers: [("X-Request-Id", "bad id\"injected")])
        let replaced = try #require(fixture.upstream.received.last?.header("x-request-id"))
        #expect(replaced != "bad id\"injected" && replaced.count == 32)
    }

    @Test("X-Forwarded-For from a trusted proxy is extended, and the client IP is the first untrusted hop")
    func trustedProxies() throws {
        let fixture = try ProxyFixture(arguments: ["--trusted-proxies", "127.0.0.0/8,10.0.0.0/8"])
        _ = try fixture.proxy.request("GET", "/echo", headers: [("X-Forwarded-For", "203.0.113.7, 10.1.2.3"), ("X-Forwarded-Proto", "https")])
        let received = try #require(fixture.upstream.received.last)
        #expect(received.header("x-forwarded-for") == "203.0.113.7, 10.1.2.3, 127.0.0.1")
        #expect(received.header("x-forwarded-proto") == "https")
        #expect(fixture.proxy.accessLog(atLeast: 1).last?["client_ip"] as? String == "203.0.113.7")
    }

    @Test("paths are normalized before matching and forwarding; climbing above / is refused")
    func pathNormalization() throws {
        let fixture = try ProxyFixture()
        let response = try fixture.proxy.request("GET", "/x/../echo/%61b/./c")
        #expect(response.status == 200)
        #expect(fixture.upstream.received.last?.uri == "/echo/ab/c")
        let climbing = try fixture.proxy.request("GET", "/echo/../../etc/passwd")
        #expect(climbing.status == 400)
        #expect(climbing.header("content-type") == "application/problem+json")
    }

    @Test("no matching route is 404 problem+json whose instance is the request id, and nothing is forwarded")
    func noRoute() throws {
        let fixture = try ProxyFixture()
        let response = try fixture.proxy.request("GET", "/admin")
        #expect(response.status == 404)
        #expect(response.header("content-type") == "application/problem+json")
        let body = response.json
        #expect(body["type"] as? String == "urn:tollgate:problem:no-route")
        #expect(body["title"] as? String == "Not Found")
        #expect(body["status"] as? Int == 404)
        #expect(body["detail"] as? String == "no route matches this request")
        #expect(body["instance"] as? String == response.header("x-request-id"))
        #expect(fixture.upstream.received.isEmpty)
        let log = try #require(fixture.proxy.accessLog(atLeast: 1).last)
        #expect(log["status"] as? Int == 404)
        #expect(log["decision"] as? String == "no-route")
        #expect(log["request_id"] as? String == response.header("x-request-id"))
    }

    @Test("keep-alive and pipelining: responses come back in order on one connection")
    func pipelining() throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect()
        try connection.send(
            "GET /slow?ms=200 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo/second HTTP/1.1\r\nHost: a\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n")
        let first = try connection.readResponse()
        let second = try connection.readResponse()
        let third = try connection.readResponse()
        #expect(first.status == 200 && (first.json["uri"] as? String) == "/slow?ms=200")
        #expect(second.status == 200 && (second.json["uri"] as? String) == "/echo/second")
        #expect(third.status == 404)
        try connection.send("GET /echo/again HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
    }

    @Test(
        "pipelining: a refusal queued behind a forwarded response waits for that response's last byte, in every upstream framing",
        arguments: ["chunked", "length", "close"])
    func pipelinedRefusalAfterEachFraming(framing: String) throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect()
        try connection.send(
            "GET /echo/first?framing=\(framing) HTTP/1.1\r\nHost: a\r\n\r\n"
                + "GET /no-route HTTP/1.1\r\nHost: a\r\n\r\n"
                + "GET /echo/third?framing=\(framing) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        let first = try connection.readResponse()
        #expect(first.status == 200 && first.json["uri"] as? String == "/echo/first?framing=\(framing)")
        let refused = try connection.readResponse()
        #expect(refused.status == 404 && refused.json["type"] as? String == "urn:tollgate:problem:no-route")
        let third = try connection.readResponse()
        #expect(third.status == 200 && third.json["uri"] as? String == "/echo/third?framing=\(framing)")
        #expect(connection.isClosedByPeer(), "Connection: close ends the connection after the third response")
    }

    @Test("pipelining: a request with a body queued behind a slow one; a malformed one is answered 400 after the answers before it")
    func pipeliningWithBodiesAndErrors() throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect()
        try connection.send(
            "GET /slow?ms=200 HTTP/1.1\r\nHost: a\r\n\r\n"
                + "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                + "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                + "GET /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        let first = try connection.readResponse()
        #expect(first.status == 200 && (first.json["uri"] as? String) == "/slow?ms=200")
        let second = try connection.readResponse()
        #expect(second.status == 200 && second.json["body_bytes"] as? Int == 5)
        let third = try connection.readResponse()
        #expect(third.status == 200 && third.json["body_bytes"] as? Int == 3)
        let refused = try connection.readResponse()
        #expect(refused.status == 400)
        #expect(refused.header("content-type") == "application/problem+json")
        #expect(connection.isClosedByPeer(), "the connection ends after the 400")
        #expect(fixture.upstream.received.map(\.uri) == ["/slow?ms=200", "/upload", "/upload"], "the malformed request never reached the upstream")
    }

    @Test("HEAD gets the upstream's headers and no body")
    func head() throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect()
        try connection.send("HEAD /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try connection.readResponse(expectBody: false)
        #expect(response.status == 200)
        #expect(response.header("content-length") != nil)
        try connection.send("GET /echo/next HTTP/1.1\r\nHost: a\r\n\r\n")
        let next = try connection.readResponse()
        #expect(next.json["uri"] as? String == "/echo/next", "no stray body bytes were left on the connection")
    }

    @Test("Expect: 100-continue is answered by the sidecar once the phases pass, and refused without it when they fail")
    func expectContinue() throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect()
        try connection.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let interim = try connection.readHeadLines()[0]
        #expect(interim.hasPrefix("HTTP/1.1 100"))
        try connection.send("hello")
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.json["body_bytes"] as? Int == 5)
        #expect(fixture.upstream.received.last?.header("expect") == nil)

        let refused = try fixture.proxy.connect()
        try refused.send("POST /nowhere HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        #expect(try refused.readResponse().status == 404)
    }

    @Test("--upstream-timeout counts from the end of the request: an upload slower than it is forwarded whole")
    func slowUploadIsNotAnUpstreamTimeout() throws {
        let fixture = try ProxyFixture(arguments: ["--upstream-timeout", "300ms"])
        let connection = try fixture.proxy.connect()
        try connection.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n")
        for byte in ["a", "b", "c", "d"] {
            usleep(250_000)  // 1 s in all, over three times the timeout
            try connection.send(byte)
        }
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.json["body_bytes"] as? Int == 4)
    }

    @Test("upstream refused is 502, no answer in time is 504, reset before answering is 502")
    func upstreamFailures() throws {
        let fixture = try ProxyFixture(arguments: ["--upstream-timeout", "300ms"])
        let slow = try fixture.proxy.request("GET", "/slow?ms=2000")
        #expect(slow.status == 504)
        #expect(slow.json["type"] as? String == "urn:tollgate:problem:upstream-timeout")
        let reset = try fixture.proxy.request("GET", "/reset")
        #expect(reset.status == 502)
        #expect(try fixture.proxy.request("GET", "/echo").status == 200, "the pool recovers")

        fixture.upstream.shutdown()
        let refused = try fixture.proxy.request("GET", "/echo")
        #expect(refused.status == 502)
        #expect(refused.json["instance"] as? String == refused.header("x-request-id"))
        let metrics = try fixture.proxy.admin("GET", "/metrics").text
        #expect(metrics.contains("tollgate_upstream_errors_total{kind=\"timeout\"} 1"))
        #expect(metrics.contains("tollgate_upstream_errors_total{kind=\"connect\"} 1"))
    }
}
