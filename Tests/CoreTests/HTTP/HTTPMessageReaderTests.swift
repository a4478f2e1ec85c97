import NIOCore
import Testing

@testable import Core

/// What a reader emitted, in a form tests compare: heads by their start line, bodies as text with
/// their data count, ends, opaque bytes.
fileprivate enum Seen: Equatable, CustomStringConvertible {
    case head(String)
    case body(String, data: Int)
    case end
    case opaque(String)

    var description: String {
        switch self {
        case let .head(line): "head(\(line))"
        case let .body(text, data): "body(\(text.debugDescription), \(data))"
        case .end: "end"
        case let .opaque(text): "opaque(\(text.debugDescription))"
        }
    }
}

/// Feeds `text` to `reader` in pieces of `split` bytes; consecutive body events are merged (how a
/// body is cut depends on the reads, what it holds does not).
private func feed(_ reader: inout HTTPMessageReader, _ text: String, split: Int = .max) throws(HTTPHeadError) -> [Seen] {
    var seen: [Seen] = []
    let bytes = Array(text.utf8)
    var start = 0
    while start < bytes.count {
        let end = min(bytes.count, start + split)
        try reader.read(ByteBuffer(bytes: bytes[start..<end])) { event in
            switch event {
            case let .head(head, bytes):
                #expect(bytes.readableBytes == head.length, "a head's bytes are exactly the head")
                let firstLine = String(buffer: bytes).split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
                seen.append(.head(firstLine))
            case let .body(body, data):
                if case let .body(text, count)? = seen.last {
                    seen[seen.count - 1] = .body(text + String(buffer: body), data: count + data)
                } else {
                    seen.append(.body(String(buffer: body), data: data))
                }
            case .end:
                seen.append(.end)
            case let .opaque(bytes):
                if case let .opaque(text)? = seen.last {
                    seen[seen.count - 1] = .opaque(text + String(buffer: bytes))
                } else {
                    seen.append(.opaque(String(buffer: bytes)))
                }
            }
        }
        start = end
    }
    return seen
}

@Suite("HTTP message reader")
struct HTTPMessageReaderTests {
    static let pipelined =
        "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        + "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n"
        + "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"

    fileprivate static let expected: [Seen] = [
        .head("POST /a HTTP/1.1"), .body("hello", data: 5), .end,
        // Chunked framing passes as it came, extensions and trailers included; data counts 5.
        .head("POST /b HTTP/1.1"), .body("3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n", data: 5), .end,
        .head("GET /c HTTP/1.1"), .end,
    ]

    @Test("pipelined requests in every framing, whole or cut into reads of any size, give the same messages", arguments: [Int.max, 1, 2, 3, 7, 16, 61])
    func pipelinedInAnySplit(split: Int) throws {
        var reader = HTTPMessageReader(.request)
        #expect(try feed(&reader, Self.pipelined, split: split) == Self.expected)
        #expect(reader.readEndOfInput { _ in } == .clean, "back between messages")
    }

    @Test("a body's slices are the bytes that arrived, not copies")
    func bodiesAreSlices() throws {
        var reader = HTTPMessageReader(.request)
        let input = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
        var bodyAddress: UInt?
        let inputAddress = input.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        try reader.read(input) { event in
            if case let .body(body, _) = event { bodyAddress = body.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } }
        }
        #expect(bodyAddress == inputAddress + UInt(input.readableBytes - 3))
    }

    @Test("after a request to switch protocols the rest is opaque, not parsed")
    func upgradeRequest() throws {
        var reader = HTTPMessageReader(.request)
        let text = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /not-http HTTP/1.1\r\n\u{1}\u{2}"
        #expect(try feed(&reader, text) == [.head("GET /ws HTTP/1.1"), .end, .opaque("GET /not-http HTTP/1.1\r\n\u{1}\u{2}")])
    }

    @Test("a malformed request after good ones throws once, after the good ones were emitted, and the reader stays failed")
    func failsAfterGood() {
        var reader = HTTPMessageReader(.request)
        var seen: [Seen] = []
        #expect(throws: HTTPHeadError.self) {
            seen = try feed(&reader, "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        }
        let after = try? feed(&reader, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(after == [], "a failed reader reads nothing more")
        _ = seen
    }

    @Test("a bad chunk size is refused as the body arrives")
    func badChunk() {
        var reader = HTTPMessageReader(.request)
        #expect {
            _ = try feed(&reader, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n")
        } throws: { error in
            (error as? HTTPHeadError)?.code == .badChunkSize
        }
    }

    @Test("responses: interim ones are dropped, HEAD's has no body, 204 none, a length and chunked ones end where they say")
    func responses() throws {
        var reader = HTTPMessageReader(.response)
        reader.expectResponse(to: .GET, dechunk: false)
        #expect(try feed(&reader, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            == [.head("HTTP/1.1 200 OK"), .body("ok", data: 2), .end])
        reader.expectResponse(to: .HEAD, dechunk: false)
        #expect(try feed(&reader, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n") == [.head("HTTP/1.1 200 OK"), .end])
        reader.expectResponse(to: .GET, dechunk: false)
        #expect(try feed(&reader, "HTTP/1.1 204 No Content\r\n\r\n") == [.head("HTTP/1.1 204 No Content"), .end])
        reader.expectResponse(to: .GET, dechunk: false)
        #expect(try feed(&reader, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", split: 4)
            == [.head("HTTP/1.1 200 OK"), .body("2\r\nok\r\n0\r\n\r\n", data: 2), .end])
        #expect(reader.readEndOfInput { _ in } == .clean, "back between messages")
    }

    @Test("a chunked response dechunked (for an HTTP/1.0 client) is its data only, however it is cut")
    func dechunked() throws {
        for split in [Int.max, 1, 5] {
            var reader = HTTPMessageReader(.response)
            reader.expectResponse(to: .GET, dechunk: true)
            #expect(try feed(&reader, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e\r\nhello\r\n6\r\n world\r\n0\r\nX: y\r\n\r\n", split: split)
                == [.head("HTTP/1.1 200 OK"), .body("hello world", data: 11), .end])
        }
    }

    @Test("a response without length ends with the close; one cut short by the close is truncated")
    func untilClose() throws {
        var reader = HTTPMessageReader(.response)
        reader.expectResponse(to: .GET, dechunk: false)
        #expect(try feed(&reader, "HTTP/1.1 200 OK\r\n\r\npart one, ") == [.head("HTTP/1.1 200 OK"), .body("part one, ", data: 10)])
        #expect(try feed(&reader, "part two") == [.body("part two", data: 8)])
        var ended = false
        #expect(reader.readEndOfInput { if case .end = $0 { ended = true } } == .endedBody)
        #expect(ended)

        var cut = HTTPMessageReader(.response)
        cut.expectResponse(to: .GET, dechunk: false)
        _ = try feed(&cut, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        #expect(cut.readEndOfInput { _ in } == .truncated)
    }

    @Test("bytes from the upstream that no request asked for are refused; a 101 makes the rest opaque")
    func unsolicitedAndSwitch() throws {
        var idle = HTTPMessageReader(.response)
        #expect(throws: HTTPHeadError.self) { _ = try feed(&idle, "HTTP/1.1 200 OK\r\n\r\n") }

        var early = HTTPMessageReader(.response)
        early.expectResponse(to: .GET, dechunk: false)
        #expect(throws: HTTPHeadError.self) {
            _ = try feed(&early, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n")
        }

        var switching = HTTPMessageReader(.response)
        switching.expectResponse(to: .GET, dechunk: false)
        #expect(try feed(&switching, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\u{81}\u{0}")
            == [.head("HTTP/1.1 101 Switching Protocols"), .end, .opaque("\u{81}\u{0}")])
    }
}
