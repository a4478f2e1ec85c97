/// Names one scheduled timer; stale once it fired or was cancelled (a reused node has a new
/// generation, so an old id never cancels someone else's timer).
public struct TimerID: Hashable, Sendable {
    let index: Int32
    let generation: UInt32
}

/// A hashed timer wheel with a millisecond tick: schedule and cancel are O(1) (a node in a
/// doubly-linked list per slot, nodes in one array reused through a free list), and advancing
/// visits one slot per elapsed tick. A timer due in more than `slotCount` ticks waits in its slot
/// for the later revolution (its absolute deadline is kept, so it is not fired early).
///
/// Timers fire in deadline order, and in scheduling order within the same tick. The loop sleeps in
/// `epoll_wait` for `timeout(now:)`: a lower bound on the earliest deadline is kept, so an idle
/// wheel with far-away timers does not wake every tick.
///
/// Payloads are opaque 64-bit values (the loop stores the handler's token in them).
public struct TimerWheel {
    private struct Node {
        var deadline: UInt64 = 0
        var payload: UInt64 = 0
        var next: Int32 = -1
        var prev: Int32 = -1
        /// The slot the node is linked in, or -1 when free.
        var slot: Int32 = -1
        var generation: UInt32 = 0
    }

    public let slotCount: Int
    private let mask: UInt64
    private var heads: [Int32]
    private var tails: [Int32]
    private var nodes: [Node] = []
    private var freeHead: Int32 = -1
    /// The last tick processed: every timer with a deadline at or before it has fired.
    public private(set) var current: UInt64
    /// Live timers.
    public private(set) var count = 0
    /// At or before the earliest live deadline (may be earlier after a cancel: then the loop
    /// wakes once for nothing and computes it again).
    private var earliest = UInt64.max

    /// `slotCount` is rounded up to a power of two; `now` is the current tick (milliseconds).
    public init(slotCount: Int = 1024, now: UInt64) {
        var slots = 1
        while slots < slotCount { slots <<= 1 }
        self.slotCount = slots
        mask = UInt64(slots - 1)
        heads = Array(repeating: -1, count: slots)
        tails = Array(repeating: -1, count: slots)
        current = now
    }

    /// Fires at the first `advance` whose `now` reaches `deadline` (never before the next tick).
    @discardableResult
    public mutating func schedule(at deadline: UInt64, payload: UInt64) -> TimerID {
        let deadline = max(deadline, current &+ 1)
        let index: Int32
        if freeHead >= 0 {
            index = freeHead
            freeHead = nodes[Int(index)].next
        } else {
            index = Int32(nodes.count)
            nodes.append(Node())
        }
        let slot = Int32(truncatingIfNeeded: deadline & mask)
        let tail = tails[Int(slot)]
        nodes[Int(index)].deadline = deadline
        nodes[Int(index)].payload = payload
        nodes[Int(index)].slot = slot
        nodes[Int(index)].next = -1
        nodes[Int(index)].prev = tail
        if tail >= 0 { nodes[Int(tail)].next = index } else { heads[Int(slot)] = index }
        tails[Int(slot)] = index
        count += 1
        if deadline < earliest { earliest = deadline }
        return TimerID(index: index, generation: nodes[Int(index)].generation)
    }

    @discardableResult
    public mutating func schedule(after milliseconds: UInt64, payload: UInt64) -> TimerID {
        schedule(at: current &+ milliseconds, payload: payload)
    }

    /// False when the timer already fired or was cancelled.
    @discardableResult
    public mutating func cancel(_ id: TimerID) -> Bool {
        let index = Int(id.index)
        guard index >= 0, index < nodes.count, nodes[index].generation == id.generation, nodes[index].slot >= 0 else {
            return false
        }
        unlinkAndFree(index)
        return true
    }

    public func isScheduled(_ id: TimerID) -> Bool {
        let index = Int(id.index)
        return index >= 0 && index < nodes.count && nodes[index].generation == id.generation && nodes[index].slot >= 0
    }

    private mutating func unlinkAndFree(_ index: Int) {
        let node = nodes[index]
        if node.prev >= 0 { nodes[Int(node.prev)].next = node.next } else { heads[Int(node.slot)] = node.next }
        if node.next >= 0 { nodes[Int(node.next)].prev = node.prev } else { tails[Int(node.slot)] = node.prev }
        nodes[index].slot = -1
        nodes[index].generation &+= 1
        nodes[index].next = freeHead
        freeHead = Int32(index)
        count -= 1
    }

    /// Processes every tick up to `now`, appending the payloads of the timers due, in order, to
    /// `expired` (a buffer the caller reuses, so firing allocates nothing).
    public mutating func advance(to now: UInt64, into expired: inout [UInt64]) {
        guard now > current else { return }
        if count == 0 || now < earliest {
            current = now
            if count == 0 { earliest = .max }
            return
        }
        // Start at the earliest possible deadline: the ticks before it have nothing due.
        var tick = max(current &+ 1, earliest)
        while tick <= now, count > 0 {
            var index = heads[Int(tick & mask)]
            while index >= 0 {
                let next = nodes[Int(index)].next
                if nodes[Int(index)].deadline <= tick {
                    expired.append(nodes[Int(index)].payload)
                    unlinkAndFree(Int(index))
                }
                index = next
            }
            tick &+= 1
        }
        current = now
        earliest = nextDeadline()
    }

    /// The earliest live deadline (`UInt64.max` when none): first the next revolution's slots in
    /// order, then, if all are further away, every node.
    private func nextDeadline() -> UInt64 {
        guard count > 0 else { return .max }
        var best = UInt64.max
        var tick = current &+ 1
        let last = current &+ UInt64(slotCount)
        while tick <= last {
            var index = heads[Int(tick & mask)]
            while index >= 0 {
                if nodes[Int(index)].deadline == tick { return tick }
                best = min(best, nodes[Int(index)].deadline)
                index = nodes[Int(index)].next
            }
            tick &+= 1
        }
        return best
    }

    /// Milliseconds `epoll_wait` may sleep: -1 (for ever) without timers, else until the earliest.
    public func timeout(now: UInt64) -> Int32 {
        guard count > 0 else { return -1 }
        guard earliest > now else { return 0 }
        return Int32(clamping: earliest - now)
    }
}
