import CLI
import Core
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The client side of one connection. For each request: validate framing → normalize the path →
/// run the phases → forward to a pooled upstream connection of the same event loop → stream the
/// response back → log. Bodies stream both ways with back-pressure: reading from one side stops
/// while the other side cannot take more. Pipelined requests are queued here and served in order
/// once the one before has been answered; reading goes on meanwhile (no change of read interest
/// per request, which would cost two `epoll_ctl`s) until the queue holds `pipelinedLimit` bytes.
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamResponseDelegate, PhaseChainDelegate,
    UpstreamDeadlineOwner
{
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// Phases running or the upstream connection being made; body parts are held.
        case preparing
        /// Request sent (or being sent) upstream.
        case forwarding(UpstreamConnection)
        /// Answered by the sidecar itself; the rest of the request body is discarded.
        case answeredLocally
        /// After `101 Switching Protocols`: the connection is a byte tunnel to the upstream.
        case tunnel
        case closed
    }

    private let loop: LoopContext
    private let isTLS: Bool
    private var state = State.idle
    private var exchange: Exchange?
    private var peer = "unknown"
    private var context: ChannelHandlerContext?

    // Per request.
    private var heldBody: [ByteBuffer] = []
    private var requestEnded = false
    /// The request declared a body (Content-Length > 0 or chunked); without one its end follows the
    /// head at once.
    private var requestHasBody = false
    private var requestBodyBytes = 0
    private var heldBodyBytes = 0
    /// Body bytes held while an upstream connection is being made, before reading pauses.
    private static let heldBodyLimit = 64 * 1024
    private var responseStarted = false
    private var responseEnded = false
    private var keepAlive = true
    /// False while the client is not read (back-pressure, or a body held while phases decide).
    private var clientReading = true

    // Pipelining: parts of later requests that arrived while one was being answered, in order.
    private var pipelined = CircularBuffer<HTTPServerRequestPart>()
    private var pipelinedBytes = 0
    private static let pipelinedLimit = 64 * 1024
    private var draining = false
    /// A parser error in a pipelined request: answered, and the connection closed, after the
    /// requests before it.
    private var pendingProblem: ProblemResponse?
    /// The server is shutting down: answer what is in flight, then close.
    private var quiescing = false

    init(loop: LoopContext, isTLS: Bool) {
        self.loop = loop
        self.isTLS = isTLS
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
        loop.openConnections += 1
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        loop.openConnections -= 1
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if pipelined.isEmpty, acceptsPart {
            return dispatch(part, context: context)
        }
        if case .closed = state { return }
        switch part {
        case let .body(body): pipelinedBytes += body.readableBytes
        case .head: pipelinedBytes += 256
        case .end: break
        }
        pipelined.append(part)
        if pipelinedBytes > Self.pipelinedLimit { setClientReading(false, context: context) }
    }

    /// Whether a part read now belongs to the request being handled (or starts one): everything
    /// after the end of a request that is still being answered waits in `pipelined`.
    private var acceptsPart: Bool {
        switch state {
        case .idle: true
        case .closed, .tunnel: false
        case .preparing, .forwarding, .answeredLocally: !requestEnded
        }
    }

    private func dispatch(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case let .head(head):
            receiveHead(head, context: context)
        case let .body(body):
            receiveBody(body, context: context)
        case .end:
            receiveEnd(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case let .forwarding(connection) = state {
            // The client left: the upstream exchange cannot finish cleanly.
            connection.delegate = nil
            connection.close()
        }
        if let exchange, exchange.status == 0 {
            exchange.decision = "client-closed"
            finish(exchange, status: 499)
        }
        loop.deadlines.clear(self)
        state = .closed
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Response back-pressure: read from the upstream only while the client keeps up.
        if case let .forwarding(connection) = state {
            connection.setReading(context.channel.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            // Silent between requests, or stalled mid-upload: close. Waiting on the upstream is not the
            // client's silence; the upstream timeout covers that.
            switch state {
            case .idle, .preparing, .answeredLocally:
                context.close(promise: nil)
            case .forwarding where !requestEnded:
                context.close(promise: nil)
            default:
                break
            }
            return
        }
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: an idle connection closes now, a busy one after its response.
            quiescing = true
            keepAlive = false
            if case .idle = state, pipelined.isEmpty { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The request decoder's errors: a header block over `--max-header-bytes` gets 431, anything
    /// else malformed (bad chunk sizes, obsolete line folding, control bytes, smuggling shapes llhttp
    /// refuses) 400, then the connection closes. Never a second response, never out of order: an
    /// error in a pipelined request waits for the answers to the requests before it.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.close(promise: nil)
            return
        }
        let problem: ProblemResponse = parserError == .headerOverflow
            ? .headersTooLarge()
            : .badRequest("the request is not valid HTTP/1.1 (\(parserError))")
        setClientReading(false, context: context)
        switch state {
        case .idle where pipelined.isEmpty:
            answerAndClose(problem, context: context)
        case .preparing, .forwarding, .answeredLocally:
            if acceptsPart && pipelined.isEmpty {
                // The request being handled is itself malformed (its body, say): a request whose
                // body is unread ends with the connection.
                if case .answeredLocally = state, responseEnded {
                    context.close(promise: nil)
                } else {
                    answer(problem, context: context)
                }
            } else {
                pendingProblem = problem
            }
        case .idle:
            pendingProblem = problem
        case .closed, .tunnel:
            context.close(promise: nil)
        }
    }

    /// A problem response outside any request (the parser could not make one), then close.
    private func answerAndClose(_ problem: ProblemResponse, context: ChannelHandlerContext) {
        state = .closed
        var problem = problem
        problem.closeConnection = true
        let (head, body) = problem.encoded(requestID: loop.requestIDs.next(), version: .http1_1, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    // MARK: Request

    private func receiveHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        // A request queued behind one whose answer closes the connection is not served.
        if case .closed = state { return }
        heldBody.removeAll(keepingCapacity: true)
        heldBodyBytes = 0
        requestEnded = false
        requestHasBody = false
        requestBodyBytes = 0
        responseStarted = false
        responseEnded = false
        keepAlive = head.isKeepAlive && !quiescing

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
        state = .preparing

        let framing: RequestValidation.Framing
        switch RequestValidation.check(head) {
        case let .failure(problem):
            return answer(.badRequest("the request has \(problem)"), context: context)
        case let .success(checked):
            framing = checked
        }
        requestHasBody = framing.hasBody
        if case let .failure(problem) = normalized {
            return answer(.badRequest("invalid request path: \(problem)"), context: context)
        }
        if let length = framing.contentLength, length > loop.configuration.maxBodyBytes {
            return answer(.bodyTooLarge(limit: loop.configuration.maxBodyBytes), context: context)
        }

        // The body is held while the phases decide and the upstream connection is made; reading
        // pauses only if that grows past `heldBodyLimit` (see receiveBody), so a typical request
        // costs no change of read interest at all.
        loop.phases.run(exchange, on: loop, delegate: self)
    }

    func phasesFinished(_ exchange: Exchange, problem: ProblemResponse?) {
        guard let context, self.exchange === exchange, case .preparing = state else { return }
        if let problem {
            answer(problem, context: context)
        } else {
            forward(exchange, context: context)
        }
    }

    private func receiveBody(_ body: ByteBuffer, context: ChannelHandlerContext) {
        requestBodyBytes += body.readableBytes
        if requestBodyBytes > loop.configuration.maxBodyBytes {
            switch state {
            case .preparing, .forwarding:
                if case let .forwarding(connection) = state {
                    connection.delegate = nil
                    connection.close()
                }
                return answer(.bodyTooLarge(limit: loop.configuration.maxBodyBytes), context: context)
            default:
                return
            }
        }
        switch state {
        case .preparing:
            heldBody.append(body)
            heldBodyBytes += body.readableBytes
            if heldBodyBytes > Self.heldBodyLimit { setClientReading(false, context: context) }
        case let .forwarding(connection):
            connection.write(.body(.byteBuffer(body)), flush: true)
            if !connection.channel.isWritable { setClientReading(false, context: context) }
        case .answeredLocally, .idle, .closed, .tunnel:
            break
        }
    }

    private func receiveEnd(context: ChannelHandlerContext) {
        requestEnded = true
        switch state {
        case let .forwarding(connection):
            connection.write(.end(nil), flush: true)
        case .answeredLocally where responseEnded:
            completeRequest(context: context)
        default:
            break
        }
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
            guard self.exchange === exchange, case .preparing = state else {
                if case let .success(connection) = result { loop.upstream.release(connection) }
                return
            }
            switch result {
            case let .failure(error):
                loop.metrics.recordUpstreamError("connect")
                answer(.badGateway("cannot connect to the upstream: \(Self.describe(error))"), context: context)
            case let .success(connection):
                send(exchange, head: upstreamHead, on: connection, context: context)
            }
        }
    }

    /// Writes the request head and what is held of the body to `connection`; the rest of the body
    /// follows as it arrives.
    private func send(_ exchange: Exchange, head: HTTPRequestHead, on connection: UpstreamConnection, context: ChannelHandlerContext) {
        connection.delegate = self
        state = .forwarding(connection)
        exchange.upstreamStart = .now()
        connection.write(.head(head), flush: false)
        for part in heldBody { connection.write(.body(.byteBuffer(part)), flush: false) }
        heldBody.removeAll(keepingCapacity: true)
        if requestEnded {
            connection.write(.end(nil), flush: true)
        } else {
            connection.channel.flush()
        }
        if !context.channel.isWritable { connection.setReading(false) }
        if !requestEnded { setClientReading(connection.channel.isWritable, context: context) }
        loop.deadlines.set(self, deadline: .now() + loop.configuration.upstreamTimeout)
    }

    func upstreamDeadlinePassed() {
        if case let .forwarding(connection) = state { upstreamTimedOut(connection) }
    }

    private func upstreamTimedOut(_ connection: UpstreamConnection) {
        guard let context, case let .forwarding(current) = state, current === connection, !responseStarted else { return }
        loop.metrics.recordUpstreamError("timeout")
        connection.delegate = nil
        connection.close()
        answer(.gatewayTimeout(), context: context)
    }

    func upstream(_ connection: UpstreamConnection, receivedHead head: HTTPResponseHead) {
        guard let context, let exchange, case let .forwarding(current) = state, current === connection else { return }
        loop.deadlines.clear(self)
        exchange.upstreamEnd = .now()
        var response = head
        response.version = exchange.head.version.minor == 0 ? .http1_0 : .http1_1
        let isUpgradeRequest = ForwardPhase.isUpgradeRequest(exchange.head)
        let isSwitch = head.status == .switchingProtocols && isUpgradeRequest
        HopByHopHeaders.strip(&response.headers, keepUpgrade: isSwitch)
        if head.headers.contains(name: "transfer-encoding") && !isSwitch {
            response.headers.add(name: "transfer-encoding", value: "chunked")
        }
        if !response.headers.contains(name: "x-request-id") {
            response.headers.add(name: "x-request-id", value: exchange.requestID)
        }
        for (name, value) in exchange.responseHeaders { response.headers.replaceOrAdd(name: name, value: value) }
        if !keepAlive || !requestEnded {
            // An early answer while the client is still sending: the rest of its body cannot be
            // told apart from a next request, so this connection ends with the response.
            keepAlive = false
            response.headers.replaceOrAdd(name: "connection", value: "close")
        }
        if isUpgradeRequest && !isSwitch {
            // The client's parser stopped at its upgrade request: no more HTTP on this connection.
            keepAlive = false
            response.headers.replaceOrAdd(name: "connection", value: "close")
        }
        exchange.status = Int(head.status.code)
        responseStarted = true
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if isSwitch {
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
        state = .tunnel
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
                    for type in [
                        IdleStateHandler.self, HTTPResponseEncoder.self,
                    ] as [any RemovableChannelHandler.Type] {
                        try Self.remove(type, from: pipeline)
                    }
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
        guard let context, case let .forwarding(current) = state, current === connection else { return }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if !context.channel.isWritable { connection.setReading(false) }
    }

    func upstream(_ connection: UpstreamConnection, receivedEnd trailers: HTTPHeaders?) {
        guard let context, let exchange, case let .forwarding(current) = state, current === connection else { return }
        if !requestEnded { connection.reusable = false }
        loop.upstream.release(connection)
        if let start = exchange.upstreamStart, let end = exchange.upstreamEnd {
            loop.metrics.recordUpstream(seconds: Double((end - start).nanoseconds) / 1e9)
        }
        finish(exchange, status: exchange.status)
        endResponse(trailers, close: !keepAlive, context: context)
    }

    func upstream(_ connection: UpstreamConnection, failed error: any Error) {
        guard let context, case let .forwarding(current) = state, current === connection else { return }
        connection.delegate = nil
        loop.metrics.recordUpstreamError("reset")
        if responseStarted {
            // Part of the response is out: the client can only see it end early.
            exchange?.decision = "upstream-reset"
            if let exchange { finish(exchange, status: exchange.status) }
            context.close(promise: nil)
        } else {
            loop.deadlines.clear(self)
            answer(.badGateway("the upstream closed the connection before responding"), context: context)
        }
    }

    func upstreamWritabilityChanged(_ connection: UpstreamConnection) {
        // Request back-pressure: read from the client only while the upstream keeps up.
        guard let context, case let .forwarding(current) = state, current === connection, !requestEnded else { return }
        setClientReading(connection.channel.isWritable, context: context)
    }

    // MARK: Answers and the end of a request

    /// Answers with a problem response (refusals and failures), or closes when a response has
    /// already begun.
    private func answer(_ problem: ProblemResponse, context: ChannelHandlerContext) {
        guard let exchange else { return }
        loop.deadlines.clear(self)
        if case let .forwarding(connection) = state {
            connection.delegate = nil
            connection.close()
        }
        state = .answeredLocally
        heldBody.removeAll()
        exchange.decision = problem.decision ?? problem.slug
        if responseStarted {
            finish(exchange, status: exchange.status)
            context.close(promise: nil)
            return
        }
        var problem = problem
        // Unread body bytes would be taken for the next request: close after answering.
        if (requestHasBody && !requestEnded) || !keepAlive { problem.closeConnection = true }
        let (head, body) = problem.encoded(requestID: exchange.requestID, version: exchange.head.version, allocator: context.channel.allocator)
        exchange.status = Int(problem.status.code)
        responseStarted = true
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if exchange.head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        finish(exchange, status: exchange.status)
        endResponse(nil, close: problem.closeConnection, context: context)
    }

    /// Writes the response's end, then turns to the next request. The end goes out first: a
    /// pipelined request waiting in `pipelined` may be answered at once by the sidecar itself (a
    /// 404, a 401, a 429), and its head must follow this response's last byte — for a chunked
    /// response the last-chunk `0\r\n\r\n` — or the client reads a status line where it expects a
    /// chunk size and every later response on the connection is misread.
    private func endResponse(_ trailers: HTTPHeaders?, close: Bool, context: ChannelHandlerContext) {
        responseEnded = true
        if close {
            keepAlive = false
            state = .closed
            exchange = nil
            context.writeAndFlush(wrapOutboundOut(.end(trailers))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        // Neither forwarding (the upstream connection is already released or closed) nor idle
        // (nothing new starts before the end is written) while the write runs.
        state = .answeredLocally
        context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
        // A failed write may have closed the connection meanwhile.
        guard case .answeredLocally = state else { return }
        if requestEnded {
            completeRequest(context: context)
        }
        // Else only reachable if a caller chose to drain the rest of the body instead of closing:
        // `receiveEnd` completes the request.
    }

    /// Both the request and the response are done: ready for the next request on this connection,
    /// which may be waiting in `pipelined` already.
    private func completeRequest(context: ChannelHandlerContext) {
        exchange = nil
        state = .idle
        if pendingProblem == nil { setClientReading(true, context: context) }
        drainPipelined(context: context)
    }

    /// Hands queued parts over while they belong to the request being handled. Re-entrant calls
    /// (a queued request answered at once completes inside the loop) leave the work to the outer one.
    private func drainPipelined(context: ChannelHandlerContext) {
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while acceptsPart, let part = pipelined.popFirst() {
            if case let .body(body) = part { pipelinedBytes -= body.readableBytes } else if case .head = part { pipelinedBytes -= 256 }
            dispatch(part, context: context)
        }
        if pipelined.isEmpty, case .idle = state, let problem = pendingProblem {
            pendingProblem = nil
            answerAndClose(problem, context: context)
        }
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

    /// Changes read interest only when it changes: each change is an epoll_ctl.
    private func setClientReading(_ reading: Bool, context: ChannelHandlerContext) {
        guard reading != clientReading else { return }
        clientReading = reading
        try? context.channel.syncOptions?.setOption(.autoRead, value: reading)
        if reading { context.read() }
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
