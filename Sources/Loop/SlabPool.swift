#if canImport(Glibc)
    import Glibc
#endif

/// Fixed-size buffers for one loop. A connection takes a slab when it reads and gives it back as
/// soon as every byte in it is written, so an idle connection holds none and, once the pool has
/// grown to the loop's working set, a steady stream of requests allocates nothing.
///
/// Not thread-safe: one pool per loop, used only from that loop's thread. The counters are what
/// leak tests read: `outstanding` is back to zero when no connection holds bytes.
public final class SlabPool {
    public let slabSize: Int
    /// Free slabs kept for reuse; beyond this, released slabs go back to the allocator (so a burst
    /// does not pin its peak memory for ever).
    public let maxCached: Int
    private var free: [UnsafeMutableRawPointer] = []

    /// Slabs handed out and not yet released.
    public private(set) var outstanding = 0
    /// The most slabs ever outstanding at once.
    public private(set) var highWater = 0
    /// Slabs currently allocated from the system: outstanding plus cached.
    public private(set) var allocated = 0
    /// Calls to the allocator over the pool's life (steady state: this stops growing).
    public private(set) var allocations = 0

    public init(slabSize: Int = 16 * 1024, maxCached: Int = 256) {
        precondition(slabSize > 0 && maxCached >= 0)
        self.slabSize = slabSize
        self.maxCached = maxCached
        free.reserveCapacity(maxCached)
    }

    deinit {
        for slab in free { Glibc.free(slab) }
    }

    public var cached: Int { free.count }

    @inline(__always)
    public func acquire() -> UnsafeMutableRawPointer {
        outstanding += 1
        if outstanding > highWater { highWater = outstanding }
        if let slab = free.popLast() { return slab }
        allocated += 1
        allocations += 1
        guard let slab = malloc(slabSize) else { fatalError("SlabPool: out of memory (\(slabSize) bytes)") }
        return slab
    }

    @inline(__always)
    public func release(_ slab: UnsafeMutableRawPointer) {
        outstanding -= 1
        if free.count < maxCached {
            free.append(slab)
        } else {
            allocated -= 1
            Glibc.free(slab)
        }
    }

    /// Gives every cached slab back to the allocator.
    public func trim() {
        for slab in free { Glibc.free(slab) }
        allocated -= free.count
        free.removeAll(keepingCapacity: true)
    }
}

@available(*, unavailable)
extension SlabPool: Sendable {}
