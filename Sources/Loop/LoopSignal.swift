import CEventLoopShim
import Synchronization

/// The one way into a loop from another thread: stop, reload and the like, never a request. The
/// request bits are set atomically and an eventfd the loop watches is bumped; the loop reads the
/// bits once it wakes. Nothing on the request path goes through here.
public final class LoopSignal: Sendable {
    public struct Request: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Stop: the loop closes what it owns and `run()` returns.
        public static let stop = Request(rawValue: 1 << 0)
        /// Reload: the loop picks up a new configuration snapshot (the owner decides what that is).
        public static let reload = Request(rawValue: 1 << 1)
        /// Work handed over from another thread is waiting (the owner keeps the queue: the proxy's
        /// NIO-compatible face of a loop, for reloads, key sets and metrics reads).
        public static let tasks = Request(rawValue: 1 << 2)
    }

    let eventFD: Int32
    private let pending = Atomic<UInt32>(0)

    public init() {
        let fd = tg_eventfd()
        precondition(fd >= 0, "eventfd failed: errno \(-fd)")
        eventFD = fd
    }

    deinit {
        Socket.close(eventFD)
    }

    /// Safe from any thread, any number of times.
    public func request(_ request: Request) {
        pending.bitwiseOr(request.rawValue, ordering: .releasing)
        _ = tg_eventfd_signal(eventFD)
    }

    /// What was asked since the last call (the loop's side).
    func take() -> Request {
        _ = tg_eventfd_drain(eventFD)
        return Request(rawValue: pending.exchange(0, ordering: .acquiring))
    }
}
