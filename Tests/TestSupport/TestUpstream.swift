import Core
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// An upstream for the proxy to forward to, on a loopback port. It records every request it
/// receives (so a test can prove a smuggled request never arrived) and answers by path:
/// - `/download?bytes=N` — N bytes of `TestData.pattern`, streamed with back-pressure;
/// - `/slow?ms=N` — a JSON echo after N milliseconds;
/// - `/reset` — closes the connection without answering;
/// - `/status/NNN` — an empty response with that status;
/// - anything else — a JSON echo: method, uri, headers, body size and SHA-256.
///
/// The echo's framing is chosen by the query parameter `framing`: `length` (the default,
/// Content-Length), `chunked` (two chunks, then the last-chunk) or `close` (no length: the body
/// ends when the upstream closes the connection), so tests see every framing a real upstream uses.
public final class TestUpstream: Sendable {
    public struct Received: Sendable {
        public let method: String
        public let uri: String
        public let headers: [(String, String)]
        public let bodyBytes: Int
        public let bodySHA256: String

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public func headers(named name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
        }
    }

    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let log = NIOLockedValueBox<[Received]>([])

    public init() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let log = self.log
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrade: NIOHTTPServerUpgradeSendableConfiguration = (
                        upgraders: [EchoProtocolUpgrader()], completionHandler: { _ in })
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withServerUpgrade: upgrade)
                    try channel.pipeline.syncOperations.addHandler(UpstreamTestHandler(log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        self.group = group
        self.channel = channel
        self.port = channel.localAddress!.port!
    }

    public var received: [Received] { log.withLockedValue { $0 } }

    private let stopped = NIOLockedValueBox(false)

    /// Stops listening; safe to call more than once.
    public func shutdown() {
        let first = stopped.withLockedValue { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// `Upgrade: tollgate-echo`: after `101`, the upstream echoes every byte it receives, upper-cased
/// (so a test can tell the echo from its own bytes). Stands in for WebSocket in tunnel tests.
final class EchoProtocolUpgrader: HTTPServerProtocolUpgrader, Sendable {
    let supportedProtocol = "tollgate-echo"
    let requiredUpgradeHeaders: [String] = []

    func buildUpgradeResponse(
        channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        channel.eventLoop.makeSucceededFuture(initialResponseHeaders)
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        context.channel.eventLoop.makeCompletedFuture {
            try context.channel.pipeline.syncOperations.addHandler(UpperCaseEchoHandler(), position: .first)
        }
    }
}

private final class UpperCaseEchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let text = buffer.readString(length: buffer.readableBytes) ?? ""
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text.uppercased())), promise: nil)
    }
}

/// Deterministic bytes for large transfers, so both ends can hash what they expect.
public enum TestData {
    public static let pattern: [UInt8] = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    public static func sha256(ofPatternBytes count: Int) -> String {
        var hasher = SHA256Hasher()
        var remaining = count
        while remaining > 0 {
            let n = min(remaining, pattern.count)
            hasher.update(Array(pattern[0..<n]))
            remaining -= n
        }
        return Hex.encode(hasher.finalize())
    }
}

private final class UpstreamTestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let log: NIOLockedValueBox<[TestUpstream.Received]>
    private var head: HTTPRequestHead?
    private var hasher: SHA256Hasher? = SHA256Hasher()
    private var bodyBytes = 0
    private var remainingDownload = 0

    init(log: NIOLockedValueBox<[TestUpstream.Received]>) {
        self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            self.head = head
            hasher = SHA256Hasher()
            bodyBytes = 0
        case let .body(buffer):
            bodyBytes += buffer.readableBytes
            let bytes = buffer.withUnsafeReadableBytes { Array($0) }
            hasher?.update(bytes)
        case .end:
            guard let head else { return }
            self.head = nil
            let digest = Hex.encode(hasher.take()!.finalize())
            hasher = SHA256Hasher()
            let received = TestUpstream.Received(
                method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) },
                bodyBytes: bodyBytes, bodySHA256: digest)
            log.withLockedValue { $0.append(received) }
            respond(to: head, received: received, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, received: TestUpstream.Received, context: ChannelHandlerContext) {
        let components = URLComponents(string: head.uri)
        let query = Dictionary((components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { a, _ in a })
        let path = components?.path ?? head.uri
        if path == "/reset" {
            context.close(promise: nil)
            return
        }
        if path.hasPrefix("/status/"), let code = Int(path.dropFirst(8)) {
            var response = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: code))
            response.headers.add(name: "content-length", value: "0")
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        if path == "/download", let bytes = Int(query["bytes"] ?? "") {
            var response = HTTPResponseHead(version: head.version, status: .ok)
            response.headers.add(name: "content-length", value: String(bytes))
            response.headers.add(name: "content-type", value: "application/octet-stream")
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            remainingDownload = bytes
            writeDownload(context: context)
            return
        }
        let echo = Self.echo(received)
        let framing = query["framing"] ?? "length"
        if path == "/slow", let ms = Int64(query["ms"] ?? "") {
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(ms)) { [self] in
                sendJSON(echo, head: head, framing: framing, context: context)
            }
            return
        }
        sendJSON(echo, head: head, framing: framing, context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, remainingDownload > 0 { writeDownload(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func writeDownload(context: ChannelHandlerContext) {
        while remainingDownload > 0, context.channel.isWritable {
            let n = min(remainingDownload, TestData.pattern.count)
            remainingDownload -= n
            var buffer = context.channel.allocator.buffer(capacity: n)
            buffer.writeBytes(TestData.pattern[0..<n])
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        if remainingDownload == 0 {
            remainingDownload = -1
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private func sendJSON(_ body: Data, head: HTTPRequestHead, framing: String, context: ChannelHandlerContext) {
        if framing == "close" {
            return sendUntilClose(body, head: head, context: context)
        }
        var response = HTTPResponseHead(version: head.version, status: .ok)
        response.headers.add(name: "content-type", value: "application/json")
        // Without a length NIO's encoder frames the body as chunked: one chunk per body write.
        if framing != "chunked" {
            response.headers.add(name: "content-length", value: String(body.count))
        }
        response.headers.add(name: "x-upstream", value: "test")
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if head.method != .HEAD {
            if framing == "chunked" {
                let half = body.count / 2
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body.prefix(half))))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body.dropFirst(half))))), promise: nil)
            } else {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            }
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// A close-delimited response (HTTP/1.1, no Content-Length, no Transfer-Encoding), which NIO's
    /// encoder would never produce: written as raw bytes below the encoder, then the connection closes.
    private func sendUntilClose(_ body: Data, head: HTTPRequestHead, context: ChannelHandlerContext) {
        var bytes = ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-upstream: test\r\nconnection: close\r\n\r\n")
        if head.method != .HEAD { bytes.writeBytes(body) }
        guard let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else {
            context.close(promise: nil)
            return
        }
        encoder.writeAndFlush(NIOAny(bytes)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    static func echo(_ received: TestUpstream.Received) -> Data {
        let object: [String: Any] = [
            "method": received.method, "uri": received.uri,
            "headers": received.headers.map { [$0.0, $0.1] },
            "body_bytes": received.bodyBytes, "body_sha256": received.bodySHA256,
        ]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }
}
