import Synchronization
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// A loop on its own thread for a test: an L4 forwarder or an echo server on a listener the test
/// made, and, once stopped, what the loop's pool and forwarder counted.
final class TestLoop: Sendable {
    struct Report: Sendable {
        /// At the stop, before the loop closed what was still open.
        var outstandingSlabs = 0
        var handlers = 0
        var stats = L4Forwarder.Stats()
        /// After the loop closed everything.
        var outstandingSlabsAfterClose = 0
        var slabHighWater = 0
    }

    enum Role: Sendable {
        case forward(listener: Int32, configuration: L4Forwarder.Configuration)
        case echo(listener: Int32)
    }

    private final class Shared: Sendable {
        let report = Mutex<Report?>(nil)
        let running = Mutex(false)
        /// Counters published on a `.reload` request (the test's "how are you now?"), numbered.
        let snapshot = Mutex<(sequence: Int, report: Report)>((0, Report()))
    }

    private let thread: EventLoopThread
    private let shared: Shared

    init(_ role: Role, loopConfiguration: Reactor.Configuration = .init()) {
        let shared = Shared()
        self.shared = shared
        thread = EventLoopThread(name: "test-loop") { signal in
            guard let reactor = try? Reactor(signal: signal, configuration: loopConfiguration) else { fatalError("no reactor") }
            var forwarder: L4Forwarder?
            var echo: EchoServer?
            switch role {
            case let .forward(listener, configuration):
                forwarder = L4Forwarder(listener: listener, configuration: configuration, reactor: reactor)
            case let .echo(listener):
                echo = EchoServer(listener: listener, reactor: reactor)
            }
            var result = Report()
            func current() -> Report {
                var report = Report()
                report.outstandingSlabs = reactor.pool.outstanding
                report.handlers = reactor.handlerCount - 1
                report.slabHighWater = reactor.pool.highWater
                if let forwarder { report.stats = forwarder.stats }
                return report
            }
            reactor.onSignal = { request, reactor in
                if request.contains(.reload) {
                    let now = current()
                    shared.snapshot.withLock { $0 = ($0.sequence + 1, now) }
                }
                if request.contains(.stop) { result = current() }
            }
            shared.running.withLock { $0 = true }
            reactor.run()
            _ = echo
            result.outstandingSlabsAfterClose = reactor.pool.outstanding
            result.slabHighWater = reactor.pool.highWater
            let final = result
            shared.report.withLock { $0 = final }
        }
        while !shared.running.withLock({ $0 }) { usleep(1_000) }
    }

    /// The loop's counters now (asked through its signal, answered from its thread).
    func snapshot() -> Report {
        let before = shared.snapshot.withLock { $0.sequence }
        thread.signal.request(.reload)
        while true {
            let (sequence, report) = shared.snapshot.withLock { $0 }
            if sequence > before { return report }
            usleep(500)
        }
    }

    /// Waits (up to `seconds`) for the loop to hold no connection and no slab — the client side of a
    /// test is done, but the loop may see the last events a moment later — then stops it.
    func stopWhenIdle(seconds: Int = 10) -> Report {
        for _ in 0..<(seconds * 100) {
            let now = snapshot()
            if now.handlers == 0, now.outstandingSlabs == 0 { break }
            usleep(10_000)
        }
        return stop()
    }

    /// Stops the loop, waits for its thread, and returns what it counted.
    func stop() -> Report {
        thread.stop()
        thread.join()
        return shared.report.withLock { $0 }!
    }

    /// A forwarder loop listening on a free loopback port; returns it and the port.
    static func forwarder(to upstream: IPv4Endpoint, configure: (inout L4Forwarder.Configuration) -> Void = { _ in }) throws -> (TestLoop, UInt16) {
        let listener = try Socket.listen(on: IPv4Endpoint("127.0.0.1:0")!, reusePort: false)
        var configuration = L4Forwarder.Configuration(upstream: upstream)
        configure(&configuration)
        return (TestLoop(.forward(listener: listener, configuration: configuration)), Socket.localPort(listener)!)
    }

    static func echo() throws -> (TestLoop, UInt16) {
        let listener = try Socket.listen(on: IPv4Endpoint("127.0.0.1:0")!, reusePort: false)
        return (TestLoop(.echo(listener: listener)), Socket.localPort(listener)!)
    }
}
