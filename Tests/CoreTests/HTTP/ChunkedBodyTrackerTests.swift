import NIOCore
import Testing

@testable import Core

/// Feeds `body` in pieces of `split` bytes; the pieces the tracker reported, and whether it ended.
private func pieces(_ body: String, split: Int = .max) throws(HTTPHeadError) -> (pieces: [ChunkedBodyTracker.Piece], rest: Int) {
    var tracker = ChunkedBodyTracker()
    var pieces: [ChunkedBodyTracker.Piece] = []
    let bytes = Array(body.utf8)
    var start = 0
    while start < bytes.count, !tracker.isComplete {
        let chunk = Array(bytes[start..<min(bytes.count, start + split)])
        var offset = 0
        while offset < chunk.count, !tracker.isComplete {
            let result: Result<ChunkedBodyTracker.Piece, HTTPHeadError> = chunk.withUnsafeBytes { raw in
                do throws(HTTPHeadError) {
                    return .success(try tracker.next(UnsafeRawBufferPointer(rebasing: raw[offset...])))
                } catch {
                    return .failure(error)
                }
            }
            let piece = try result.get()
            pieces.append(piece)
            offset += piece.count
        }
        start += offset
    }
    return (pieces, bytes.count - start)
}

private func chunkedError(_ body: String) -> HTTPHeadError.Code? {
    do {
        _ = try pieces(body)
        return nil
    } catch {
        return error.code
    }
}

@Suite("Chunked body tracker")
struct ChunkedBodyTrackerTests {
    @Test("a body of two chunks and a last chunk reads as framing, data, framing, data, end")
    func twoChunks() throws {
        let result = try pieces("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nGET /next")
        #expect(result.pieces == [.framing(3), .data(5), .framing(11), .data(6), .end(7)])
        #expect(result.rest == "GET /next".utf8.count, "the bytes after the body are left for the next request")
    }

    @Test("trailers belong to the body, and the body ends after their empty line")
    func trailers() throws {
        let result = try pieces("1\r\na\r\n0\r\nX-Checksum: 1\r\nX-B: 2\r\n\r\n")
        #expect(throws: Never.self) { try pieces("0\r\nContent-Lengths: 1\r\nTransfer-Encodin: x\r\n\r\n") }
        #expect(result.pieces == [.framing(3), .data(1), .end(30)])
        #expect(result.rest == 0)
    }

    @Test("the same body fed a byte at a time gives the same data and the same end")
    func byteAtATime() throws {
        let body = "a\r\n0123456789\r\nA;x;y=\"q\\\"s\"\r\nabcdefghij\r\n000\r\n\r\n"
        let whole = try pieces(body)
        let split = try pieces(body, split: 1)
        let data = { (pieces: [ChunkedBodyTracker.Piece]) in pieces.reduce(0) { if case let .data(n) = $1 { $0 + n } else { $0 } } }
        #expect(data(whole.pieces) == 20)
        #expect(data(split.pieces) == 20)
        #expect(split.pieces.last == .end(1))
        #expect(whole.rest == 0 && split.rest == 0)
    }

    @Test("consume says how much of a buffer is the body's and how much of that is data")
    func consume() throws {
        var tracker = ChunkedBodyTracker()
        let first = try tracker.consume(ByteBuffer(string: "4\r\nwi"))
        #expect(first == .init(bodyBytes: 5, dataBytes: 2, isComplete: false))
        let second = try tracker.consume(ByteBuffer(string: "ki\r\n0\r\n\r\nPOST"))
        #expect(second == .init(bodyBytes: 9, dataBytes: 2, isComplete: true))
        #expect(tracker.isComplete)
    }

    @Test("bad chunk sizes, extensions and terminators are refused", arguments: [
        ("zz\r\nabc\r\n0\r\n\r\n", HTTPHeadError.Code.badChunkSize),
        ("\r\n", .badChunkSize),
        ("-1\r\n", .badChunkSize),
        ("0x5\r\nhello\r\n0\r\n\r\n", .badChunkSize),
        ("5 \r\nhello\r\n0\r\n\r\n", .badChunkSize),
        (" 5\r\nhello\r\n0\r\n\r\n", .badChunkSize),
        ("5\nhello\r\n0\r\n\r\n", .badChunkSize),
        ("5\r\rhello\r\n0\r\n\r\n", .badChunkSize),
        ("ffffffffffffffffff\r\nabc\r\n0\r\n\r\n", .chunkSizeOverflow),
        ("1000000000000000\r\n", .chunkSizeOverflow),
        ("5;\r\nhello\r\n0\r\n\r\n", .badChunkExtension),
        ("5; a=b\r\nhello\r\n0\r\n\r\n", .badChunkExtension),
        ("5;a=\r\nhello\r\n0\r\n\r\n", .badChunkExtension),
        ("5;a=\"x\u{01}\"\r\nhello\r\n0\r\n\r\n", .badChunkExtension),
        ("5;a\nb\r\nhello\r\n0\r\n\r\n", .badChunkExtension),
        ("5\r\nhelloX\r\n0\r\n\r\n", .badChunkTerminator),
        ("5\r\nhello\n0\r\n\r\n", .badChunkTerminator),
        ("0\r\nX-A\r\n\r\n", .badTrailer),
        ("0\r\n X-A: b\r\n\r\n", .badTrailer),
        ("0\r\nX-A: \u{01}\r\n\r\n", .badTrailer),
        ("0\r\n\rx", .badTrailer),
        ("0\r\nContent-Length: 5\r\n\r\n", .badTrailer),
        ("0\r\ntransfer-ENCODING: chunked\r\n\r\n", .badTrailer),
    ])
    func refusals(body: String, code: HTTPHeadError.Code) {
        #expect(chunkedError(body) == code, "\(body.debugDescription)")
    }

    @Test("an extension longer than the limit is refused, so a chunk-size line cannot grow without end")
    func extensionLimit() {
        var tracker = ChunkedBodyTracker(maxExtensionBytes: 16)
        #expect(throws: HTTPHeadError.self) { try tracker.consume(ByteBuffer(string: "5;" + String(repeating: "a", count: 20))) }
        var fits = ChunkedBodyTracker(maxExtensionBytes: 16)
        #expect(throws: Never.self) { try fits.consume(ByteBuffer(string: "5;" + String(repeating: "a", count: 10) + "\r\n")) }
    }

    @Test("trailers over their limit are refused")
    func trailerLimit() {
        var tracker = ChunkedBodyTracker(maxTrailerBytes: 20)
        #expect(throws: HTTPHeadError(.badTrailer, at: 23)) {
            try tracker.consume(ByteBuffer(string: "0\r\nX-A: " + String(repeating: "b", count: 30)))
        }
    }
}
