import Core
import NIOCore

/// Receives what an upstream connection says, for whichever exchange is using it.
protocol UpstreamResponseDelegate: AnyObject {
    /// The response head; `bytes` is exactly its bytes.
    func upstream(_ connection: UpstreamConnection, receivedHead head: HTTPHead, bytes: ByteBuffer)
    /// Body bytes as they came (chunk framing included unless the connection was asked to dechunk).
    func upstream(_ connection: UpstreamConnection, receivedBody body: ByteBuffer)
    func upstreamReceivedEnd(_ connection: UpstreamConnection)
    /// The bytes of one read are all delivered: what was written for them may be flushed.
    func upstreamReadComplete(_ connection: UpstreamConnection)
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

    /// The response reader, set by the handler (which owns it).
    fileprivate weak var handler: UpstreamHandler?

    /// Bytes of the request (its head, body parts as they came, or tunnel bytes).
    func write(_ bytes: ByteBuffer, flush: Bool) {
        if flush {
            channel.writeAndFlush(bytes, promise: nil)
        } else {
            channel.write(bytes, promise: nil)
        }
    }

    /// The next response answers a request of `method`; `dechunk`: pass a chunked body's data
    /// without its framing (for an HTTP/1.0 client).
    func expectResponse(to method: HTTPMethodName, dechunk: Bool) {
        guard let handler else { return }
        // Asked from inside the reader's own callback (a pipelined request sent on the connection
        // its previous response just ended on): applied when that read returns.
        if handler.reading {
            handler.deferredExpectation = (method, dechunk)
        } else {
            handler.reader.expectResponse(to: method, dechunk: dechunk)
        }
    }

    /// After `101 Switching Protocols`: the HTTP handler leaves and the connection belongs to the
    /// tunnel (never pooled again). Bytes that followed the 101 are handed back for the client.
    func convertToTunnel(_ tunnel: TunnelHandler) throws -> [ByteBuffer] {
        reusable = false
        delegate = nil
        let pipeline = channel.pipeline.syncOperations
        let handler = try pipeline.handler(type: UpstreamHandler.self)
        let leftover = handler.opaque
        handler.opaque = []
        try pipeline.addHandler(tunnel)
        _ = pipeline.removeHandler(handler)
        return leftover
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
    typealias InboundIn = ByteBuffer

    /// Strong: the channel's pipeline keeps the handler, which keeps the connection, until the
    /// channel closes and NIO tears the pipeline down.
    let connection: UpstreamConnection
    fileprivate var reader: HTTPMessageReader
    /// Bytes after a `101`, for the tunnel.
    fileprivate var opaque: [ByteBuffer] = []
    /// True while `reader` is reading (its callbacks must not touch it).
    fileprivate var reading = false
    fileprivate var deferredExpectation: (HTTPMethodName, Bool)?

    init(connection: UpstreamConnection, configuration: HTTPHeadParser.Configuration) {
        self.connection = connection
        self.reader = HTTPMessageReader(.response, configuration: configuration)
    }

    static func attach(to channel: any Channel, configuration: HTTPHeadParser.Configuration, count: UpstreamConnectionCount) throws -> UpstreamConnection {
        let connection = UpstreamConnection(channel: channel)
        let handler = UpstreamHandler(connection: connection, configuration: configuration)
        handler.count = count
        count.open += 1
        connection.handler = handler
        try channel.pipeline.syncOperations.addHandler(handler)
        return connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        defer {
            reading = false
            if let (method, dechunk) = deferredExpectation {
                deferredExpectation = nil
                reader.expectResponse(to: method, dechunk: dechunk)
            }
        }
        do {
            try reader.read(unwrapInboundIn(data)) { event in
                switch event {
                case let .head(head, bytes):
                    if !head.isKeepAlive(in: bytes) || head.framing == .untilClose { connection.reusable = false }
                    guard let delegate = connection.delegate else {
                        // A response nobody asked for: the connection is out of sync.
                        connection.close()
                        return
                    }
                    delegate.upstream(connection, receivedHead: head, bytes: bytes)
                case let .body(body, _):
                    connection.delegate?.upstream(connection, receivedBody: body)
                case .end:
                    connection.delegate?.upstreamReceivedEnd(connection)
                case let .opaque(bytes):
                    opaque.append(bytes)
                }
            }
        } catch {
            // A response the strict parser refuses: never passed on, never reused.
            connection.reusable = false
            fail(UpstreamError.malformedResponse(error))
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection.delegate?.upstreamReadComplete(connection)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.delegate?.upstreamWritabilityChanged(connection)
        context.fireChannelWritabilityChanged()
    }

    /// Counted down when the channel closes.
    fileprivate var count: UpstreamConnectionCount?

    func channelInactive(context: ChannelHandlerContext) {
        count?.open -= 1
        count = nil
        connection.closed = true
        connection.reusable = false
        if reader.readEndOfInput({ _ in }) == .endedBody, let delegate = connection.delegate {
            delegate.upstreamReceivedEnd(connection)
        }
        fail(UpstreamError.connectionClosed)
        connection.onClose?(connection)
        connection.onClose = nil
        context.fireChannelInactive()
    }

    private func fail(_ error: UpstreamError) {
        if let delegate = connection.delegate {
            connection.delegate = nil
            delegate.upstream(connection, failed: error)
        }
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
    case malformedResponse(HTTPHeadError)

    var description: String {
        switch self {
        case .connectionClosed: "the upstream closed the connection"
        case let .malformedResponse(error): "the upstream's response is not valid HTTP/1.1 (\(error.reason))"
        case let .connectFailed(reason): "cannot connect to the upstream: \(reason)"
        }
    }
}
