import TollgateLoop

/// An upstream for the forwarder's tests, on the loop itself: every connection gets back what it
/// sends (one `ByteRelay` from the socket to itself, so back-pressure and half-close hold here too).
final class EchoServer: LoopHandler {
    private let listener: Int32
    private var id: HandlerID?

    init(listener: Int32, reactor: Reactor) {
        self.listener = listener
        let id = reactor.add(self)
        self.id = id
        reactor.watch(listener, for: id, interest: .readable)
    }

    func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
        while case let .accepted(fd) = Socket.accept(listener) {
            EchoConnection.start(fd, reactor)
        }
    }

    func timerFired(tag: UInt8, reactor: Reactor) {}

    func shutdown(reactor: Reactor) {
        Socket.close(listener)
        if let id { reactor.remove(id) }
        id = nil
    }
}

final class EchoConnection: LoopHandler {
    private let fd: Int32
    private var relay = ByteRelay()
    private var id = HandlerID?.none
    private var closed = false

    private init(_ fd: Int32) { self.fd = fd }

    static func start(_ fd: Int32, _ reactor: Reactor) {
        let connection = EchoConnection(fd)
        let id = reactor.add(connection)
        connection.id = id
        reactor.watch(fd, for: id)
    }

    func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
        relay.noteSource(readiness)
        if readiness.isWritable { relay.destinationWritable = true }
        switch relay.pump(from: fd, to: fd, pool: reactor.pool) {
        case .waiting: break
        case .finished, .failed: close(reactor)
        }
    }

    func timerFired(tag: UInt8, reactor: Reactor) {}

    func shutdown(reactor: Reactor) { close(reactor) }

    private func close(_ reactor: Reactor) {
        guard !closed else { return }
        closed = true
        Socket.close(fd)
        relay.release(to: reactor.pool)
        if let id { reactor.remove(id) }
    }
}
