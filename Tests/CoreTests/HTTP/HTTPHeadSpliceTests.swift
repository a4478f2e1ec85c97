import NIOCore
import Testing

@testable import Core

@Suite("HTTP head splice")
struct HTTPHeadSpliceTests {
    static let text = "GET /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nX-A: 1\r\nX-Request-Id: evil\r\nAccept: */*\r\n\r\n"

    static func parsed() throws -> (ByteBuffer, HTTPHead) {
        let buffer = ByteBuffer(string: "junk" + text)
        var sliced = buffer
        sliced.moveReaderIndex(forwardBy: 4)
        var parser = HTTPHeadParser(.request)
        return (sliced, try #require(try parser.parseRequest(sliced)))
    }

    static func forwarded(_ splice: HTTPHeadSplice, _ original: ByteBuffer) -> String {
        var out = ByteBuffer()
        splice.write(from: original, into: &out)
        let joined = splice.slices(of: original).map { String(buffer: $0) }.joined()
        #expect(String(buffer: out) == joined, "the slices and the copy agree")
        var assembled = splice
        #expect(String(buffer: assembled.makeHead(from: original)) == joined, "the head built in the added lines' buffer agrees")
        return joined
    }

    @Test("with no edits the forwarded head is the original bytes, as one segment")
    func unchanged() throws {
        let (buffer, head) = try Self.parsed()
        let splice = HTTPHeadSplice(head)
        #expect(splice.segments == [.original(0..<head.length)])
        #expect(Self.forwarded(splice, buffer) == Self.text)
    }

    @Test("removed fields leave gaps; added fields go before the final empty line")
    func removeAndAdd() throws {
        let (buffer, head) = try Self.parsed()
        var splice = HTTPHeadSplice(head)
        splice.removeAll(.connection)
        splice.removeAll(.xRequestId)
        try splice.add("X-Request-Id", "r-1")
        try splice.add("X-Forwarded-For", "127.0.0.1")
        #expect(Self.forwarded(splice, buffer) == "GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nAccept: */*\r\nX-Request-Id: r-1\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n")
        #expect(splice.segments.count == 5, "three runs of the original, the added lines, the final CRLF: \(splice.segments)")
    }

    @Test("removing adjacent fields, or the last one, leaves one run of the original")
    func adjacentRemovals() throws {
        let (buffer, head) = try Self.parsed()
        var splice = HTTPHeadSplice(head)
        splice.remove(fieldAt: 4)
        splice.remove(fieldAt: 3)
        splice.remove(fieldAt: 3)
        #expect(Self.forwarded(splice, buffer) == "GET /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\n")
        #expect(splice.segments.count == 2)
    }

    @Test("a value may be copied from the original, e.g. to append to X-Forwarded-For")
    func copiedValue() throws {
        let text = "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"
        let buffer = ByteBuffer(string: text)
        var parser = HTTPHeadParser(.request)
        let head = try #require(try parser.parseRequest(buffer))
        let index = try #require(head.firstIndex(of: .xForwardedFor))
        var value = buffer.slice(of: head.fields[index].value)
        value.writeStaticString(", 127.0.0.1")
        var splice = HTTPHeadSplice(head)
        splice.remove(fieldAt: index)
        try splice.add("X-Forwarded-For", value)
        #expect(Self.forwarded(splice, buffer) == "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n\r\n")
    }

    @Test("an added value with CR or LF (a claim carrying a header) is refused, and so is a bad name")
    func injection() throws {
        let (_, head) = try Self.parsed()
        var splice = HTTPHeadSplice(head)
        #expect(throws: HTTPHeadError(.badHeaderValue, at: 0)) { try splice.add("X-User", "bob\r\nX-Admin: 1") }
        #expect(throws: HTTPHeadError(.badHeaderValue, at: 0)) { try splice.add("X-User", "bob\nX") }
        #expect(throws: HTTPHeadError(.badHeaderName, at: 0)) { try splice.add("X User", "bob") }
        #expect(throws: HTTPHeadError(.badHeaderName, at: 0)) { try splice.add("", "bob") }
        #expect(splice.added.readableBytes == 0, "nothing of a refused line is kept")
    }

    @Test("hop-by-hop fields go, and so do the fields Connection names, in any case")
    func hopByHop() throws {
        let text = "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-USER ,,\r\nKeep-Alive: 5\r\nx-user: admin\r\n"
            + "TE: trailers\r\nUpgrade: websocket\r\nProxy-Authorization: b\r\nX-User-Id: 7\r\nAccept: */*\r\n\r\n"
        let buffer = ByteBuffer(string: text)
        var parser = HTTPHeadParser(.request)
        let head = try #require(try parser.parseRequest(buffer))
        var splice = HTTPHeadSplice(head)
        splice.removeHopByHop(in: buffer)
        #expect(Self.forwarded(splice, buffer) == "GET / HTTP/1.1\r\nHost: h\r\nX-User-Id: 7\r\nAccept: */*\r\n\r\n")
    }

    @Test("a protocol switch keeps Upgrade and says Connection: upgrade")
    func keepUpgrade() throws {
        let text = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, X-A\r\nUpgrade: websocket\r\nX-A: 1\r\nSec-WebSocket-Key: k\r\n\r\n"
        let buffer = ByteBuffer(string: text)
        var parser = HTTPHeadParser(.request)
        let head = try #require(try parser.parseRequest(buffer))
        var splice = HTTPHeadSplice(head)
        splice.removeHopByHop(in: buffer, keepUpgrade: true)
        #expect(Self.forwarded(splice, buffer) == "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nConnection: upgrade\r\n\r\n")
    }

    @Test("the forwarded head parses back to the same request with the edits")
    func roundTrip() throws {
        let (buffer, head) = try Self.parsed()
        var splice = HTTPHeadSplice(head)
        splice.removeAll(.connection)
        try splice.add("X-Forwarded-Proto", "https")
        var out = ByteBuffer()
        splice.write(from: buffer, into: &out)
        var parser = HTTPHeadParser(.request)
        let again = try #require(try parser.parseRequest(out))
        #expect(again.fields.map { out.string(of: $0.name) } == ["Host", "X-A", "X-Request-Id", "Accept", "X-Forwarded-Proto"])
        #expect(out.string(of: again.target) == "/a")
        #expect(again.length == out.readableBytes)
    }
}
