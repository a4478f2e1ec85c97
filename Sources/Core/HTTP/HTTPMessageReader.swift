import NIOCore

/// Cuts the bytes one side of a connection sends into HTTP/1.1 messages, free of I/O: heads through
/// `HTTPHeadParser`, bodies by their framing (a length counted down, chunked followed by
/// `ChunkedBodyTracker`, or until the close), passed on as slices of the buffers that arrived —
/// never copied, never re-chunked. A head split over reads is the one copy (its bytes gathered
/// until it is whole).
///
/// After a request to switch protocols (and its body), or a `101` response, the rest is not HTTP:
/// it comes out as `.opaque`, for the tunnel. Interim responses other than `101` are read and
/// dropped (the sidecar never sends `Expect` upstream, so they are `102`/`103` hints).
///
/// A refusal throws once and the reader stays failed: after a framing doubt nothing on the
/// connection can be trusted.
public struct HTTPMessageReader: Sendable {
    public enum Event: Sendable {
        /// A message head; `bytes` is exactly its bytes (reader index at the first).
        case head(HTTPHead, bytes: ByteBuffer)
        /// Body bytes as they arrived (chunk framing included, unless dechunking), and how many of
        /// them are data.
        case body(ByteBuffer, dataBytes: Int)
        /// The message's end (its last body byte was in the `.body` before).
        case end
        /// Bytes after a protocol switch: not HTTP.
        case opaque(ByteBuffer)
    }

    private enum State: Sendable {
        case head
        case length(remaining: Int)
        case chunked(ChunkedBodyTracker)
        case untilClose
        /// A response reader between responses: bytes now are a response nobody asked for.
        case idle
        case opaque
        case failed
    }

    public let kind: HTTPHead.Kind
    private var parser: HTTPHeadParser
    private var state: State
    /// The bytes of a head that has not fully arrived.
    private var partial: ByteBuffer?
    /// The request being read asked to switch protocols: what follows it is opaque.
    private var switchAfterMessage = false
    /// Responses: the method of the request the next response answers, and whether to pass only
    /// the data of a chunked body (for an HTTP/1.0 client).
    private var requestMethod: HTTPMethodName = .GET
    private var dechunk = false

    public init(_ kind: HTTPHead.Kind, configuration: HTTPHeadParser.Configuration = .init()) {
        self.kind = kind
        self.parser = HTTPHeadParser(kind, configuration: configuration)
        self.state = kind == .request ? .head : .idle
    }

    /// Responses: the next response answers a request of `method`; `dechunk` passes a chunked
    /// body's data without its framing.
    public mutating func expectResponse(to method: HTTPMethodName, dechunk: Bool) {
        precondition(kind == .response)
        requestMethod = method
        self.dechunk = dechunk
        if case .idle = state { state = .head }
    }

    /// Reads `input`, passing what it holds to `emit` in order.
    public mutating func read(_ input: ByteBuffer, _ emit: (Event) -> Void) throws(HTTPHeadError) {
        var buffer: ByteBuffer
        if var partial {
            var input = input
            partial.writeBuffer(&input)
            self.partial = nil
            buffer = partial
        } else {
            buffer = input
        }
        while buffer.readableBytes > 0 {
            switch state {
            case .failed:
                return
            case .idle:
                state = .failed
                throw HTTPHeadError(.badStatusLine, at: 0)
            case .opaque:
                emit(.opaque(buffer))
                return
            case .untilClose:
                emit(.body(buffer, dataBytes: buffer.readableBytes))
                return
            case .head:
                let parsed: HTTPHead?
                do throws(HTTPHeadError) {
                    parsed = kind == .request ? try parser.parseRequest(buffer) : try parser.parseResponse(buffer, to: requestMethod)
                } catch {
                    state = .failed
                    throw error
                }
                guard let head = parsed else {
                    partial = buffer
                    return
                }
                let bytes = buffer.readSlice(length: head.length)!
                if kind == .response, head.status < 200, head.status != 101 { continue }
                if kind == .request {
                    switchAfterMessage = head.isUpgradeRequest(in: bytes)
                } else {
                    switchAfterMessage = head.status == 101
                }
                emit(.head(head, bytes: bytes))
                switch head.framing {
                case .none:
                    emit(.end)
                    endMessage()
                case let .length(length):
                    state = .length(remaining: length)
                case .chunked:
                    state = .chunked(ChunkedBodyTracker())
                case .untilClose:
                    state = .untilClose
                }
            case let .length(remaining):
                let count = min(remaining, buffer.readableBytes)
                emit(.body(buffer.readSlice(length: count)!, dataBytes: count))
                if count == remaining {
                    emit(.end)
                    endMessage()
                } else {
                    state = .length(remaining: remaining - count)
                }
            case var .chunked(tracker):
                do throws(HTTPHeadError) {
                    if dechunk {
                        try readDechunked(&buffer, tracker: &tracker, emit)
                    } else {
                        let progress = try tracker.consume(buffer)
                        if progress.bodyBytes > 0 {
                            emit(.body(buffer.readSlice(length: progress.bodyBytes)!, dataBytes: progress.dataBytes))
                        }
                    }
                } catch {
                    state = .failed
                    throw error
                }
                if tracker.isComplete {
                    emit(.end)
                    endMessage()
                } else {
                    state = .chunked(tracker)
                }
            }
        }
    }

    /// Chunk data only, each run of it a slice; stops at the body's end.
    private func readDechunked(_ buffer: inout ByteBuffer, tracker: inout ChunkedBodyTracker, _ emit: (Event) -> Void) throws(HTTPHeadError) {
        while buffer.readableBytes > 0, !tracker.isComplete {
            let result: Result<ChunkedBodyTracker.Piece, HTTPHeadError> = buffer.withUnsafeReadableBytes { bytes in
                do throws(HTTPHeadError) {
                    return .success(try tracker.next(bytes))
                } catch {
                    return .failure(error)
                }
            }
            let piece = try result.get()
            let slice = buffer.readSlice(length: piece.count)!
            if case let .data(count) = piece { emit(.body(slice, dataBytes: count)) }
        }
    }

    private mutating func endMessage() {
        if switchAfterMessage {
            state = .opaque
        } else {
            state = kind == .request ? .head : .idle
        }
    }

    public enum EndOfInput: Sendable, Equatable {
        /// Nothing was under way: a clean close.
        case clean
        /// A body delimited by the close ended with it (`.end` was emitted).
        case endedBody
        /// A message was cut short.
        case truncated
    }

    /// The peer closed its side.
    public mutating func readEndOfInput(_ emit: (Event) -> Void) -> EndOfInput {
        switch state {
        case .untilClose:
            emit(.end)
            state = .idle
            return .endedBody
        case .head where partial == nil, .idle, .opaque:
            return .clean
        default:
            return .truncated
        }
    }
}
