/// The bytes of one direction of a connection, in at most one slab used as a ring: read into the
/// free space (`readv` when it wraps), written from the held bytes (`sendmsg` of two segments when
/// they wrap), the slab given back the moment it is empty. A value type: it lives inline in its
/// connection, and the pool it borrows from is passed in (one per loop).
public struct SlabRing {
    public private(set) var slab: UnsafeMutableRawPointer?
    /// Offset of the first held byte.
    public private(set) var start = 0
    /// Bytes held.
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// One read from `fd` into all the free space; takes a slab if none is held and gives it back
    /// if nothing was read into an empty ring. The caller makes sure there is free space.
    @inline(__always)
    public mutating func fill(from fd: Int32, pool: SlabPool) -> IOResult {
        let capacity = pool.slabSize
        let base: UnsafeMutableRawPointer
        if let slab { base = slab } else {
            base = pool.acquire()
            slab = base
            start = 0
        }
        let end = start + count
        let result: IOResult
        if end >= capacity {
            // Held bytes wrap: the free space is one run before `start`.
            result = Socket.read(fd, into: base + (end - capacity), count: capacity - count)
        } else if start == 0 {
            result = Socket.read(fd, into: base + end, count: capacity - end)
        } else {
            result = Socket.readv(fd, base + end, capacity - end, base, start)
        }
        if case let .transferred(n) = result {
            count += n
        } else if count == 0 {
            pool.release(base)
            slab = nil
        }
        return result
    }

    /// One write of every held byte to `fd`; the slab goes back to the pool once all are written.
    @inline(__always)
    public mutating func drain(to fd: Int32, pool: SlabPool) -> IOResult {
        guard let base = slab, count > 0 else { return .wouldBlock }
        let capacity = pool.slabSize
        let end = start + count
        let result: IOResult
        if end <= capacity {
            result = Socket.write(fd, from: base + start, count: count)
        } else {
            result = Socket.writev(fd, base + start, capacity - start, base, end - capacity)
        }
        if case let .transferred(n) = result {
            count -= n
            if count == 0 {
                pool.release(base)
                slab = nil
                start = 0
            } else {
                start += n
                if start >= capacity { start -= capacity }
            }
        }
        return result
    }

    /// Drops what is held (the connection is closing) and gives the slab back.
    public mutating func release(to pool: SlabPool) {
        if let slab { pool.release(slab) }
        slab = nil
        start = 0
        count = 0
    }
}
