import NIOCore

/// Upstream response deadlines for one event loop, checked by one repeating sweep instead of a
/// timer per request: scheduling and cancelling a timer for every request re-arms the loop's timer
/// (a syscall each time). A deadline fires within one sweep interval of its time.
///
/// A deadline is a field of its owner (the client connection): setting and clearing one per
/// request is a store, not a dictionary insert and remove. Owners join once per connection.
final class UpstreamDeadlines {
    static let sweepInterval: TimeAmount = .milliseconds(50)

    private var owners: [ObjectIdentifier: any UpstreamDeadlineOwner] = [:]
    private var sweeper: Scheduled<Void>?

    /// Sweeps every `sweepInterval` on `loop` until `stop()`.
    func start(on loop: any EventLoop) {
        sweeper = loop.assumeIsolated().scheduleTask(in: Self.sweepInterval) { [self] in
            sweep()
            start(on: loop)
        }
    }

    func stop() {
        sweeper?.cancel()
        sweeper = nil
    }

    /// Once per connection: its deadlines are swept from now on.
    func add(_ owner: some UpstreamDeadlineOwner) {
        owners[ObjectIdentifier(owner)] = owner
    }

    func remove(_ owner: some UpstreamDeadlineOwner) {
        owner.upstreamDeadline = nil
        owners.removeValue(forKey: ObjectIdentifier(owner))
    }

    /// Sets (or replaces) `owner`'s deadline; `owner.upstreamDeadlinePassed()` runs on this loop if
    /// it passes. No closure per request: the owner is told.
    @inline(__always)
    func set(_ owner: some UpstreamDeadlineOwner, deadline: NIODeadline) {
        owner.upstreamDeadline = deadline
    }

    @inline(__always)
    func clear(_ owner: some UpstreamDeadlineOwner) {
        owner.upstreamDeadline = nil
    }

    private func sweep() {
        guard !owners.isEmpty else { return }
        let now = NIODeadline.now()
        var expired: [any UpstreamDeadlineOwner] = []
        for owner in owners.values {
            if let deadline = owner.upstreamDeadline, deadline <= now { expired.append(owner) }
        }
        for owner in expired {
            owner.upstreamDeadline = nil
            owner.upstreamDeadlinePassed()
        }
    }
}

@available(*, unavailable)
extension UpstreamDeadlines: Sendable {}

/// Whoever waits for an upstream response (the client connection's handler).
protocol UpstreamDeadlineOwner: AnyObject {
    /// When the upstream must have begun its response; nil while nothing is awaited.
    var upstreamDeadline: NIODeadline? { get set }
    func upstreamDeadlinePassed()
}
