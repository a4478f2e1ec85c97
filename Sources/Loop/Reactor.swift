import CEventLoopShim

#if canImport(Glibc)
    import Glibc
#endif

/// What a readiness event says about a file descriptor (the epoll bits, unpacked by the shim).
/// Edge-triggered: each is a change since the last report, so the handler remembers readiness
/// until a call returns `wouldBlock`.
public struct Readiness: Sendable, Equatable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    // Linux ABI values (checked against <sys/epoll.h> by ReactorTests).
    static let epollIn: UInt32 = 0x001
    static let epollOut: UInt32 = 0x004
    static let epollErr: UInt32 = 0x008
    static let epollHup: UInt32 = 0x010
    static let epollRdHup: UInt32 = 0x2000
    static let epollET: UInt32 = 1 << 31

    /// Bytes (or an end of file, or an error) to read. An error or hang-up counts as readable and
    /// writable: the next call reports it as an `IOResult`.
    @inline(__always) public var isReadable: Bool { rawValue & (Self.epollIn | Self.epollRdHup | Self.epollHup | Self.epollErr) != 0 }
    @inline(__always) public var isWritable: Bool { rawValue & (Self.epollOut | Self.epollHup | Self.epollErr) != 0 }
    /// The peer shut its writing side (or the connection is gone): read until end of file even if
    /// a read comes back short.
    @inline(__always) public var isPeerClosed: Bool { rawValue & (Self.epollRdHup | Self.epollHup | Self.epollErr) != 0 }
    @inline(__always) public var isError: Bool { rawValue & Self.epollErr != 0 }
}

/// What a descriptor is watched for. Always edge-triggered (and with `EPOLLRDHUP` when readable).
public struct Interest: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = Interest(rawValue: Readiness.epollIn | Readiness.epollRdHup)
    public static let writable = Interest(rawValue: Readiness.epollOut)
    /// Both, registered once for the connection's life: with edge triggering nothing is re-armed
    /// when a write would block; the next writable edge arrives by itself (nginx's choice too).
    public static let both: Interest = [.readable, .writable]
}

/// An object the loop delivers events to: a connection, a listener. It owns its descriptors and
/// closes them; the loop only routes events by token.
public protocol LoopHandler: AnyObject {
    /// A descriptor this handler watches with `tag` changed readiness.
    func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor)
    /// A timer this handler scheduled with `tag` is due.
    func timerFired(tag: UInt8, reactor: Reactor)
    /// The loop stops: close everything, give buffers back, `remove` yourself.
    func shutdown(reactor: Reactor)
    /// Asked for with `runAtEndOfTurn`: this turn's events and timers are all handled (e.g. write
    /// the Redis commands the turn's requests made, in one write).
    func turnEnded(tag: UInt8, reactor: Reactor)
}

extension LoopHandler {
    public func turnEnded(tag: UInt8, reactor: Reactor) {}
}

/// A handler's place in its loop. Events and timers carry it as a token (slot, generation, tag),
/// so an event that arrives after the handler was removed — the same `epoll_wait` batch, a timer
/// already collected — finds another generation and is dropped.
public struct HandlerID: Hashable, Sendable {
    let slot: UInt32
    let generation: UInt32

    @inline(__always)
    func token(tag: UInt8) -> UInt64 {
        UInt64(slot) | (UInt64(generation & 0xFF_FFFF) << 32) | (UInt64(tag) << 56)
    }
}

/// One event loop: an epoll instance (edge-triggered), a timer wheel that sets `epoll_wait`'s
/// timeout, a slab pool, and the handlers it routes events to. Everything runs on the thread that
/// calls `run()`; nothing in here takes a lock, and the only cross-thread entry is `LoopSignal`.
public final class Reactor {
    public struct Configuration: Sendable {
        public var slabSize = 16 * 1024
        public var maxCachedSlabs = 256
        /// Events taken per `epoll_wait`.
        public var eventBatch = 256
        public var timerSlots = 1024
        public init() {}
    }

    public let pool: SlabPool
    public let signal: LoopSignal
    /// Called on the loop when a signal arrives, before a stop takes effect.
    public var onSignal: ((LoopSignal.Request, Reactor) -> Void)?
    /// Milliseconds (CLOCK_MONOTONIC), read once per wake-up.
    public private(set) var now: UInt64

    private let epollFD: Int32
    private let events: UnsafeMutableRawPointer
    private let eventCapacity: Int32
    private var wheel: TimerWheel
    private var expired: [UInt64] = []
    private var endOfTurn: [UInt64] = []
    private var endOfTurnRunning: [UInt64] = []

    private struct Entry {
        var handler: (any LoopHandler)?
        var generation: UInt32
    }
    private var entries: [Entry] = []
    private var freeSlots: [UInt32] = []
    public private(set) var handlerCount = 0
    private var running = false
    private static let signalToken = UInt64.max

    public struct StartError: Error, CustomStringConvertible {
        public let code: Int32
        public var description: String { "cannot create the event loop: \(String(cString: strerror(code)))" }
    }

    public init(signal: LoopSignal = LoopSignal(), configuration: Configuration = .init()) throws(StartError) {
        let fd = tg_epoll_create()
        if fd < 0 { throw StartError(code: -fd) }
        epollFD = fd
        self.signal = signal
        pool = SlabPool(slabSize: configuration.slabSize, maxCached: configuration.maxCachedSlabs)
        eventCapacity = Int32(configuration.eventBatch)
        events = UnsafeMutableRawPointer.allocate(
            byteCount: tg_epoll_event_size() * configuration.eventBatch, alignment: 8)
        now = tg_monotonic_ms()
        wheel = TimerWheel(slotCount: configuration.timerSlots, now: now)
        expired.reserveCapacity(64)
        endOfTurn.reserveCapacity(16)
        endOfTurnRunning.reserveCapacity(16)
        let added = tg_epoll_ctl(fd, 1, signal.eventFD, Readiness.epollIn | Readiness.epollET, Self.signalToken)
        if added < 0 {
            Socket.close(fd)
            events.deallocate()
            throw StartError(code: -added)
        }
    }

    deinit {
        // The signal's eventfd belongs to the signal; leave the epoll instance and its memory.
        Socket.close(epollFD)
        events.deallocate()
    }

    // MARK: Handlers

    public func add(_ handler: any LoopHandler) -> HandlerID {
        handlerCount += 1
        if let slot = freeSlots.popLast() {
            entries[Int(slot)].handler = handler
            return HandlerID(slot: slot, generation: entries[Int(slot)].generation)
        }
        entries.append(Entry(handler: handler, generation: 1))
        return HandlerID(slot: UInt32(entries.count - 1), generation: 1)
    }

    /// The handler gets no more events or timers (those already collected are dropped); its slot
    /// is reused with a new generation.
    public func remove(_ id: HandlerID) {
        let slot = Int(id.slot)
        guard slot < entries.count, entries[slot].generation == id.generation, entries[slot].handler != nil else { return }
        entries[slot].handler = nil
        entries[slot].generation = (entries[slot].generation &+ 1) & 0xFF_FFFF
        freeSlots.append(id.slot)
        handlerCount -= 1
    }

    // MARK: Descriptors

    /// Watches `fd` for `handler`, edge-triggered; 0 or -errno. Closing the descriptor unwatches it
    /// (no `unwatch` needed when the handler owns the only copy).
    @discardableResult
    public func watch(_ fd: Int32, for handler: HandlerID, tag: UInt8 = 0, interest: Interest = .both) -> Int32 {
        tg_epoll_ctl(epollFD, 1, fd, interest.rawValue | Readiness.epollET, handler.token(tag: tag))
    }

    /// Changes what `fd` is watched for (the edge is re-evaluated at once, as on `watch`).
    @discardableResult
    public func rewatch(_ fd: Int32, for handler: HandlerID, tag: UInt8 = 0, interest: Interest) -> Int32 {
        tg_epoll_ctl(epollFD, 3, fd, interest.rawValue | Readiness.epollET, handler.token(tag: tag))
    }

    @discardableResult
    public func unwatch(_ fd: Int32) -> Int32 {
        tg_epoll_ctl(epollFD, 2, fd, 0, 0)
    }

    // MARK: Timers

    /// `handler.timerFired(tag:)` in about `milliseconds` (the tick is 1 ms; never early).
    @discardableResult
    public func schedule(after milliseconds: UInt64, for handler: HandlerID, tag: UInt8 = 0) -> TimerID {
        wheel.schedule(at: now &+ max(milliseconds, 1), payload: handler.token(tag: tag))
    }

    @discardableResult
    public func cancel(_ timer: TimerID) -> Bool {
        wheel.cancel(timer)
    }

    public var scheduledTimers: Int { wheel.count }

    // MARK: End of turn

    /// `handler.turnEnded(tag:)` once this turn's events and timers are handled: once per call (a
    /// handler that wants one call per turn keeps a flag); asked from `turnEnded` itself, it runs
    /// again before the loop sleeps.
    public func runAtEndOfTurn(_ handler: HandlerID, tag: UInt8 = 0) {
        endOfTurn.append(handler.token(tag: tag))
    }

    private func runEndOfTurn() {
        while !endOfTurn.isEmpty {
            swap(&endOfTurn, &endOfTurnRunning)
            var index = 0
            while index < endOfTurnRunning.count {
                let token = endOfTurnRunning[index]
                index += 1
                if let handler = handler(for: token) {
                    handler.turnEnded(tag: UInt8(truncatingIfNeeded: token >> 56), reactor: self)
                }
            }
            endOfTurnRunning.removeAll(keepingCapacity: true)
        }
    }

    // MARK: Running

    /// Runs until a `.stop` request (from `signal`, any thread) or `stop()` (this thread); then
    /// every handler still registered is shut down.
    public func run() {
        running = true
        while running {
            let count = tg_epoll_wait(epollFD, events, eventCapacity, wheel.timeout(now: now))
            now = tg_monotonic_ms()
            if count < 0 {
                if count == -EINTR { continue }
                fatalError("epoll_wait failed: errno \(-count)")
            }
            var index: Int32 = 0
            while index < count {
                let token = tg_epoll_event_token(events, index)
                let bits = tg_epoll_event_events(events, index)
                index += 1
                if token == Self.signalToken {
                    handleSignal()
                } else {
                    dispatch(token: token, readiness: Readiness(rawValue: bits))
                }
            }
            if wheel.count > 0 { fireTimers() }
            if !endOfTurn.isEmpty { runEndOfTurn() }
        }
        shutdownHandlers()
    }

    /// Stops after the current turn (from the loop's own thread).
    public func stop() {
        running = false
    }

    @inline(__always)
    private func handler(for token: UInt64) -> (any LoopHandler)? {
        let slot = Int(truncatingIfNeeded: token & 0xFFFF_FFFF)
        let generation = UInt32(truncatingIfNeeded: (token >> 32) & 0xFF_FFFF)
        guard slot < entries.count, entries[slot].generation == generation else { return nil }
        return entries[slot].handler
    }

    @inline(__always)
    private func dispatch(token: UInt64, readiness: Readiness) {
        guard let handler = handler(for: token) else { return }
        handler.ready(readiness, tag: UInt8(truncatingIfNeeded: token >> 56), reactor: self)
    }

    private func fireTimers() {
        wheel.advance(to: now, into: &expired)
        guard !expired.isEmpty else { return }
        var index = 0
        while index < expired.count {
            let token = expired[index]
            index += 1
            if let handler = handler(for: token) {
                handler.timerFired(tag: UInt8(truncatingIfNeeded: token >> 56), reactor: self)
            }
        }
        expired.removeAll(keepingCapacity: true)
    }

    private func handleSignal() {
        let request = signal.take()
        if request.isEmpty { return }
        onSignal?(request, self)
        if request.contains(.stop) { running = false }
    }

    private func shutdownHandlers() {
        var slot = 0
        while slot < entries.count {
            if let handler = entries[slot].handler { handler.shutdown(reactor: self) }
            slot += 1
        }
    }
}

@available(*, unavailable)
extension Reactor: Sendable {}
