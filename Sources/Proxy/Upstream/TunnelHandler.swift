import NIOCore

/// Splices two channels after a protocol switch (`101 Switching Protocols`, e.g. WebSocket): bytes
/// read on one are written to the other, with back-pressure (a side reads only while its partner
/// can write) and close propagation. Both channels are on the same event loop.
final class TunnelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Bytes for this side that arrived before this handler joined its pipeline.
    private var pendingWrites: [ByteBuffer] = []

    private init() {}

    static func pair() -> (TunnelHandler, TunnelHandler) {
        let first = TunnelHandler(), second = TunnelHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        for buffer in pendingWrites { context.write(wrapOutboundOut(buffer), promise: nil) }
        if !pendingWrites.isEmpty { context.flush() }
        pendingWrites.removeAll()
        // The tunnel may start with autoRead off (back-pressure during the HTTP phase).
        try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        context.read()
        partner?.partnerBecameWritable()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.partnerWrite(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
        partner?.partnerClose()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.isWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private var isWritable: Bool { context?.channel.isWritable ?? false }

    private func partnerWrite(_ buffer: ByteBuffer) {
        guard let context else {
            pendingWrites.append(buffer)
            return
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerClose() {
        context?.close(promise: nil)
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }
}

@available(*, unavailable)
extension TunnelHandler: Sendable {}
