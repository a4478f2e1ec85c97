import CLI
import Core
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The client side of one connection. For each request: validate framing → normalize the path →
/// run the phases → forward to a pooled upstream connection of the same event loop → stream the
/// response back → log. Which request a part belongs to, where body parts go, when the client is
/// read, the order of answers and when the connection ends are decided by `ConnectionStateMachine`
/// (tested without a channel); this handler performs what it returns. Bodies stream both ways with
/// back-pressure; pipelined requests are queued by the machine and served in order.
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamResponseDelegate, PhaseChainDelegate,
    UpstreamDeadlineOwner, IdleConnection
{
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    typealias Machine = ConnectionStateMachine<HTTPRequestHead>

    private let loop: LoopContext
    private let isTLS: Bool
    private var machine: Machine
    private var exchange: Exchange?
    /// The upstream connection the current request uses, while the machine is forwarding.
    private var upstream: UpstreamConnection?
    private var peer = "unknown"
    private var context: ChannelHandlerContext?
    /// Set while queued parts are handed over, so a request completed inside leaves it to the loop.
    private var draining = false
    /// The loop's idle sweep reads it (`IdleConnections`).
    var lastRead = NIODeadline.now()

    init(loop: LoopContext, isTLS: Bool) {
        self.loop = loop
        self.isTLS = isTLS
        self.machine = Machine(limits: .init(maxBodyBytes: loop.configuration.maxBodyBytes))
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
        loop.openConnections += 1
        loop.idleConnections.add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        loop.openConnections -= 1
        loop.idleConnections.remove(self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        let part: Machine.RequestPart
        switch unwrapInboundIn(data) {
        case let .head(head): part = .head(head, keepAlive: head.isKeepAlive)
        case let .body(body): part = .body(body)
        case .end: part = .end
        }
        perform(machine.read(part), context: context)
        applyReading(context: context)
    }

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

    /// The request decoder's errors: a header block over `--max-header-bytes` gets 431, anything
    /// else malformed (bad chunk sizes, obsolete line folding, control bytes, smuggling shapes llhttp
    /// refuses) 400, then the connection closes; the machine keeps it in order.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.close(promise: nil)
            return
        }
        let problem: ProblemResponse = parserError == .headerOverflow
            ? .headersTooLarge()
            : .badRequest("the request is not valid HTTP/1.1 (\(parserError))")
        switch machine.parserError(problem) {
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
        let (head, body) = problem.encoded(requestID: loop.requestIDs.next(), version: .http1_1, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
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
            upstream.write(.body(.byteBuffer(body)), flush: true)
            if !upstream.channel.isWritable { machine.upstreamWritabilityChanged(writable: false) }
        case .forwardEnd:
            upstream?.write(.end(nil), flush: true)
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
            if let exchange {
                exchange.decision = problem.decision ?? problem.slug
                finish(exchange, status: exchange.status)
            }
            exchange = nil
            context.close(promise: nil)
        case let .write(problem, close, abandon):
            loop.deadlines.clear(self)
            if abandon { abandonUpstream() }
            guard let exchange else { return }
            exchange.decision = problem.decision ?? problem.slug
            var problem = problem
            problem.closeConnection = close
            let (head, body) = problem.encoded(requestID: exchange.requestID, version: exchange.head.version, allocator: context.channel.allocator)
            exchange.status = Int(problem.status.code)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if exchange.head.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
            finish(exchange, status: exchange.status)
            writeEnd(nil, close: close, context: context)
        }
    }

    /// Writes a response's end; the next request starts only after it (see
    /// `ConnectionStateMachine.responseEndWritten`).
    private func writeEnd(_ trailers: HTTPHeaders?, close: Bool, context: ChannelHandlerContext) {
        if close {
            exchange = nil
            context.writeAndFlush(wrapOutboundOut(.end(trailers))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
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

    private func startRequest(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let incomingID = head.headers.first(name: "x-request-id").map { Substring($0) }
        let requestID = incomingID.flatMap { RequestIDGenerator.isAcceptable($0) ? String($0) : nil } ?? loop.requestIDs.next()
        let trusted = loop.configuration.trustedProxies
        // X-Forwarded-For is only read (and split) when the peer is a trusted proxy.
        let clientIP = trusted.isTrusted(peer)
            ? trusted.clientAddress(peer: peer, forwardedFor: head.headers[canonicalForm: "x-forwarded-for"])
            : peer

        // Split the target into path and query; an absolute-form or authority-form target is not a
        // path and is refused with the other malformed requests.
        let uri = head.uri
        let queryStart = uri.utf8.firstIndex(of: UInt8(ascii: "?")) ?? uri.utf8.endIndex
        let rawPath = uri[..<queryStart]
        let query = uri[queryStart...]
        let normalized = RequestPath.normalize(rawPath.utf8)

        let path: String
        switch normalized {
        case let .success(bytes): path = String(decoding: bytes, as: UTF8.self)
        case .failure: path = String(rawPath)
        }
        let exchange = Exchange(
            requestID: requestID, snapshot: loop.snapshot, staticKeys: loop.staticKeys, clientIP: clientIP, isTLS: isTLS, head: head,
            path: path, query: query)
        self.exchange = exchange

        let framing: RequestValidation.Framing
        switch RequestValidation.check(head) {
        case let .failure(problem):
            return perform(machine.answer(.badRequest("the request has \(problem)")), context: context)
        case let .success(checked):
            framing = checked
        }
        machine.requestValidated(hasBody: framing.hasBody)
        if case let .failure(problem) = normalized {
            return perform(machine.answer(.badRequest("invalid request path: \(problem)")), context: context)
        }
        if let length = framing.contentLength, length > loop.configuration.maxBodyBytes {
            return perform(machine.answer(.bodyTooLarge(limit: loop.configuration.maxBodyBytes)), context: context)
        }

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
        if exchange.head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
            // The phases have passed: now the client may send the body.
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version, status: .continue))), promise: nil)
        }
        let upstreamHead = loop.forward.upstreamHead(for: exchange, peer: peer)
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

    /// Writes the request head and what is held of the body to `connection`; the rest of the body
    /// follows as it arrives.
    private func send(_ exchange: Exchange, head: HTTPRequestHead, on connection: UpstreamConnection, context: ChannelHandlerContext) {
        guard machine.state == .preparing else {
            loop.upstream.release(connection)
            return
        }
        exchange.upstreamStart = .now()
        connection.write(.head(head), flush: false)
        let ended = machine.upstreamReady { part in connection.write(.body(.byteBuffer(part)), flush: false) } ?? false
        connection.delegate = self
        upstream = connection
        if ended {
            connection.write(.end(nil), flush: true)
        } else {
            connection.channel.flush()
            machine.upstreamWritabilityChanged(writable: connection.channel.isWritable)
        }
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

    func upstream(_ connection: UpstreamConnection, receivedHead head: HTTPResponseHead) {
        guard let context, let exchange, connection === upstream else { return }
        let isUpgradeRequest = ForwardPhase.isUpgradeRequest(exchange.head)
        let isSwitch = head.status == .switchingProtocols && isUpgradeRequest
        let action = machine.upstreamHead(isSwitch: isSwitch, isUpgradeRequest: isUpgradeRequest)
        if action == .ignore { return }
        loop.deadlines.clear(self)
        exchange.upstreamEnd = .now()
        var response = head
        response.version = exchange.head.version.minor == 0 ? .http1_0 : .http1_1
        HopByHopHeaders.strip(&response.headers, keepUpgrade: isSwitch)
        if head.headers.contains(name: "transfer-encoding") && !isSwitch {
            response.headers.add(name: "transfer-encoding", value: "chunked")
        }
        if !response.headers.contains(name: "x-request-id") {
            response.headers.add(name: "x-request-id", value: exchange.requestID)
        }
        for (name, value) in exchange.responseHeaders { response.headers.replaceOrAdd(name: name, value: value) }
        if action == .writeHead(close: true) {
            response.headers.replaceOrAdd(name: "connection", value: "close")
        }
        exchange.status = Int(head.status.code)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if action == .writeHeadAndTunnel {
            context.flush()
            startTunnel(connection, exchange: exchange, context: context)
        }
    }

    /// Hands both connections to a pair of tunnel handlers, upstream side first (see
    /// `UpstreamConnection.convertToTunnel`), then the client side, whose request decoder forwards
    /// any bytes the client sent after its upgrade request into the tunnel. Deferred to the next
    /// tick: handlers are not removed from inside their own callbacks.
    private func startTunnel(_ connection: UpstreamConnection, exchange: Exchange, context: ChannelHandlerContext) {
        loop.deadlines.clear(self)
        upstream = nil
        finish(exchange, status: 101)
        self.exchange = nil
        let channel = context.channel
        context.eventLoop.assumeIsolated().execute {
            let (client, upstream) = TunnelHandler.pair()
            connection.convertToTunnel(upstream).assumeIsolated().whenComplete { result in
                do {
                    try result.get()
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(client, position: .after(pipeline.context(handler: self).handler))
                    try Self.remove(HTTPResponseEncoder.self, from: pipeline)
                    _ = pipeline.removeHandler(self)
                    try Self.remove(ByteToMessageHandler<HTTPRequestDecoder>.self, from: pipeline)
                } catch {
                    CommandLineMain.printError("tunnel setup failed: \(error)")
                    connection.close()
                    channel.close(promise: nil)
                }
            }
        }
    }

    private static func remove<Handler: RemovableChannelHandler>(_ type: Handler.Type, from pipeline: ChannelPipeline.SynchronousOperations) throws {
        _ = try pipeline.removeHandler(context: pipeline.context(handlerType: type))
    }

    func upstream(_ connection: UpstreamConnection, receivedBody body: ByteBuffer) {
        guard let context, connection === upstream, machine.state == .forwarding else { return }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if !context.channel.isWritable { connection.setReading(false) }
    }

    func upstream(_ connection: UpstreamConnection, receivedEnd trailers: HTTPHeaders?) {
        guard let context, let exchange, connection === upstream else { return }
        guard case let .releaseAndEnd(reusable, close) = machine.upstreamEnd() else { return }
        upstream = nil
        if !reusable { connection.reusable = false }
        loop.upstream.release(connection)
        if let start = exchange.upstreamStart, let end = exchange.upstreamEnd {
            loop.metrics.recordUpstream(seconds: Double((end - start).nanoseconds) / 1e9)
        }
        finish(exchange, status: exchange.status)
        writeEnd(trailers, close: close, context: context)
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

    /// The log line and the metrics, once per request.
    private func finish(_ exchange: Exchange, status: Int) {
        let end = NIODeadline.now()
        let seconds = Double((end - exchange.start).nanoseconds) / 1e9
        let routeName = exchange.route?.name
        loop.metrics.recordRequest(route: routeName ?? "", status: status, seconds: seconds)
        var upstreamMilliseconds: Double?
        if let start = exchange.upstreamStart, let responded = exchange.upstreamEnd {
            upstreamMilliseconds = Double((responded - start).nanoseconds) / 1e6
        }
        loop.accessLog.write(AccessLogEntry(
            time: exchange.wallClockStart, requestID: exchange.requestID, method: exchange.method,
            path: exchange.path, route: routeName, status: status, durationMilliseconds: seconds * 1000,
            upstreamMilliseconds: upstreamMilliseconds, subject: exchange.subject, clientIP: exchange.clientIP,
            decision: exchange.decision))
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
