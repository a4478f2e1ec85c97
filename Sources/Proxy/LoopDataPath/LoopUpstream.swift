import Core
import NIOCore
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// Hears what an upstream connection of the loop says, for whichever exchange is using it (the
/// loop's `UpstreamResponseDelegate`).
protocol LoopUpstreamDelegate: AnyObject {
    /// The connection is made (or failed to be: `reason`).
    func upstreamConnected(_ connection: LoopUpstream)
    func upstream(_ connection: LoopUpstream, connectFailed reason: String)
    /// The response head; `bytes` is exactly its bytes.
    func upstream(_ connection: LoopUpstream, receivedHead head: HTTPHead, bytes: ByteBuffer)
    /// Body bytes as they came (chunk framing included unless asked to dechunk).
    func upstream(_ connection: LoopUpstream, receivedBody body: ByteBuffer)
    func upstreamReceivedEnd(_ connection: LoopUpstream)
    /// Bytes after a `101`: the tunnel's.
    func upstream(_ connection: LoopUpstream, receivedOpaque bytes: ByteBuffer)
    /// The bytes of one readable edge are all delivered: flush what was written for them.
    func upstreamReadComplete(_ connection: LoopUpstream)
    /// The connection failed or closed before the response ended (`reason` for the log).
    func upstream(_ connection: LoopUpstream, failed reason: String)
    /// The request bytes queued for the upstream fell below the low mark (or rose above the high one).
    func upstreamWritabilityChanged(_ connection: LoopUpstream)
    /// The upstream ended its side after a `101` (the tunnel's half-close).
    func upstreamTunnelEnded(_ connection: LoopUpstream)
}

/// One connection to the upstream on a loop: a non-blocking socket, the response reader
/// (`HTTPMessageReader`, strict), its write queue. Pooled per loop between requests; while pooled
/// it keeps watching its socket, so an upstream that closes an idle connection is noticed at once.
final class LoopUpstream: LoopHandler {
    let fd: Int32
    private(set) var id: HandlerID!
    /// `unowned(unsafe)`: the loop's data path outlives every connection and listener on it (they are
    /// closed before it goes), and a checked `unowned` costs a retain and a release per use.
    private unowned(unsafe) let path: LoopDataPath
    /// Set while an exchange uses the connection; cleared by whoever lets go of it.
    var delegate: (any LoopUpstreamDelegate)?
    /// False once anything makes reuse unsafe (as `UpstreamConnection.reusable`).
    var reusable = true
    private(set) var connected = false
    private(set) var closed = false
    private var reader: HTTPMessageReader
    private var out = OutboundQueue()
    private var inbound: ByteBuffer?
    private var readable = false
    /// The peer's FIN (or an error) was seen: read on to the end of file whatever a read returns.
    private var peerClosed = false
    private var writable = false
    /// False while the client cannot take more of the response.
    private var reading = true
    private var inRead = false
    private var deferredExpectation: (HTTPMethodName, Bool)?
    private var connectTimer: TimerID?
    /// After a `101`: bytes flow both ways as they are, no HTTP.
    private(set) var isTunnel = false
    /// Whether the write queue is under the high mark (NIO's `isWritable`).
    private(set) var isWritable = true

    private static let connectTimerTag: UInt8 = 1

    init(fd: Int32, connected: Bool, path: LoopDataPath) {
        self.fd = fd
        self.path = path
        self.connected = connected
        self.writable = connected
        self.reader = HTTPMessageReader(.response, configuration: path.responseHeads)
        id = path.reactor.add(self)
        path.reactor.watch(fd, for: id)
        path.context.upstreamConnections.open += 1
        if !connected {
            connectTimer = path.reactor.schedule(after: path.connectTimeoutMilliseconds, for: id, tag: Self.connectTimerTag)
        }
    }

    /// The next response answers a request of `method` (see `UpstreamConnection.expectResponse`).
    func expectResponse(to method: HTTPMethodName, dechunk: Bool) {
        if inRead {
            deferredExpectation = (method, dechunk)
        } else {
            reader.expectResponse(to: method, dechunk: dechunk)
        }
    }

    // MARK: Writing

    /// `recycle`: a head built in one of the loop's head buffers, given back once written.
    func write(_ bytes: ByteBuffer, recycle: Bool = false) {
        out.append(bytes, recycle: recycle)
        if out.bytes > OutboundQueue.highWater { isWritable = false }
    }

    /// Writes what is queued; a failure closes the connection (the delegate hears it).
    func flush() {
        guard connected, writable, !closed, !out.isEmpty || shutdownPending else { return }
        switch out.flush(to: fd, recyclingInto: path.headBuffers) {
        case .done:
            break
        case .blocked:
            writable = false
        case .failed:
            fail("the upstream connection was reset while the request was being sent")
            return
        }
        if shutdownPending, out.isEmpty {
            shutdownPending = false
            Socket.shutdownWrite(fd)
        }
        if !isWritable, out.bytes < OutboundQueue.lowWater {
            isWritable = true
            delegate?.upstreamWritabilityChanged(self)
        }
    }

    var hasQueuedBytes: Bool { !out.isEmpty }

    /// Reading follows the client's pace: paused while the client's queue is full.
    func setReading(_ reading: Bool) {
        guard reading != self.reading else { return }
        self.reading = reading
        // Resumed from inside a chain of calls (the client's flush, itself inside a read): read at
        // the end of the turn, not recursively, so a long download does not grow the stack.
        if reading, readable, !resumeRequested {
            resumeRequested = true
            path.reactor.runAtEndOfTurn(id)
        }
    }

    private var resumeRequested = false

    func turnEnded(tag: UInt8, reactor: Reactor) {
        resumeRequested = false
        if !closed, reading, readable { readAvailable() }
    }

    // MARK: Events

    func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
        if closed { return }
        if !connected {
            guard readiness.isWritable else { return }
            finishConnect()
            if closed || !connected { return }
        }
        if readiness.isWritable {
            writable = true
            flush()
            if closed { return }
        }
        if readiness.isReadable {
            readable = true
            if readiness.isPeerClosed { peerClosed = true }
            readAvailable()
        }
    }

    private func finishConnect() {
        if let timer = connectTimer {
            path.reactor.cancel(timer)
            connectTimer = nil
        }
        if let error = Socket.pendingConnectError(fd) {
            let reason = String(cString: strerror(error)).lowercased()
            let delegate = self.delegate
            self.delegate = nil
            close()
            delegate?.upstream(self, connectFailed: reason)
            return
        }
        connected = true
        writable = true
        Socket.setNoDelay(fd)
        delegate?.upstreamConnected(self)
    }

    func timerFired(tag: UInt8, reactor: Reactor) {
        guard tag == Self.connectTimerTag, !connected, !closed else { return }
        connectTimer = nil
        let delegate = self.delegate
        self.delegate = nil
        close()
        delegate?.upstream(self, connectFailed: "connect timed out")
    }

    private func readAvailable() {
        guard !inRead else { return }
        inRead = true
        var delivered = false
        while readable, reading, !closed {
            path.readBuffers.prepare(&inbound)
            let (result, slice, full) = inbound!.read(from: fd)
            switch result {
            case .transferred:
                // A short read emptied the socket's queue (stream sockets): skip the read that
                // would say EAGAIN, unless the peer closed, whose end of file is still to read.
                if !full, !peerClosed { readable = false }
                delivered = true
                deliver(slice!)
            case .wouldBlock:
                readable = false
            case .endOfFile:
                readable = false
                endOfInput()
            case .reset, .failed:
                readable = false
                reusable = false
                fail(UpstreamError.connectionClosed.description)
            }
        }
        inRead = false
        if let (method, dechunk) = deferredExpectation, !closed {
            deferredExpectation = nil
            reader.expectResponse(to: method, dechunk: dechunk)
        }
        if delivered, !closed { delegate?.upstreamReadComplete(self) }
        if delegate == nil || closed { path.readBuffers.recycle(&inbound) }
    }

    private func deliver(_ bytes: ByteBuffer) {
        if isTunnel {
            delegate?.upstream(self, receivedOpaque: bytes)
            return
        }
        do {
            try reader.read(bytes) { event in
                switch event {
                case let .head(head, bytes):
                    if !head.isKeepAlive(in: bytes) || head.framing == .untilClose { reusable = false }
                    guard let delegate else {
                        // A response nobody asked for: the connection is out of sync.
                        close()
                        return
                    }
                    delegate.upstream(self, receivedHead: head, bytes: bytes)
                case let .body(body, _):
                    delegate?.upstream(self, receivedBody: body)
                case .end:
                    delegate?.upstreamReceivedEnd(self)
                case let .opaque(bytes):
                    delegate?.upstream(self, receivedOpaque: bytes)
                }
            }
        } catch {
            // A response the strict parser refuses: never passed on, never reused.
            reusable = false
            fail(UpstreamError.malformedResponse(error).description)
        }
    }

    /// The upstream closed its side.
    private func endOfInput() {
        if isTunnel {
            delegate?.upstreamTunnelEnded(self)
            return
        }
        reusable = false
        if reader.readEndOfInput({ _ in }) == .endedBody, let delegate {
            delegate.upstreamReceivedEnd(self)
        }
        fail(UpstreamError.connectionClosed.description)
    }

    /// Tells the delegate (if any) and closes.
    private func fail(_ reason: String) {
        let delegate = self.delegate
        self.delegate = nil
        close()
        delegate?.upstream(self, failed: reason)
    }

    /// After a `101`: never pooled again; what it reads goes to the delegate as it comes.
    func convertToTunnel() {
        reusable = false
        isTunnel = true
    }

    /// Ends the request side (the tunnel's half-close), once every queued byte is written.
    func shutdownWriteWhenFlushed() {
        if out.isEmpty { Socket.shutdownWrite(fd) } else { shutdownPending = true }
    }
    private var shutdownPending = false

    func shutdown(reactor: Reactor) {
        close()
    }

    func close() {
        guard !closed else { return }
        closed = true
        reusable = false
        if let timer = connectTimer {
            path.reactor.cancel(timer)
            connectTimer = nil
        }
        out.removeAll()
        path.reactor.remove(id)
        Socket.close(fd)
        path.context.upstreamConnections.open -= 1
        path.readBuffers.recycle(&inbound)
        path.upstreamPool.forget(self)
    }
}

@available(*, unavailable)
extension LoopUpstream: Sendable {}

/// Keep-alive connections to the upstream, one pool per loop (as `UpstreamPool`): most recently
/// used last, at most `maximumIdle`.
final class LoopUpstreamPool {
    private var idle: [LoopUpstream] = []
    private let maximumIdle: Int
    let endpoint: IPv4Endpoint

    init(endpoint: IPv4Endpoint, maximumIdle: Int = 256) {
        self.endpoint = endpoint
        self.maximumIdle = maximumIdle
        idle.reserveCapacity(16)
    }

    func idleConnection() -> LoopUpstream? {
        while let connection = idle.popLast() {
            if !connection.closed, connection.reusable { return connection }
        }
        return nil
    }

    /// A new connection, connecting (the delegate hears when it is made) or already made.
    enum Connecting {
        case connection(LoopUpstream)
        case failed(String)
    }

    func connect(path: LoopDataPath) -> Connecting {
        switch Socket.connect(to: endpoint) {
        case let .connected(fd):
            Socket.setNoDelay(fd)
            return .connection(LoopUpstream(fd: fd, connected: true, path: path))
        case let .inProgress(fd):
            return .connection(LoopUpstream(fd: fd, connected: false, path: path))
        case let .failed(code):
            return .failed(String(cString: strerror(code)).lowercased())
        }
    }

    func release(_ connection: LoopUpstream) {
        connection.delegate = nil
        guard connection.reusable, !connection.closed, !connection.hasQueuedBytes, idle.count < maximumIdle else {
            connection.close()
            return
        }
        // Keep reading while idle: an upstream that closes the connection is noticed now.
        connection.setReading(true)
        idle.append(connection)
    }

    func forget(_ connection: LoopUpstream) {
        if let index = idle.lastIndex(where: { $0 === connection }) { idle.remove(at: index) }
    }

    func closeAll() {
        let connections = idle
        idle.removeAll()
        for connection in connections { connection.close() }
    }
}

@available(*, unavailable)
extension LoopUpstreamPool: Sendable {}
