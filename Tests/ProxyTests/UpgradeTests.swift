import Foundation
import TestSupport
import Testing

@Suite("Upgrade (WebSocket) tunnelling")
struct UpgradeTests {
    @Test("after 101 Switching Protocols the connection is a byte tunnel both ways")
    func tunnel() throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect(timeout: 5)
        try connection.send("GET /echo/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: tollgate-echo\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 101)
        #expect(response.header("upgrade") == "tollgate-echo")
        #expect(response.header("connection")?.lowercased() == "upgrade")
        // The 101 itself shows that Upgrade reached the upstream: its upgrader answers only to it.

        for message in ["hello tunnel", "second message"] {
            try connection.send(message)
            let echoed = try connection.readBytes(message.utf8.count)
            #expect(String(decoding: echoed, as: UTF8.self) == message.uppercased())
        }
        #expect(fixture.proxy.accessLog(atLeast: 1).last?["status"] as? Int == 101)
    }

    @Test("an upgrade the upstream declines is an ordinary response, and the connection closes")
    func declined() throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect(timeout: 5)
        try connection.send("GET /echo/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: not-supported\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.header("connection") == "close")
        #expect(connection.isClosedByPeer())
    }
}
