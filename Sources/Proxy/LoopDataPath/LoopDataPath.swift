import CEventLoopShim
import Core
import NIOCore
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// What one loop of the data path owns besides its `LoopContext`: the reactor, its listener, its
/// upstream keep-alive pool, its read buffers and its client connections. Built on the loop's own
/// thread; touched only there.
final class LoopDataPath {
    let reactor: Reactor
    let context: LoopContext
    let upstreamPool: LoopUpstreamPool
    let readBuffers = LoopBufferCache()
    /// Buffers the forwarded heads are built in, back once written: no allocation per head.
    let headBuffers = LoopBufferCache(size: 2048)
    let allocator = ByteBufferAllocator()
    let responseHeads = HTTPHeadParser.Configuration(maxHeadBytes: 65_536, maxFieldCount: 1_000)
    let connectTimeoutMilliseconds: UInt64
    var connections: [ObjectIdentifier: LoopProxyConnection] = [:]
    private var listener: LoopListener?
    /// Set once a graceful shutdown began: the loop stops when its last connection closes.
    private var draining = false
    /// Told (on the loop) when draining ends: no connection left.
    var onDrained: (() -> Void)?

    init(reactor: Reactor, context: LoopContext, upstream: IPv4Endpoint) {
        self.reactor = reactor
        self.context = context
        self.upstreamPool = LoopUpstreamPool(endpoint: upstream)
        self.connectTimeoutMilliseconds = UInt64(max(1, context.configuration.upstreamConnectTimeout.nanoseconds / 1_000_000))
    }

    /// Starts accepting on `listenFD` (a `SO_REUSEPORT` socket of this loop's own).
    func startListening(on listenFD: Int32) {
        listener = LoopListener(fd: listenFD, path: self)
    }

    /// Graceful shutdown: stop accepting, close idle connections now and busy ones after their
    /// response; `onDrained` once none is left.
    func beginDrain() {
        listener?.close()
        listener = nil
        draining = true
        for connection in Array(connections.values) { connection.quiesce() }
        if connections.isEmpty { drained() }
    }

    func connectionClosed() {
        if draining, connections.isEmpty { drained() }
    }

    private func drained() {
        let callback = onDrained
        onDrained = nil
        callback?()
    }

    /// Closes whatever is left (the end of the drain timeout, or stop).
    func closeEverything() {
        listener?.close()
        listener = nil
        for connection in Array(connections.values) { connection.close() }
        upstreamPool.closeAll()
    }
}

@available(*, unavailable)
extension LoopDataPath: Sendable {}

/// A loop's listening socket: accepts until `EAGAIN`, one `LoopProxyConnection` per client.
final class LoopListener: LoopHandler {
    private let fd: Int32
    private var id: HandlerID!
    /// `unowned(unsafe)`: the loop's data path outlives every connection and listener on it (they are
    /// closed before it goes), and a checked `unowned` costs a retain and a release per use.
    private unowned(unsafe) let path: LoopDataPath
    private var closed = false
    private static let retryTag: UInt8 = 1

    init(fd: Int32, path: LoopDataPath) {
        self.fd = fd
        self.path = path
        id = path.reactor.add(self)
        path.reactor.watch(fd, for: id, interest: .readable)
    }

    func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
        acceptAll()
    }

    func timerFired(tag: UInt8, reactor: Reactor) {
        acceptAll()
    }

    private func acceptAll() {
        while !closed {
            switch Socket.accept(fd) {
            case let .accepted(client):
                Socket.setNoDelay(client)
                _ = LoopProxyConnection(fd: client, peer: Self.peerAddress(client), path: path)
            case .wouldBlock:
                return
            case let .failed(code):
                if code == EMFILE || code == ENFILE {
                    // Edge-triggered: no new edge comes for connections already queued; retry.
                    path.reactor.schedule(after: 100, for: id, tag: Self.retryTag)
                }
                return
            }
        }
    }

    func shutdown(reactor: Reactor) {
        close()
    }

    func close() {
        guard !closed else { return }
        closed = true
        path.reactor.remove(id)
        Socket.close(fd)
    }

    /// The client's IPv4 address as text (what `remoteAddress.ipAddress` says on the NIO path).
    static func peerAddress(_ fd: Int32) -> String {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard result == 0, address.sin_family == sa_family_t(AF_INET) else { return "unknown" }
        let a = UInt32(bigEndian: address.sin_addr.s_addr)
        return "\(a >> 24).\((a >> 16) & 0xFF).\((a >> 8) & 0xFF).\(a & 0xFF)"
    }
}

@available(*, unavailable)
extension LoopListener: Sendable {}
