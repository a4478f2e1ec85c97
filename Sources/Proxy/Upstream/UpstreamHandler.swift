import NIOCore
import NIOHTTP1

/// Receives what an upstream connection says, for whichever exchange is using it.
protocol UpstreamResponseDelegate: AnyObject {
    func upstream(_ connection: UpstreamConnection, receivedHead head: HTTPResponseHead)
    func upstream(_ connection: UpstreamConnection, receivedBody body: ByteBuffer)
    func upstream(_ connection: UpstreamConnection, receivedEnd trailers: HTTPHeaders?)
    /// The connection failed or closed before the response ended.
    func upstream(_ connection: UpstreamConnection, failed error: any Error)
    func upstreamWritabilityChanged(_ connection: UpstreamConnection)
}

/// One pooled connection to the upstream. Confined to its event loop.
final class UpstreamConnection {
    let channel: any Channel
    /// Set while an exchange uses the connection. Strong (a weak reference would give the handler a
    /// side table and slow every retain of it): whoever lets go of the connection clears it (the
    /// pool on release, the handler when it abandons or closes it), and a closing connection clears
    /// it before telling the delegate, so no cycle outlives the connection.
    var delegate: (any UpstreamResponseDelegate)?
    /// False once anything makes reuse unsafe: the upstream asked to close, a response was cut
    /// short, or the request was not sent whole.
    var reusable = true
    var isActive: Bool { channel.isActive && !closed }
    fileprivate(set) var closed = false
    /// Called once when the connection closes (the pool forgets it).
    var onClose: ((UpstreamConnection) -> Void)?

    init(channel: any Channel) {
        self.channel = channel
    }

    func write(_ part: HTTPClientRequestPart, flush: Bool) {
        if flush {
            channel.writeAndFlush(part, promise: nil)
        } else {
            channel.write(part, promise: nil)
        }
    }

    /// After `101 Switching Protocols`: the HTTP handlers leave and the connection belongs to the
    /// tunnel (never pooled again). The tunnel joins before the response decoder leaves, so bytes
    /// that followed the 101 in the same read reach it; the future completes once the decoder is
    /// gone and nothing written by the tunnel can pass through an HTTP handler.
    func convertToTunnel(_ tunnel: TunnelHandler) -> EventLoopFuture<Void> {
        reusable = false
        delegate = nil
        let pipeline = channel.pipeline.syncOperations
        do {
            _ = try pipeline.removeHandler(context: pipeline.context(handlerType: UpstreamHandler.self))
            _ = try pipeline.removeHandler(context: pipeline.context(handlerType: HTTPRequestEncoder.self))
            try pipeline.addHandler(tunnel)
            return try pipeline.removeHandler(context: pipeline.context(handlerType: ByteToMessageHandler<HTTPResponseDecoder>.self))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    /// False while the client cannot take more of the response.
    private var reading = true

    /// Changes read interest only when it changes: each change is an epoll_ctl.
    func setReading(_ reading: Bool) {
        guard reading != self.reading else { return }
        self.reading = reading
        try? channel.syncOptions?.setOption(.autoRead, value: reading)
        if reading { channel.read() }
    }

    func close() {
        reusable = false
        channel.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamConnection: Sendable {}

final class UpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// Strong: the channel's pipeline keeps the handler, which keeps the connection, until the
    /// channel closes and NIO tears the pipeline down.
    let connection: UpstreamConnection
    private var responseInProgress = false

    init(connection: UpstreamConnection) {
        self.connection = connection
    }

    static func attach(to channel: any Channel) throws -> UpstreamConnection {
        let connection = UpstreamConnection(channel: channel)
        let handler = UpstreamHandler(connection: connection)
        // Bytes that follow a 101 in the same read belong to the switched protocol: keep them.
        // No outbound header validator: forwarded headers passed the client-side parser, and the
        // ones the sidecar adds are its own validated values (claim headers are checked when set).
        try channel.pipeline.syncOperations.addHTTPClientHandlers(
            leftOverBytesStrategy: .forwardBytes, enableOutboundHeaderValidation: false)
        try channel.pipeline.syncOperations.addHandler(handler)
        return connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            // 1xx other than 101 are dropped by the decoder; a head is the final response.
            responseInProgress = true
            if !head.isKeepAlive { connection.reusable = false }
            guard let delegate = connection.delegate else {
                // A response nobody asked for: the connection is out of sync.
                connection.close()
                return
            }
            delegate.upstream(connection, receivedHead: head)
        case let .body(body):
            connection.delegate?.upstream(connection, receivedBody: body)
        case let .end(trailers):
            responseInProgress = false
            connection.delegate?.upstream(connection, receivedEnd: trailers)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.delegate?.upstreamWritabilityChanged(connection)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.closed = true
        connection.reusable = false
        if let delegate = connection.delegate {
            connection.delegate = nil
            delegate.upstream(connection, failed: UpstreamError.connectionClosed)
        }
        connection.onClose?(connection)
        connection.onClose = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.reusable = false
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamHandler: Sendable {}

enum UpstreamError: Error, CustomStringConvertible {
    case connectionClosed
    case connectFailed(String)

    var description: String {
        switch self {
        case .connectionClosed: "the upstream closed the connection"
        case let .connectFailed(reason): "cannot connect to the upstream: \(reason)"
        }
    }
}
