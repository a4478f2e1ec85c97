/// One direction of a byte stream between two sockets (or a socket and itself, for an echo):
/// read from the source into a slab ring, write to the destination, with the edge-triggered
/// readiness of both remembered here.
///
/// Back-pressure: when the ring is full because the destination's writes would block, the source
/// is simply not read; its readable edge stays remembered, and the destination's next writable
/// edge (always armed, see `Interest.both`) drains the ring and reading resumes. No `epoll_ctl`.
///
/// Half-close: the source's end of file is passed on as `shutdown(SHUT_WR)` of the destination
/// once every held byte is written; the other direction carries on.
public struct ByteRelay {
    public var ring = SlabRing()
    /// The source had a readable edge not yet used up.
    public var sourceReadable = false
    /// The source's peer shut its side: short reads no longer mean the socket is drained.
    public var sourcePeerClosed = false
    /// The destination had a writable edge not yet used up (and is connected).
    public var destinationWritable = false
    public private(set) var sourceEnded = false
    public private(set) var destinationShut = false

    public enum Outcome: Equatable {
        /// Waiting for an edge.
        case waiting
        /// End of file passed on: nothing more will move this way.
        case finished
        /// A read or write failed (reset or worse): close the connection.
        case failed(IOResult)
    }

    public init() {}

    public mutating func noteSource(_ readiness: Readiness) {
        if readiness.isReadable { sourceReadable = true }
        if readiness.isPeerClosed { sourcePeerClosed = true }
    }

    /// Moves what can move now. `destinationReady` is false while the destination is still
    /// connecting (bytes are read and held, not written).
    public mutating func pump(from source: Int32, to destination: Int32, pool: SlabPool, destinationReady: Bool = true) -> Outcome {
        if destinationShut { return .finished }
        while true {
            if destinationWritable, destinationReady, !ring.isEmpty {
                switch ring.drain(to: destination, pool: pool) {
                case .transferred:
                    // A partial write means the socket's buffer is full: wait for its edge.
                    if !ring.isEmpty { destinationWritable = false }
                case .wouldBlock:
                    destinationWritable = false
                case let other:
                    return .failed(other)
                }
            }
            if sourceEnded {
                guard ring.isEmpty, destinationReady else { return .waiting }
                if case let .failed(code) = Socket.shutdownWrite(destination), code != 0 { return .failed(.failed(code)) }
                destinationShut = true
                return .finished
            }
            guard sourceReadable, ring.count < pool.slabSize else { return .waiting }
            let room = pool.slabSize - ring.count
            switch ring.fill(from: source, pool: pool) {
            case let .transferred(n):
                // A read shorter than the room took everything the socket had (a stream socket
                // returns less only when its queue is empty); the next arrival is a new edge. Saves
                // the read that would return EAGAIN, as nginx does with EPOLLRDHUP.
                if n < room, !sourcePeerClosed { sourceReadable = false }
            case .wouldBlock:
                sourceReadable = false
                if ring.isEmpty || !(destinationWritable && destinationReady) { return .waiting }
            case .endOfFile:
                sourceEnded = true
                sourceReadable = false
            case let other:
                return .failed(other)
            }
        }
    }

    /// Gives the held slab back (the connection is closing).
    public mutating func release(to pool: SlabPool) {
        ring.release(to: pool)
    }
}
