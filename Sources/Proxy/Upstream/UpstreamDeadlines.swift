import NIOCore

/// Upstream response deadlines for one event loop, checked by one repeating sweep instead of a
/// timer per request: scheduling and cancelling a timer for every request re-arms the loop's timer
/// (a syscall each time). A deadline fires within one sweep interval of its time.
final class UpstreamDeadlines {
    static let sweepInterval: TimeAmount = .milliseconds(50)

    private var pending: [ObjectIdentifier: (deadline: NIODeadline, expire: () -> Void)] = [:]
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

    /// Registers (or replaces) `owner`'s deadline; `expire` runs on this loop if it passes.
    func set(_ owner: AnyObject, deadline: NIODeadline, expire: @escaping () -> Void) {
        pending[ObjectIdentifier(owner)] = (deadline, expire)
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
            entry.expire()
        }
    }
}

@available(*, unavailable)
extension UpstreamDeadlines: Sendable {}
