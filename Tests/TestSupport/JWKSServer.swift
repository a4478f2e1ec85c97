import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A JWKS endpoint on a loopback port whose answer a test changes: serve a document, fail with a
/// status (an identity provider that answers but is broken), or hang (one that accepts and never
/// answers); `stopListening()` makes it refuse connections (one that is down). Counts the requests
/// it gets. Over https when given a certificate and key (PEM files).
public final class JWKSServer: Sendable {
    public enum Mode: Sendable {
        case serve([UInt8])
        case fail(Int)
        /// Reads the request and never answers, keeping the connection open.
        case hang
    }

    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let state: NIOLockedValueBox<(mode: Mode, requests: Int)>

    public let isTLS: Bool

    public init(_ mode: Mode, tls: (certificate: String, key: String)? = nil) throws {
        let context = try tls.map { tls in
            try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.key, format: .pem))))
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let state = NIOLockedValueBox<(mode: Mode, requests: Int)>((mode, 0))
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        self.group = group
        self.channel = channel
        self.state = state
        self.port = channel.localAddress!.port!
        isTLS = tls != nil
    }

    public var url: String { url(host: "127.0.0.1") }

    public func url(host: String) -> String { "\(isTLS ? "https" : "http")://\(host):\(port)/.well-known/jwks.json" }

    public func set(_ mode: Mode) {
        state.withLockedValue { $0.mode = mode }
    }

    public var requests: Int { state.withLockedValue { $0.requests } }

    /// Closes the listening socket: from now on a connection to the port is refused, as when the
    /// identity provider's host is up but its server is not.
    public func stopListening() {
        try? channel.close().wait()
    }

    public func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let state: NIOLockedValueBox<(mode: Mode, requests: Int)>

        init(state: NIOLockedValueBox<(mode: Mode, requests: Int)>) {
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case let .head(request) = unwrapInboundIn(data) else { return }
            let mode = state.withLockedValue { current -> Mode in
                current.requests += 1
                return current.mode
            }
            let (status, body): (HTTPResponseStatus, [UInt8])
            switch mode {
            case let .serve(document): (status, body) = (.ok, document)
            case let .fail(code): (status, body) = (HTTPResponseStatus(statusCode: code), Array("unavailable\n".utf8))
            case .hang: return
            }
            var head = HTTPResponseHead(version: request.version, status: status)
            head.headers.add(name: "content-type", value: "application/json")
            head.headers.add(name: "content-length", value: String(body.count))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
