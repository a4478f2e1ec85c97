import Core
import NIOCore

/// The start and the end of a request's exchange, the same whichever event loop carries the
/// connection (SwiftNIO's `ProxyHandler` or the loop's `LoopProxyConnection`).
extension LoopContext {
    /// The exchange of a parsed request head: its request id (the client's, if acceptable), the
    /// client's address (X-Forwarded-For only from a trusted proxy), path and query. The problem,
    /// when there is one, is the answer due before any phase runs: a path that does not normalize,
    /// a declared body over `--max-body-bytes`.
    func startExchange(_ request: ProxyHandler.RequestHead, peer: String, isTLS: Bool) -> (Exchange, ProblemResponse?) {
        let head = request.head
        let bytes = request.bytes
        let incomingID = head.firstIndex(of: .xRequestId).map { bytes.string(of: head.fields[$0].value) }
        let requestID = incomingID.flatMap { RequestIDGenerator.isAcceptable(Substring($0)) ? RequestID.given($0) : nil } ?? requestIDs.next()
        let trusted = configuration.trustedProxies
        // X-Forwarded-For is only read (and split) when the peer is a trusted proxy.
        let clientIP = trusted.isTrusted(peer)
            ? trusted.clientAddress(peer: peer, forwardedFor: head.values(.xForwardedFor, in: bytes).map { Substring($0) })
            : peer

        // Split the target into path and query; an absolute-form, authority-form or asterisk-form
        // target is not a path and is refused with the other malformed requests.
        let uri = bytes.string(of: head.target)
        let queryStart = uri.utf8.firstIndex(of: UInt8(ascii: "?")) ?? uri.utf8.endIndex
        let rawPath = uri[..<queryStart]
        let query = uri[queryStart...]
        // Most paths are normal already: then no normalized copy is made.
        let normalized = RequestPath.isNormal(rawPath.utf8) ? nil : RequestPath.normalize(rawPath.utf8)

        let path: String
        var unchanged = true
        switch normalized {
        case nil:
            path = String(rawPath)
        case let .success(normalizedBytes):
            unchanged = normalizedBytes.elementsEqual(rawPath.utf8)
            path = unchanged ? String(rawPath) : String(decoding: normalizedBytes, as: UTF8.self)
        case .failure:
            path = String(rawPath)
        }
        let exchange: Exchange
        if let spare = spareExchange() {
            spare.reuse(
                requestID: requestID, snapshot: snapshot, staticKeys: staticKeys, clientIP: clientIP, isTLS: isTLS, head: head,
                headBytes: bytes, path: path, query: query, targetIsNormalized: unchanged)
            exchange = spare
        } else {
            exchange = Exchange(
                requestID: requestID, snapshot: snapshot, staticKeys: staticKeys, clientIP: clientIP, isTLS: isTLS, head: head,
                headBytes: bytes, path: path, query: query, targetIsNormalized: unchanged)
        }
        if case let .failure(problem)? = normalized {
            return (exchange, .badRequest("invalid request path: \(problem)"))
        }
        if case let .length(length) = head.framing, length > configuration.maxBodyBytes {
            return (exchange, .bodyTooLarge(limit: configuration.maxBodyBytes))
        }
        return (exchange, nil)
    }

    /// A finished exchange waits for the next request of this loop: an exchange object per request
    /// is not allocated in steady state. It lets go of its head's bytes now (so the read buffer
    /// can be reused); whether anything still holds it (the caller's own variables at this moment,
    /// a shadow trial still waiting on Redis) is checked when it is taken again.
    func recycle(_ exchange: inout Exchange?) {
        guard let done = exchange else { return }
        exchange = nil
        guard spareExchanges.count < 64 else { return }
        done.release(emptyBuffer: emptyBuffer)
        spareExchanges.append(done)
    }

    /// A spare exchange nothing else holds any more, if there is one.
    private func spareExchange() -> Exchange? {
        while var spare = spareExchanges.popLast() {
            if isKnownUniquelyReferenced(&spare) { return spare }
        }
        return nil
    }

    /// What the upstream's response head means for the exchange, decided with the connection's
    /// machine (the same on both data paths).
    enum ResponseStart {
        /// A `101` nobody asked for: what follows is not HTTP. Close the upstream connection (the
        /// client gets a 502, never the switch).
        case refuse
        /// Not the exchange the machine is forwarding.
        case ignore
        /// Write this head (then the body, framed as `body` says), or switch to a tunnel.
        case write(head: ByteBuffer, body: ForwardPhase.ResponseBody, tunnel: Bool)
    }

    func startResponse(
        _ head: HTTPHead, bytes: ByteBuffer, exchange: Exchange, machine: inout ConnectionStateMachine<ProxyHandler.RequestHead>,
        deadlineOwner: some UpstreamDeadlineOwner, allocator: ByteBufferAllocator, reusing spare: consuming ByteBuffer? = nil
    ) -> ResponseStart {
        let isUpgradeRequest = exchange.head.isUpgradeRequest(in: exchange.headBytes)
        if head.status == 101, !isUpgradeRequest { return .refuse }
        let isSwitch = head.status == 101
        let body = ForwardPhase.responseBody(
            framing: head.framing, clientMinorVersion: exchange.head.minorVersion,
            hasTransferEncoding: head.firstIndex(of: .transferEncoding) != nil)
        let action = machine.upstreamHead(isSwitch: isSwitch, isUpgradeRequest: isUpgradeRequest, endsWithClose: body == .untilClose || body == .dechunked)
        if action == .ignore { return .ignore }
        deadlines.clear(deadlineOwner)
        exchange.upstreamEnd = .now()
        exchange.status = head.status
        let clientHead = ForwardPhase.clientHead(
            head, bytes: bytes, exchange: exchange, isSwitch: isSwitch, body: body, close: action == .writeHead(close: true),
            allocator: allocator, reusing: consume spare)
        return .write(head: clientHead, body: body, tunnel: action == .writeHeadAndTunnel)
    }

    /// The exchange answered by the sidecar with `problem`: its decision and status recorded, its
    /// line logged, the response's bytes returned for the connection to write.
    func answer(_ exchange: Exchange, with problem: ProblemResponse, close: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        exchange.decision = problem.decision ?? problem.slug
        var problem = problem
        problem.closeConnection = close
        let bytes = problem.serialized(
            requestID: exchange.requestID, minorVersion: exchange.head.minorVersion, includeBody: exchange.head.method != .HEAD,
            keepAliveHTTP10: true, allocator: allocator)
        exchange.status = Int(problem.status.code)
        finish(exchange, status: exchange.status)
        return bytes
    }

    /// A response already begun is cut short by `problem` (the client sees it end early): logged
    /// with its decision.
    func cutShort(_ exchange: Exchange?, by problem: ProblemResponse) {
        guard let exchange else { return }
        exchange.decision = problem.decision ?? problem.slug
        finish(exchange, status: exchange.status)
    }

    /// The log line and the metrics, once per request.
    func finish(_ exchange: Exchange, status: Int) {
        let end = NIODeadline.now()
        let seconds = Double((end - exchange.start).nanoseconds) / 1e9
        let routeName = exchange.route?.name
        metrics.recordRequest(route: routeName ?? "", status: status, seconds: seconds)
        var upstreamMilliseconds: Double?
        if let start = exchange.upstreamStart, let responded = exchange.upstreamEnd {
            upstreamMilliseconds = Double((responded - start).nanoseconds) / 1e6
        }
        accessLog.write(AccessLogEntry(
            time: exchange.wallClockStart, requestID: exchange.requestID, method: exchange.method,
            path: exchange.path, route: routeName, status: status, durationMilliseconds: seconds * 1000,
            upstreamMilliseconds: upstreamMilliseconds, subject: exchange.subject, clientIP: exchange.clientIP,
            decision: exchange.decision))
    }
}
