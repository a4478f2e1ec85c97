import NIOCore

/// Upstream response deadlines for one event loop, checked by one repeating sweep instead of a
/// timer per request: scheduling and cancelling a timer for every request re-arms the loop's timer
/// (a syscall each time). A deadline fires within one sweep interval of its time.
final class UpstreamDeadlines {
    static let sweepInterval: TimeAmount = .milliseconds(50)

    private var pending: [ObjectIdentifier: (deadline: NIODeadline, owner: any UpstreamDeadlineOwner)] = [:]
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

    /// Registers (or replaces) `owner`'s deadline; `owner.upstreamDeadlinePassed()` runs on this
    /// loop if it passes. No closure per request: the owner is told.
    func set(_ owner: some UpstreamDeadlineOwner, deadline: NIODeadline) {
        pending[ObjectIdentifier(owner)] = (deadline, owner)
    }

    func clear(_ owner: AnyObject) {
        pending.removeValue(forKey: ObjectIdentifier(owner))
    }

    private func sweep() {
        guard !pending.isEmpty else { return }
        let now = NIODeadline.now()
        let expired = pending.filter { $0.value.deadline <= now }
        for (key, entry) in expired {
            pending.removeValue(forKey: key)
            entry.owner.upstreamDeadlinePassed()
        }
    }
}

@available(*, unavailable)
extension UpstreamDeadlines: Sendable {}

/// Whoever waits for an upstream response (the client connection's handler).
protocol UpstreamDeadlineOwner: AnyObject {
    func upstreamDeadlinePassed()
}
