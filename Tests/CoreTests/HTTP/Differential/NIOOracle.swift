import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import Core

/// SwiftNIO's llhttp-based decoders, driven through an `EmbeddedChannel`, as the oracle the head
/// parser is compared with. NIO reports a head and body parts, not the framing it chose, so the
/// framing is checked by behaviour: feed what the parser's framing predicts the body looks like
/// and see whether llhttp reads it the same way (a length-delimited body read as chunked fails,
/// and the other way round).
struct NIOOracle {
    /// What NIO made of a head.
    struct Head: Equatable {
        var method: String
        var target: String
        var status: Int
        var major: Int
        var minor: Int
        var fields: [Pair]
    }

    struct Pair: Equatable, CustomStringConvertible {
        var name: String
        var value: String
        var description: String { "\(name): \(value.debugDescription)" }
    }

    enum Outcome {
        /// A head was decoded (perhaps followed by an error on later bytes).
        case head(Head)
        /// An error before any head.
        case rejected(String)
        /// Neither: llhttp waits for more bytes.
        case waiting
    }

    static let limits: NIOHTTPDecoderLimitConfiguration = {
        // The differential never reaches these: size limits count differently in the two parsers
        // (llhttp counts field bytes, ours the whole head) and have unit tests of their own.
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = 1 << 20
        limits.maxHeaderListSize = 1 << 20
        limits.maxHeaderFieldCount = 10_000
        return limits
    }()

    let kind: HTTPHead.Kind
    let channel = EmbeddedChannel()

    init(_ kind: HTTPHead.Kind, requestMethod: HTTPMethodName = .GET) throws {
        self.kind = kind
        switch kind {
        case .request:
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(
                leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .drop, limitConfiguration: Self.limits)))
        case .response:
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPResponseDecoder(
                leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .forward, limitConfiguration: Self.limits)))
            let method = HTTPMethod(rawValue: requestMethod.spelling.description)
            try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: "/")))
            _ = try channel.readOutbound(as: HTTPClientRequestPart.self)
        }
    }

    /// Feeds `bytes`; what came out: parts read, and the error if one was raised.
    struct Fed {
        var heads: [Head] = []
        var bodyBytes = 0
        var ends = 0
        var error: (any Error)?
    }

    func feed(_ bytes: [UInt8]) -> Fed {
        var fed = Fed()
        do {
            try channel.writeInbound(channel.allocator.buffer(bytes: bytes))
        } catch {
            fed.error = error
        }
        drain(into: &fed)
        return fed
    }

    /// The peer closes the connection (ends an until-close body).
    func close() -> Fed {
        var fed = Fed()
        do {
            channel.pipeline.syncOperations.fireChannelInactive()
            try channel.throwIfErrorCaught()
        } catch {
            fed.error = error
        }
        drain(into: &fed)
        return fed
    }

    private func drain(into fed: inout Fed) {
        switch kind {
        case .request:
            while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
                switch part {
                case let .head(head):
                    fed.heads.append(Head(
                        // NIO names llhttp's M-SEARCH `MSEARCH`.
                        method: head.method == .MSEARCH ? "M-SEARCH" : head.method.rawValue, target: head.uri, status: 0,
                        major: head.version.major, minor: head.version.minor,
                        fields: head.headers.map { Pair(name: $0.name, value: Self.trimmingTrailingWhitespace($0.value)) }))
                case let .body(body): fed.bodyBytes += body.readableBytes
                case .end: fed.ends += 1
                }
            }
        case .response:
            while let part = try? channel.readInbound(as: HTTPClientResponsePart.self) {
                switch part {
                case let .head(head):
                    fed.heads.append(Head(
                        method: "", target: "", status: Int(head.status.code),
                        major: head.version.major, minor: head.version.minor,
                        fields: head.headers.map { Pair(name: $0.name, value: Self.trimmingTrailingWhitespace($0.value)) }))
                case let .body(body): fed.bodyBytes += body.readableBytes
                case .end: fed.ends += 1
                }
            }
        }
        // Bytes forwarded after an upgrade arrive as plain buffers: not parts of this message.
        while (try? channel.readInbound(as: ByteBuffer.self)) != nil {}
    }

    /// llhttp keeps the whitespace after a value (RFC 9110 §5.5: not part of it); the parser drops it.
    static func trimmingTrailingWhitespace(_ value: String) -> String {
        var value = Substring(value)
        while value.last == " " || value.last == "\t" { value = value.dropLast() }
        return String(value)
    }

    func finish() {
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}
