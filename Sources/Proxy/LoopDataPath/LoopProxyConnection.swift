import CLI
import Core
import NIOCore
import TollgateLoop

/// The client side of one connection on the loop: `ProxyHandler`'s work over a non-blocking socket.
/// The reader, the connection state machine, the phase chain, the splicing of both heads and the
/// exchange's start and end are the same code; this class only turns the socket's readiness into
/// the machine's events and its actions into reads, writes and closes. Bytes go out through a
/// write queue (`sendmsg` of the queued buffers); a full queue is the machine's back-pressure.
final class LoopProxyConnection: LoopHandler, PhaseChainDelegate, UpstreamDeadlineOwner, IdleConnection, LoopUpstreamDelegate {
    typealias Machine = ConnectionStateMachine<ProxyHandler.RequestHead>

    private let fd: Int32
    private var id: HandlerID!
    /// `unowned(unsafe)`: the loop's data path outlives every connection and listener on it (they are
    /// closed before it goes), and a checked `unowned` costs a retain and a release per use.
    private unowned(unsafe) let path: LoopDataPath
    private let loop: LoopContext
    private let peer: String
    private var machine: Machine
    private var reader: HTTPMessageReader
    private var responseBody = ForwardPhase.ResponseBody.asItCame
    private var tunnelBytes: [ByteBuffer] = []
    private var tunnelByteCount = 0
    private var pendingHead: ByteBuffer?
    private var exchange: Exchange?
    private var upstream: LoopUpstream?
    /// The upstream head of the request waiting for a connection being made.
    private var waitingHead: ByteBuffer?
    private var draining = false

    private var out = OutboundQueue()
    private var inbound: ByteBuffer?
    private var readable = false
    /// The peer's FIN (or an error) was seen: read on to the end of file whatever a read returns.
    private var peerClosed = false
    private var writable = true
    /// The machine's wish (`readingChange`).
    private var reading = true
    private var inRead = false
    private var closed = false
    private var closeWhenFlushed = false
    /// Whether the queue is under the high mark (NIO's `isWritable`).
    private var isWritable = true
    private var tunnel: LoopUpstream?
    private var clientEnded = false
    private var upstreamEnded = false

    var lastRead = NIODeadline.now()
    var upstreamDeadline: NIODeadline?

    init(fd: Int32, peer: String, path: LoopDataPath) {
        self.fd = fd
        self.peer = peer
        self.path = path
        self.loop = path.context
        self.machine = Machine(limits: .init(maxBodyBytes: loop.configuration.maxBodyBytes))
        self.reader = HTTPMessageReader(.request, configuration: .init(maxHeadBytes: loop.configuration.maxHeaderBytes, maxFieldCount: 256))
        id = path.reactor.add(self)
        path.reactor.watch(fd, for: id)
        loop.openConnections += 1
        loop.idleConnections.add(self)
        loop.deadlines.add(self)
        path.connections[ObjectIdentifier(self)] = self
    }

    // MARK: Socket events

    func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
        if closed { return }
        if readiness.isWritable {
            writable = true
            flush()
            if closed { return }
        }
        if readiness.isReadable {
            readable = true
            if readiness.isPeerClosed { peerClosed = true }
            readClient()
        }
    }

    func timerFired(tag: UInt8, reactor: Reactor) {}

    func shutdown(reactor: Reactor) {
        close()
    }

    private func readClient() {
        guard !inRead else { return }
        inRead = true
        defer { inRead = false }
        while readable, reading || tunnel != nil, !closed {
            if let tunnel, !tunnel.isWritable { break }
            path.readBuffers.prepare(&inbound)
            let (result, slice, full) = inbound!.read(from: fd)
            switch result {
            case .transferred:
                // A short read emptied the socket's queue (stream sockets): skip the read that
                // would say EAGAIN, unless the peer closed, whose end of file is still to read.
                if !full, !peerClosed { readable = false }
                lastRead = .now()
                if let tunnel {
                    tunnel.write(slice!)
                    tunnel.flush()
                } else {
                    parse(slice!)
                }
            case .wouldBlock:
                readable = false
            case .endOfFile:
                readable = false
                if let tunnel {
                    // The tunnel's half-close: the upstream gets the end once it has every byte.
                    clientEnded = true
                    tunnel.shutdownWriteWhenFlushed()
                    if upstreamEnded { close() }
                } else {
                    close()
                }
            case .reset, .failed:
                readable = false
                close()
            }
        }
        if !closed, exchange == nil, upstream == nil, tunnel == nil, machine.state == .idle {
            path.readBuffers.recycle(&inbound)
        }
    }

    private func parse(_ bytes: ByteBuffer) {
        do {
            try reader.read(bytes) { event in
                switch event {
                case let .head(head, bytes):
                    perform(machine.read(.head(ProxyHandler.RequestHead(head: head, bytes: bytes), keepAlive: head.isKeepAlive(in: bytes))))
                case let .body(body, dataBytes):
                    perform(machine.read(.body(body, dataBytes: dataBytes)))
                case .end:
                    perform(machine.read(.end))
                case let .opaque(bytes):
                    tunnelByteCount += bytes.readableBytes
                    tunnelBytes.append(bytes)
                    if tunnelByteCount > Self.maxTunnelBytesHeld { close() }
                }
            }
        } catch {
            refuse(error)
        }
        applyReading()
    }

    private static let maxTunnelBytesHeld = 1 << 20

    /// Writes what is queued; the connection closes when asked to once all is written.
    private func flush() {
        guard !closed else { return }
        if writable, !out.isEmpty {
            switch out.flush(to: fd, recyclingInto: path.headBuffers) {
            case .done:
                break
            case .blocked:
                writable = false
            case .failed:
                close()
                return
            }
        }
        if out.isEmpty, closeWhenFlushed {
            close()
            return
        }
        if !isWritable, out.bytes < OutboundQueue.lowWater {
            isWritable = true
            writabilityChanged()
        }
    }

    /// `recycle`: a head built in one of the loop's head buffers, given back once written.
    private func enqueue(_ bytes: ByteBuffer, recycle: Bool = false) {
        out.append(bytes, recycle: recycle)
        if isWritable, out.bytes > OutboundQueue.highWater {
            isWritable = false
            writabilityChanged()
        }
    }

    /// Response back-pressure: the upstream is read only while the client keeps up.
    private func writabilityChanged() {
        if let tunnel {
            tunnel.setReading(isWritable)
        } else if let upstream, machine.state == .forwarding {
            upstream.setReading(isWritable)
        }
    }

    private func writeAndClose(_ bytes: ByteBuffer?) {
        if let bytes { enqueue(bytes) }
        closeWhenFlushed = true
        flush()
    }

    func close() {
        guard !closed else { return }
        closed = true
        if machine.clientClosed() { abandonUpstream() }
        if let exchange, exchange.status == 0 {
            exchange.decision = "client-closed"
            loop.finish(exchange, status: 499)
        }
        exchange = nil
        if let tunnel {
            self.tunnel = nil
            tunnel.delegate = nil
            tunnel.close()
        }
        loop.deadlines.clear(self)
        loop.openConnections -= 1
        loop.idleConnections.remove(self)
        loop.deadlines.remove(self)
        path.connections.removeValue(forKey: ObjectIdentifier(self))
        out.removeAll()
        pendingHead = nil
        tunnelBytes = []
        path.reactor.remove(id)
        Socket.close(fd)
        path.readBuffers.recycle(&inbound)
        path.connectionClosed()
    }

    /// Nothing read for `--idle-timeout`: close a silent or stalled client.
    func idleTimeoutPassed() {
        if !closed, machine.idleTimeout() { close() }
    }

    /// Graceful shutdown: an idle connection closes now, a busy one after its response.
    func quiesce() {
        if !closed, machine.quiesce() { close() }
    }

    /// What the reader refused (see `ProxyHandler.refuse`).
    private func refuse(_ error: HTTPHeadError) {
        switch machine.parserError(.malformed(error)) {
        case .none:
            break
        case .close:
            close()
        case let .answerAndClose(problem):
            answerAndClose(problem)
        case let .answer(action):
            perform(action)
        }
        applyReading()
    }

    private func answerAndClose(_ problem: ProblemResponse) {
        var problem = problem
        problem.closeConnection = true
        writeAndClose(problem.serialized(requestID: loop.requestIDs.next(), minorVersion: 1, includeBody: true, allocator: path.allocator))
    }

    // MARK: Performing the machine's actions

    private func perform(_ action: Machine.ReadAction) {
        switch action {
        case .none:
            break
        case let .startRequest(head):
            startRequest(head)
        case let .forwardBody(body):
            guard let upstream else { return }
            upstream.write(body)
            upstream.flush()
            if !upstream.isWritable { machine.upstreamWritabilityChanged(writable: false) }
        case .forwardEnd:
            startUpstreamDeadline()
        case let .answer(answer):
            perform(answer)
        case .requestComplete:
            loop.recycle(&exchange)
            drainPipelined()
        }
    }

    private func perform(_ action: Machine.AnswerAction) {
        switch action {
        case .none:
            return
        case let .closeConnection(problem, abandon):
            loop.deadlines.clear(self)
            if abandon { abandonUpstream() }
            loop.cutShort(exchange, by: problem)
            exchange = nil
            writePendingHead()
            writeAndClose(nil)
        case let .write(problem, close, abandon):
            loop.deadlines.clear(self)
            if abandon { abandonUpstream() }
            guard let exchange else { return }
            writeEnd(loop.answer(exchange, with: problem, close: close, allocator: path.allocator), close: close)
        }
    }

    private func writeEnd(_ last: ByteBuffer?, close: Bool) {
        var last = last
        if var head = pendingHead {
            // A response without a body (or whose end came with its head): one buffer.
            pendingHead = nil
            if let end = last { head.writeImmutableBuffer(end) }
            enqueue(head, recycle: true)
            last = nil
        }
        if close {
            exchange = nil
            writeAndClose(last)
            return
        }
        if let last { enqueue(last) }
        flush()
        if closed { return }
        perform(machine.responseEndWritten())
    }

    private func drainPipelined() {
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while let action = machine.drain() {
            perform(action)
        }
        if let problem = machine.pendingAnswer() {
            answerAndClose(problem)
        }
    }

    private func applyReading() {
        guard let reading = machine.readingChange() else { return }
        self.reading = reading
        if reading { resumeReading() }
    }

    private var resumeRequested = false

    /// Reads what is waiting at the end of the turn (never recursively from inside another
    /// connection's callbacks).
    private func resumeReading() {
        guard readable, !inRead, !resumeRequested, !closed else { return }
        resumeRequested = true
        path.reactor.runAtEndOfTurn(id)
    }

    func turnEnded(tag: UInt8, reactor: Reactor) {
        resumeRequested = false
        if !closed, readable { readClient() }
    }

    private func abandonUpstream() {
        waitingHead = nil
        guard let connection = upstream else { return }
        upstream = nil
        connection.delegate = nil
        connection.close()
    }

    // MARK: Request

    private func startRequest(_ request: ProxyHandler.RequestHead) {
        let (exchange, problem) = loop.startExchange(request, peer: peer, isTLS: false)
        self.exchange = exchange
        machine.requestValidated(hasBody: request.head.framing != .none)
        if let problem { return perform(machine.answer(problem)) }
        loop.phases.run(exchange, on: loop.phaseContext, delegate: self)
    }

    func phasesFinished(_ exchange: Exchange, problem: ProblemResponse?) {
        guard !closed, self.exchange === exchange else { return }
        switch machine.phasesFinished(problem: problem) {
        case .ignore:
            break
        case let .answer(action):
            perform(action)
        case .forward:
            forward(exchange)
        }
        applyReading()
    }

    // MARK: Forwarding

    private func forward(_ exchange: Exchange) {
        if exchange.head.minorVersion == 1, exchange.head.hasToken("100-continue", in: .expect, bytes: exchange.headBytes) {
            var interim = path.allocator.buffer(capacity: 25)
            interim.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
            enqueue(interim)
            flush()
            if closed { return }
        }
        let upstreamHead = loop.forward.upstreamHead(for: exchange, peer: peer, allocator: path.allocator, reusing: path.headBuffers.take())
        if let connection = path.upstreamPool.idleConnection() {
            return send(exchange, head: upstreamHead, on: connection)
        }
        switch path.upstreamPool.connect(path: path) {
        case let .failed(reason):
            loop.metrics.recordUpstreamError("connect")
            perform(machine.upstreamConnectFailed(.badGateway("cannot connect to the upstream: \(reason)")))
        case let .connection(connection):
            if connection.connected {
                send(exchange, head: upstreamHead, on: connection)
            } else {
                waitingHead = upstreamHead
                connection.delegate = self
                upstream = connection
            }
        }
    }

    func upstreamConnected(_ connection: LoopUpstream) {
        guard connection === upstream, let head = waitingHead, let exchange else {
            path.upstreamPool.release(connection)
            return
        }
        waitingHead = nil
        upstream = nil
        send(exchange, head: head, on: connection)
        applyReading()
    }

    func upstream(_ connection: LoopUpstream, connectFailed reason: String) {
        guard connection === upstream else { return }
        upstream = nil
        waitingHead = nil
        loop.metrics.recordUpstreamError("connect")
        perform(machine.upstreamConnectFailed(.badGateway("cannot connect to the upstream: \(reason)")))
        applyReading()
    }

    private func send(_ exchange: Exchange, head: ByteBuffer, on connection: LoopUpstream) {
        guard machine.state == .preparing else {
            path.upstreamPool.release(connection)
            return
        }
        exchange.upstreamStart = .now()
        connection.expectResponse(to: exchange.head.method, dechunk: exchange.head.minorVersion == 0)
        connection.write(head, recycle: true)
        let ended = machine.upstreamReady { part in connection.write(part) } ?? false
        connection.delegate = self
        upstream = connection
        connection.flush()
        guard upstream === connection else { return }
        if !ended { machine.upstreamWritabilityChanged(writable: connection.isWritable) }
        if !isWritable { connection.setReading(false) }
        if ended { startUpstreamDeadline() }
    }

    private func startUpstreamDeadline() {
        loop.deadlines.set(self, deadline: .now() + loop.configuration.upstreamTimeout)
    }

    func upstreamDeadlinePassed() {
        guard !closed, upstream != nil else { return }
        let action = machine.upstreamTimedOut()
        if case .write = action { loop.metrics.recordUpstreamError("timeout") }
        perform(action)
        applyReading()
    }

    func upstream(_ connection: LoopUpstream, receivedHead head: HTTPHead, bytes: ByteBuffer) {
        guard !closed, let exchange, connection === upstream else { return }
        let start = loop.startResponse(
            head, bytes: bytes, exchange: exchange, machine: &machine, deadlineOwner: self, allocator: path.allocator,
            reusing: path.headBuffers.take())
        guard case let .write(clientHead, body, tunnel) = start else {
            if case .refuse = start { connection.close() }
            return
        }
        responseBody = body
        if tunnel {
            enqueue(clientHead, recycle: true)
            startTunnel(connection, exchange: exchange)
        } else {
            pendingHead = clientHead
        }
    }

    /// Both sockets become a byte tunnel: what the client sent after its upgrade request goes
    /// upstream first; what the upstream sent after its `101` follows the head to the client.
    private func startTunnel(_ connection: LoopUpstream, exchange: Exchange) {
        loop.deadlines.clear(self)
        upstream = nil
        loop.finish(exchange, status: 101)
        self.exchange = nil
        connection.convertToTunnel()
        connection.delegate = self
        tunnel = connection
        for bytes in tunnelBytes { connection.write(bytes) }
        tunnelBytes = []
        connection.flush()
        flush()
    }

    func upstream(_ connection: LoopUpstream, receivedOpaque bytes: ByteBuffer) {
        guard !closed, connection === tunnel else { return }
        enqueue(bytes)
    }

    func upstreamTunnelEnded(_ connection: LoopUpstream) {
        guard !closed, connection === tunnel else { return }
        upstreamEnded = true
        if clientEnded {
            writeAndClose(nil)
        } else {
            flush()
            if out.isEmpty { Socket.shutdownWrite(fd) } else { closeWhenFlushed = true }
        }
    }

    func upstream(_ connection: LoopUpstream, receivedBody body: ByteBuffer) {
        guard !closed, connection === upstream, machine.state == .forwarding else { return }
        if responseBody == .chunkEncoded {
            guard body.readableBytes > 0 else { return }
            writePendingHead()
            var size = path.allocator.buffer(capacity: 18)
            size.writeString(String(body.readableBytes, radix: 16))
            size.writeStaticString("\r\n")
            enqueue(size)
            enqueue(body)
            var crlf = path.allocator.buffer(capacity: 2)
            crlf.writeStaticString("\r\n")
            enqueue(crlf)
        } else if var head = pendingHead, body.readableBytes <= head.writableBytes {
            pendingHead = nil
            head.writeImmutableBuffer(body)
            enqueue(head, recycle: true)
        } else {
            writePendingHead()
            enqueue(body)
        }
    }

    private func writePendingHead() {
        guard let head = pendingHead else { return }
        pendingHead = nil
        enqueue(head, recycle: true)
    }

    func upstreamReadComplete(_ connection: LoopUpstream) {
        guard !closed else { return }
        if connection === tunnel {
            flush()
            return
        }
        guard connection === upstream else { return }
        writePendingHead()
        flush()
    }

    func upstreamReceivedEnd(_ connection: LoopUpstream) {
        guard !closed, let exchange, connection === upstream else { return }
        guard case let .releaseAndEnd(reusable, close) = machine.upstreamEnd() else { return }
        upstream = nil
        if !reusable { connection.reusable = false }
        path.upstreamPool.release(connection)
        if let start = exchange.upstreamStart, let end = exchange.upstreamEnd {
            loop.metrics.recordUpstream(seconds: Double((end - start).nanoseconds) / 1e9)
        }
        loop.finish(exchange, status: exchange.status)
        var last: ByteBuffer?
        if responseBody == .chunkEncoded {
            var lastChunk = path.allocator.buffer(capacity: 5)
            lastChunk.writeStaticString("0\r\n\r\n")
            last = lastChunk
        }
        writeEnd(last, close: close)
        applyReading()
    }

    func upstream(_ connection: LoopUpstream, failed reason: String) {
        guard !closed else { return }
        if connection === tunnel {
            tunnel = nil
            writeAndClose(nil)
            return
        }
        guard connection === upstream else { return }
        loop.metrics.recordUpstreamError("reset")
        switch machine.upstreamFailed() {
        case .ignore:
            return
        case .closeConnection:
            upstream = nil
            if let exchange {
                exchange.decision = "upstream-reset"
                loop.finish(exchange, status: exchange.status)
            }
            exchange = nil
            writePendingHead()
            writeAndClose(nil)
        case let .answer(action):
            upstream = nil
            perform(action)
        }
        applyReading()
    }

    func upstreamWritabilityChanged(_ connection: LoopUpstream) {
        guard !closed else { return }
        if connection === tunnel {
            if connection.isWritable { resumeReading() }
            return
        }
        guard connection === upstream else { return }
        machine.upstreamWritabilityChanged(writable: connection.isWritable)
        applyReading()
    }
}

@available(*, unavailable)
extension LoopProxyConnection: Sendable {}
