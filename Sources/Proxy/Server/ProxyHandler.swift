import CLI
import Core
import Foundation
import NIOCore
import NIOPosix

/// The client side of one connection, on raw bytes. For each request: parse the head
/// (`HTTPMessageReader`, strict: framing decided once) → normalize the path → run the phases →
/// forward the head spliced from the bytes that came, and the body as it came, to a pooled
/// upstream connection of the same event loop → pass the response back the same way → log. Which
/// request a part belongs to, where body parts go, when the client is read, the order of answers
/// and when the connection ends are decided by `ConnectionStateMachine` (tested without a
/// channel); this handler performs what it returns. Bodies stream both ways with back-pressure;
/// pipelined requests are queued by the machine and served in order.
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamResponseDelegate, PhaseChainDelegate,
    UpstreamDeadlineOwner, IdleConnection
{
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A parsed request head and the bytes it was parsed from.
    struct RequestHead {
        let head: HTTPHead
        let bytes: ByteBuffer
    }

    typealias Machine = ConnectionStateMachine<RequestHead>

    private let loop: LoopContext
    private let isTLS: Bool
    private var machine: Machine
    private var reader: HTTPMessageReader
    /// How the current response's body reaches the client (see `ForwardPhase.ResponseBody`).
    private var responseBody = ForwardPhase.ResponseBody.asItCame
    /// What the client sent after a request to switch protocols: for the tunnel, if there is one.
    private var tunnelBytes: [ByteBuffer] = []
    private var tunnelByteCount = 0
    /// Response bytes written to the client and not yet flushed.
    private var unflushed = false
    /// The response head, held until its first body bytes or its end arrive (usually in the same
    /// read), so both go out as one buffer.
    private var pendingHead: ByteBuffer?
    private var exchange: Exchange?
    /// The upstream connection the current request uses, while the machine is forwarding.
    private var upstream: UpstreamConnection?
    private var peer = "unknown"
    private var context: ChannelHandlerContext?
    /// Set while queued parts are handed over, so a request completed inside leaves it to the loop.
    private var draining = false
    /// The loop's idle sweep reads it (`IdleConnections`).
    var lastRead = NIODeadline.now()
    /// The loop's deadline sweep reads it (`UpstreamDeadlines`).
    var upstreamDeadline: NIODeadline?

    init(loop: LoopContext, isTLS: Bool) {
        self.loop = loop
        self.isTLS = isTLS
        self.machine = Machine(limits: .init(maxBodyBytes: loop.configuration.maxBodyBytes))
        self.reader = HTTPMessageReader(.request, configuration: .init(maxHeadBytes: loop.configuration.maxHeaderBytes, maxFieldCount: 256))
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
        loop.openConnections += 1
        loop.idleConnections.add(self)
        loop.deadlines.add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        loop.openConnections -= 1
        loop.idleConnections.remove(self)
        loop.deadlines.remove(self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        do {
            try reader.read(unwrapInboundIn(data)) { event in
                switch event {
                case let .head(head, bytes):
                    perform(machine.read(.head(RequestHead(head: head, bytes: bytes), keepAlive: head.isKeepAlive(in: bytes))), context: context)
                case let .body(body, dataBytes):
                    perform(machine.read(.body(body, dataBytes: dataBytes)), context: context)
                case .end:
                    perform(machine.read(.end), context: context)
                case let .opaque(bytes):
                    // After an upgrade request: held for the tunnel, within reason.
                    tunnelByteCount += bytes.readableBytes
                    tunnelBytes.append(bytes)
                    if tunnelByteCount > Self.maxTunnelBytesHeld { context.close(promise: nil) }
                }
            }
        } catch {
            refuse(error, context: context)
        }
        applyReading(context: context)
    }

    private static let maxTunnelBytesHeld = 1 << 20

    func channelInactive(context: ChannelHandlerContext) {
        if machine.clientClosed() { abandonUpstream() }
        if let exchange, exchange.status == 0 {
            exchange.decision = "client-closed"
            finish(exchange, status: 499)
        }
        exchange = nil
        loop.deadlines.clear(self)
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Response back-pressure: read from the upstream only while the client keeps up.
        if let upstream, machine.state == .forwarding {
            upstream.setReading(context.channel.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Nothing read for `--idle-timeout` (the loop's sweep tells): close a silent or stalled client.
    func idleTimeoutPassed() {
        if let context, machine.idleTimeout() { context.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: an idle connection closes now, a busy one after its response.
            if machine.quiesce() { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// What the reader refused: a header block over `--max-header-bytes` gets 431, anything else
    /// malformed (bad chunk sizes, obsolete line folding, control bytes, every framing two parsers
    /// could read differently: docs/http-parser.md) 400 (or 414, 501, 505), then the connection
    /// closes; the machine keeps it in order.
    private func refuse(_ error: HTTPHeadError, context: ChannelHandlerContext) {
        switch machine.parserError(.malformed(error)) {
        case .none:
            break
        case .close:
            context.close(promise: nil)
        case let .answerAndClose(problem):
            answerAndClose(problem, context: context)
        case let .answer(action):
            perform(action, context: context)
        }
        applyReading(context: context)
    }

    /// A problem response outside any request (the parser could not make one), then close.
    private func answerAndClose(_ problem: ProblemResponse, context: ChannelHandlerContext) {
        var problem = problem
        problem.closeConnection = true
        let bytes = problem.serialized(requestID: loop.requestIDs.next(), minorVersion: 1, includeBody: true, allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    // MARK: Performing the machine's actions

    private func perform(_ action: Machine.ReadAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case let .startRequest(head):
            startRequest(head, context: context)
        case let .forwardBody(body):
            guard let upstream else { return }
            upstream.write(body, flush: true)
            if !upstream.channel.isWritable { machine.upstreamWritabilityChanged(writable: false) }
        case .forwardEnd:
            // The body's last bytes (a chunked body's last chunk included) went with it.
            startUpstreamDeadline()
        case let .answer(answer):
            perform(answer, context: context)
        case .requestComplete:
            exchange = nil
            drainPipelined(context: context)
        }
    }

    private func perform(_ action: Machine.AnswerAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            return
        case let .closeConnection(problem, abandon):
            loop.deadlines.clear(self)
            if abandon { abandonUpstream() }
            loop.cutShort(exchange, by: problem)
            exchange = nil
            writePendingHead(context: context)
            context.flush()
            context.close(promise: nil)
        case let .write(problem, close, abandon):
            loop.deadlines.clear(self)
            if abandon { abandonUpstream() }
            guard let exchange else { return }
            writeEnd(loop.answer(exchange, with: problem, close: close, allocator: context.channel.allocator), close: close, context: context)
        }
    }

    /// Writes a response's last bytes (if any are left to write) and flushes; the next request
    /// starts only after it (see `ConnectionStateMachine.responseEndWritten`).
    private func writeEnd(_ last: ByteBuffer?, close: Bool, context: ChannelHandlerContext) {
        unflushed = false
        var last = last
        if var head = pendingHead {
            // A response without a body (or whose end came with its head): the head is the last write.
            pendingHead = nil
            if let end = last { head.writeImmutableBuffer(end) }
            last = head
        }
        if close {
            exchange = nil
            let written = context.writeAndFlush(wrapOutboundOut(last ?? context.channel.allocator.buffer(capacity: 0)))
            written.assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        if let last {
            context.writeAndFlush(wrapOutboundOut(last), promise: nil)
        } else {
            context.flush()
        }
        perform(machine.responseEndWritten(), context: context)
    }

    /// Hands queued parts over while they belong to the request being handled. Re-entrant calls
    /// (a queued request answered at once completes inside the loop) leave the work to the outer one.
    private func drainPipelined(context: ChannelHandlerContext) {
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while let action = machine.drain() {
            perform(action, context: context)
        }
        if let problem = machine.pendingAnswer() {
            answerAndClose(problem, context: context)
        }
    }

    /// Changes read interest only when it changes: each change is an epoll_ctl.
    private func applyReading(context: ChannelHandlerContext) {
        guard let reading = machine.readingChange() else { return }
        try? context.channel.syncOptions?.setOption(.autoRead, value: reading)
        if reading { context.read() }
    }

    private func abandonUpstream() {
        guard let connection = upstream else { return }
        upstream = nil
        connection.delegate = nil
        connection.close()
    }

    // MARK: Request

    private func startRequest(_ request: RequestHead, context: ChannelHandlerContext) {
        let (exchange, problem) = loop.startExchange(request, peer: peer, isTLS: isTLS)
        self.exchange = exchange
        // Framing was decided by the parser, which refuses every shape two parsers could read
        // differently before a request gets this far.
        machine.requestValidated(hasBody: request.head.framing != .none)
        if let problem { return perform(machine.answer(problem), context: context) }
        // The body is held while the phases decide and the upstream connection is made; reading
        // pauses only if that grows past the machine's held-body limit, so a typical request costs
        // no change of read interest at all.
        loop.phases.run(exchange, on: loop.phaseContext, delegate: self)
    }

    func phasesFinished(_ exchange: Exchange, problem: ProblemResponse?) {
        guard let context, self.exchange === exchange else { return }
        switch machine.phasesFinished(problem: problem) {
        case .ignore:
            break
        case let .answer(action):
            perform(action, context: context)
        case .forward:
            forward(exchange, context: context)
        }
        applyReading(context: context)
    }

    // MARK: Forwarding

    private func forward(_ exchange: Exchange, context: ChannelHandlerContext) {
        if exchange.head.minorVersion == 1, exchange.head.hasToken("100-continue", in: .expect, bytes: exchange.headBytes) {
            // The phases have passed: now the client may send the body.
            var interim = context.channel.allocator.buffer(capacity: 25)
            interim.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
            context.writeAndFlush(wrapOutboundOut(interim), promise: nil)
        }
        let upstreamHead = loop.forward.upstreamHead(for: exchange, peer: peer, allocator: context.channel.allocator)
        if let connection = loop.upstream.idleConnection() {
            return send(exchange, head: upstreamHead, on: connection, context: context)
        }
        loop.upstream.connect().assumeIsolated().whenComplete { [self] bound in
            let result = bound.map(\.value)
            guard self.exchange === exchange, machine.state == .preparing else {
                if case let .success(connection) = result { loop.upstream.release(connection) }
                return
            }
            switch result {
            case let .failure(error):
                loop.metrics.recordUpstreamError("connect")
                perform(machine.upstreamConnectFailed(.badGateway("cannot connect to the upstream: \(Self.describe(error))")), context: context)
            case let .success(connection):
                send(exchange, head: upstreamHead, on: connection, context: context)
            }
            applyReading(context: context)
        }
    }

    /// Writes the request head and what is held of the body to `connection`, in one flush; the
    /// rest of the body follows as it arrives.
    private func send(_ exchange: Exchange, head: ByteBuffer, on connection: UpstreamConnection, context: ChannelHandlerContext) {
        guard machine.state == .preparing else {
            loop.upstream.release(connection)
            return
        }
        exchange.upstreamStart = .now()
        // An HTTP/1.0 client cannot read chunked framing: it gets the data, until the close.
        connection.expectResponse(to: exchange.head.method, dechunk: exchange.head.minorVersion == 0)
        connection.write(head, flush: false)
        let ended = machine.upstreamReady { part in connection.write(part, flush: false) } ?? false
        connection.delegate = self
        upstream = connection
        connection.channel.flush()
        if !ended { machine.upstreamWritabilityChanged(writable: connection.channel.isWritable) }
        if !context.channel.isWritable { connection.setReading(false) }
        if ended { startUpstreamDeadline() }
    }

    /// `--upstream-timeout` counts from the moment the whole request is upstream (as Envoy's route
    /// timeout does): an upload that takes longer than the timeout is not the upstream's slowness.
    private func startUpstreamDeadline() {
        loop.deadlines.set(self, deadline: .now() + loop.configuration.upstreamTimeout)
    }

    func upstreamDeadlinePassed() {
        guard let context, upstream != nil else { return }
        let action = machine.upstreamTimedOut()
        if case .write = action { loop.metrics.recordUpstreamError("timeout") }
        perform(action, context: context)
        applyReading(context: context)
    }

    func upstream(_ connection: UpstreamConnection, receivedHead head: HTTPHead, bytes: ByteBuffer) {
        guard let context, let exchange, connection === upstream else { return }
        let start = loop.startResponse(
            head, bytes: bytes, exchange: exchange, machine: &machine, deadlineOwner: self, allocator: context.channel.allocator)
        guard case let .write(clientHead, body, tunnel) = start else {
            if case .refuse = start { connection.close() }
            return
        }
        responseBody = body
        if tunnel {
            context.writeAndFlush(wrapOutboundOut(clientHead), promise: nil)
            startTunnel(connection, exchange: exchange, context: context)
        } else {
            pendingHead = clientHead
            unflushed = true
        }
    }

    /// Hands both connections to a pair of tunnel handlers (deferred to the next tick: handlers are
    /// not removed from inside their own callbacks). What the client sent after its upgrade request
    /// goes upstream first, what the upstream sent after its `101` to the client.
    private func startTunnel(_ connection: UpstreamConnection, exchange: Exchange, context: ChannelHandlerContext) {
        loop.deadlines.clear(self)
        upstream = nil
        finish(exchange, status: 101)
        self.exchange = nil
        let channel = context.channel
        context.eventLoop.assumeIsolated().execute {
            let (client, upstream) = TunnelHandler.pair()
            do {
                let fromUpstream = try connection.convertToTunnel(upstream)
                for bytes in self.tunnelBytes { connection.write(bytes, flush: false) }
                connection.channel.flush()
                self.tunnelBytes = []
                for bytes in fromUpstream { channel.write(bytes, promise: nil) }
                channel.flush()
                let pipeline = channel.pipeline.syncOperations
                try pipeline.addHandler(client, position: .after(pipeline.context(handler: self).handler))
                _ = pipeline.removeHandler(self)
            } catch {
                CommandLineMain.printError("tunnel setup failed: \(error)")
                connection.close()
                channel.close(promise: nil)
            }
        }
    }

    func upstream(_ connection: UpstreamConnection, receivedBody body: ByteBuffer) {
        guard let context, connection === upstream, machine.state == .forwarding else { return }
        if responseBody == .chunkEncoded {
            // A close-delimited body to an HTTP/1.1 client: each read one chunk (never an empty
            // one, which would end the body).
            guard body.readableBytes > 0 else { return }
            writePendingHead(context: context)
            var size = context.channel.allocator.buffer(capacity: 18)
            size.writeString(String(body.readableBytes, radix: 16))
            size.writeStaticString("\r\n")
            context.write(wrapOutboundOut(size), promise: nil)
            context.write(wrapOutboundOut(body), promise: nil)
            var crlf = context.channel.allocator.buffer(capacity: 2)
            crlf.writeStaticString("\r\n")
            context.write(wrapOutboundOut(crlf), promise: nil)
        } else if var head = pendingHead, body.readableBytes <= head.writableBytes {
            // A small body joins its head: one buffer, one write.
            pendingHead = nil
            head.writeImmutableBuffer(body)
            context.write(wrapOutboundOut(head), promise: nil)
        } else {
            writePendingHead(context: context)
            context.write(wrapOutboundOut(body), promise: nil)
        }
        // Flushed when the read is done (`upstreamReadComplete`) or the response ends: one flush
        // for the head, body and end of a small response.
        unflushed = true
        if !context.channel.isWritable { connection.setReading(false) }
    }

    private func writePendingHead(context: ChannelHandlerContext) {
        guard let head = pendingHead else { return }
        pendingHead = nil
        context.write(wrapOutboundOut(head), promise: nil)
    }

    func upstreamReadComplete(_ connection: UpstreamConnection) {
        guard let context, unflushed else { return }
        writePendingHead(context: context)
        unflushed = false
        context.flush()
        if !context.channel.isWritable { connection.setReading(false) }
    }

    func upstreamReceivedEnd(_ connection: UpstreamConnection) {
        guard let context, let exchange, connection === upstream else { return }
        guard case let .releaseAndEnd(reusable, close) = machine.upstreamEnd() else { return }
        upstream = nil
        if !reusable { connection.reusable = false }
        loop.upstream.release(connection)
        if let start = exchange.upstreamStart, let end = exchange.upstreamEnd {
            loop.metrics.recordUpstream(seconds: Double((end - start).nanoseconds) / 1e9)
        }
        finish(exchange, status: exchange.status)
        var last: ByteBuffer?
        if responseBody == .chunkEncoded {
            var lastChunk = context.channel.allocator.buffer(capacity: 5)
            lastChunk.writeStaticString("0\r\n\r\n")
            last = lastChunk
        }
        writeEnd(last, close: close, context: context)
        applyReading(context: context)
    }

    func upstream(_ connection: UpstreamConnection, failed error: any Error) {
        guard let context, connection === upstream else { return }
        connection.delegate = nil
        loop.metrics.recordUpstreamError("reset")
        switch machine.upstreamFailed() {
        case .ignore:
            return
        case .closeConnection:
            // Part of the response is out: the client can only see it end early.
            upstream = nil
            if let exchange {
                exchange.decision = "upstream-reset"
                finish(exchange, status: exchange.status)
            }
            exchange = nil
            // What was written of the response goes out before the close cuts it short.
            writePendingHead(context: context)
            context.flush()
            context.close(promise: nil)
        case let .answer(action):
            perform(action, context: context)
        }
        applyReading(context: context)
    }

    func upstreamWritabilityChanged(_ connection: UpstreamConnection) {
        // Request back-pressure: read from the client only while the upstream keeps up.
        guard let context, connection === upstream else { return }
        machine.upstreamWritabilityChanged(writable: connection.channel.isWritable)
        applyReading(context: context)
    }

    private func finish(_ exchange: Exchange, status: Int) {
        loop.finish(exchange, status: status)
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? ChannelError, case .connectTimeout = error { return "connect timed out" }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first?.error {
            return describe(first)
        }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)).lowercased() }
        return "\(error)"
    }
}

@available(*, unavailable)
extension ProxyHandler: Sendable {}
