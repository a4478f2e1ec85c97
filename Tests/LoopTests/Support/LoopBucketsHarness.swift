import Core
import Synchronization
import TollgateLoop
import TollgateLoopRedis

#if canImport(Glibc)
    import Glibc
#endif

/// A reactor on its own thread with one `RedisBuckets` over a `LoopRedisTransport`. The test hands
/// it jobs through the loop's signal (`.reload`): every job of one hand-over runs in the same turn
/// of the loop (from `onSignal`), so the takes they make form one batch, sent at the end of that
/// turn. Answers are collected under a lock; the test thread waits for them, bounded.
final class LoopBucketsHarness: Sendable {
    typealias Request = RedisBuckets.Request
    typealias Answer = Result<[TokenBucket.Outcome], RedisClient.Failure>

    /// What a job works with; it lives and is used on the loop's thread only.
    final class Loop {
        let reactor: Reactor
        let transport: LoopRedisTransport
        let buckets: RedisBuckets

        init(reactor: Reactor, transport: LoopRedisTransport, buckets: RedisBuckets) {
            self.reactor = reactor
            self.transport = transport
            self.buckets = buckets
        }

        var stats: LoopRedisConnection.Stats { transport.connection?.stats ?? .init() }
    }

    typealias Job = @Sendable (Loop) -> Void

    private final class Shared: Sendable {
        let jobs = Mutex<[Job]>([])
        let statusChanges = Mutex<[String]>([])
        let running = Mutex(false)
    }

    /// Where one hand-over's waiters put their answers.
    final class Answers: Sendable {
        let slots: Mutex<[Answer?]>
        /// Per take: the waiter was told after `take` had returned.
        let afterReturn: Mutex<[Bool]>

        init(count: Int) {
            slots = Mutex(Array(repeating: nil, count: count))
            afterReturn = Mutex(Array(repeating: false, count: count))
        }

        var complete: Bool { slots.withLock { $0.allSatisfy { $0 != nil } } }
    }

    /// Set on one thread, read on another.
    final class Flag: Sendable {
        private let value = Mutex(false)
        init() {}
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    /// A waiter that files its answer in a slot, and whether `take` had returned by then.
    final class Collector: BucketsWaiter {
        let answers: Answers
        let index: Int
        var returned = false

        init(_ answers: Answers, _ index: Int) {
            self.answers = answers
            self.index = index
        }

        func bucketsTaken(_ result: Result<ArraySlice<TokenBucket.Outcome>, RedisClient.Failure>) {
            let returned = returned
            answers.afterReturn.withLock { $0[index] = returned }
            answers.slots.withLock { $0[index] = result.map(Array.init) }
        }
    }

    private let thread: EventLoopThread
    private let shared = Shared()

    /// Back-off shortened for tests (20 ms doubling to 200 ms). The command timeout is generous
    /// unless a test is about it: the machine is shared with builds.
    init(endpoint: RedisEndpoint, timeoutMilliseconds: UInt64 = 2_000) {
        let shared = shared
        thread = EventLoopThread(name: "buckets-test") { signal in
            guard let reactor = try? Reactor(signal: signal) else { fatalError("no reactor") }
            var configuration = LoopRedisTransport.configuration(for: endpoint, timeoutMilliseconds: timeoutMilliseconds)
            configuration.reconnectMinimumMilliseconds = 20
            configuration.reconnectMaximumMilliseconds = 200
            let transport = LoopRedisTransport(endpoint: endpoint, configuration: configuration, reactor: reactor)
            let buckets = RedisBuckets(transport: transport)
            buckets.onStatusChange = { change in
                let line =
                    switch change {
                    case let .ready(recovered): recovered ? "ready again" : "ready"
                    case let .unavailable(reason): "unavailable: \(reason)"
                    }
                shared.statusChanges.withLock { $0.append(line) }
            }
            buckets.start()
            let loop = Loop(reactor: reactor, transport: transport, buckets: buckets)
            reactor.onSignal = { request, _ in
                guard request.contains(.reload) else { return }
                let jobs = shared.jobs.withLock { jobs in
                    defer { jobs.removeAll() }
                    return jobs
                }
                for job in jobs { job(loop) }
            }
            shared.running.withLock { $0 = true }
            reactor.run()
        }
        while !shared.running.withLock({ $0 }) { usleep(1_000) }
    }

    var statusChanges: [String] { shared.statusChanges.withLock { $0 } }

    /// Runs `job` on the loop, in a turn of its own (with any other job handed over meanwhile).
    func run(_ job: @escaping Job) {
        shared.jobs.withLock { $0.append(job) }
        thread.signal.request(.reload)
    }

    /// Runs `body` on the loop and waits for its value.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (Loop) -> T) -> T {
        let box = Box<T>()
        run { loop in
            let value = body(loop)
            box.value.withLock { $0 = value }
        }
        while true {
            if let value = box.value.withLock({ $0 }) { return value }
            usleep(500)
        }
    }

    private final class Box<T: Sendable>: Sendable {
        let value = Mutex<T?>(nil)
    }

    /// Every request taken in one turn, in order; waits (up to `seconds`) for every answer.
    func takeInOneTurn(_ requests: [[Request]], seconds: Double = 10) -> (answers: [Answer?], afterReturn: [Bool]) {
        let answers = Answers(count: requests.count)
        run { loop in
            for (index, request) in requests.enumerated() {
                let collector = Collector(answers, index)
                loop.buckets.take(request, waiter: collector)
                collector.returned = true
            }
        }
        _ = Self.wait(seconds: seconds) { answers.complete }
        return (answers.slots.withLock { $0 }, answers.afterReturn.withLock { $0 })
    }

    /// The outcomes of requests that must all be answered with outcomes.
    func outcomes(_ requests: [[Request]]) -> [[TokenBucket.Outcome]]? {
        let (answers, _) = takeInOneTurn(requests)
        var all: [[TokenBucket.Outcome]] = []
        for answer in answers {
            guard case let .success(outcomes) = answer else { return nil }
            all.append(outcomes)
        }
        return all
    }

    func isUp() -> Bool { onLoop { $0.buckets.isUp } }

    /// Waits (up to `seconds`) until the store is up.
    func waitUntilUp(seconds: Double = 10) -> Bool {
        Self.wait(seconds: seconds) { self.isUp() }
    }

    /// Polls `condition` every 5 ms until it holds or `seconds` have passed; whether it held.
    static func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
        var waited = 0.0
        while waited < seconds {
            if condition() { return true }
            usleep(5_000)
            waited += 0.005
        }
        return condition()
    }

    func stop() {
        thread.stop()
        thread.join()
    }
}
