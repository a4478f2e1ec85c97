import Dispatch
import NIOCore
import Synchronization
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// A `Reactor` seen as a SwiftNIO `EventLoop`, for what is off the request path: a reload handing
/// each loop its snapshot, a JWKS fetch handing over its keys, the admin port reading the metrics
/// shards, the access log's end-of-turn flush, the idle and deadline sweeps. With it `LoopContext`
/// and everything built on it run on a loop of our own unchanged. The request path itself never
/// goes through here: it is the reactor's events, timers and end-of-turn calls.
///
/// `execute` from the loop's own thread queues the task for the end of the current turn (no lock);
/// from another thread it goes into a locked mailbox and wakes the loop through its `LoopSignal`.
/// Scheduled tasks are one small handler each on the reactor's timer wheel (1 ms tick).
final class ReactorEventLoop: EventLoop, @unchecked Sendable {
    /// Touched only on the loop's thread.
    let reactor: Reactor
    private let thread: pthread_t
    private let mailbox = Mutex<[@Sendable () -> Void]>([])
    /// Tasks queued from the loop itself, run at the end of the turn. Loop thread only.
    private var local: [() -> Void] = []
    private var runner: HandlerID!
    private var endOfTurnRequested = false

    /// Call on the loop's thread, before `reactor.run()`.
    init(reactor: Reactor) {
        self.reactor = reactor
        thread = pthread_self()
        runner = reactor.add(Runner(owner: self))
        reactor.onSignal = { [unowned self] request, _ in
            if request.contains(.tasks) { drainMailbox() }
        }
    }

    var inEventLoop: Bool { pthread_equal(pthread_self(), thread) != 0 }

    func execute(_ task: @escaping @Sendable () -> Void) {
        if inEventLoop {
            enqueueLocal(task)
        } else {
            mailbox.withLock { $0.append(task) }
            reactor.signal.request(.tasks)
        }
    }

    func _executeIsolatedUnsafeUnchecked(_ task: @escaping () -> Void) {
        enqueueLocal(task)
    }

    private func enqueueLocal(_ task: @escaping () -> Void) {
        local.append(task)
        if !endOfTurnRequested {
            endOfTurnRequested = true
            reactor.runAtEndOfTurn(runner)
        }
    }

    private func drainMailbox() {
        let tasks = mailbox.withLock { tasks in
            defer { tasks.removeAll() }
            return tasks
        }
        for task in tasks { task() }
    }

    fileprivate func runLocal() {
        endOfTurnRequested = false
        // By index: a task may queue another (it runs in this pass), and the array keeps its
        // capacity from turn to turn.
        var index = 0
        while index < local.count {
            let task = local[index]
            index += 1
            task()
        }
        local.removeAll(keepingCapacity: true)
    }

    // MARK: Scheduled tasks

    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise = makePromise(of: T.self)
        let timer = ScheduledTask(promise: promise, task: task)
        let milliseconds = UInt64(max(0, (deadline - .now()).nanoseconds + 999_999) / 1_000_000)
        if inEventLoop {
            start(timer, after: milliseconds)
        } else {
            execute { self.start(timer, after: milliseconds) }
        }
        return Scheduled(promise: promise) { [self] in
            execute { self.cancel(timer) }
        }
    }

    func scheduleTask<T>(in amount: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + amount, task)
    }

    func _scheduleTaskIsolatedUnsafeUnchecked<T>(deadline: NIODeadline, _ task: @escaping () throws -> T) -> Scheduled<T> {
        // Called on the loop only (NIO's isolated views check it), so the closure never crosses threads.
        nonisolated(unsafe) let task = task
        return scheduleTask(deadline: deadline) { try task() }
    }

    func _scheduleTaskIsolatedUnsafeUnchecked<T>(in amount: TimeAmount, _ task: @escaping () throws -> T) -> Scheduled<T> {
        nonisolated(unsafe) let task = task
        return scheduleTask(in: amount) { try task() }
    }

    private func start<T>(_ timer: ScheduledTask<T>, after milliseconds: UInt64) {
        guard !timer.cancelled else { return }
        let id = reactor.add(timer)
        timer.id = id
        timer.timer = reactor.schedule(after: milliseconds, for: id)
    }

    private func cancel<T>(_ timer: ScheduledTask<T>) {
        guard !timer.done else { return }
        timer.cancelled = true
        timer.done = true
        if let id = timer.id {
            if let scheduled = timer.timer { reactor.cancel(scheduled) }
            reactor.remove(id)
        }
        timer.promise.fail(EventLoopError.cancelled)
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        reactor.signal.request(.stop)
        queue.async { callback(nil) }
    }

    /// Runs the tasks queued from the loop at the end of each turn in which there were any.
    private final class Runner: LoopHandler {
        unowned let owner: ReactorEventLoop
        init(owner: ReactorEventLoop) { self.owner = owner }
        func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {}
        func timerFired(tag: UInt8, reactor: Reactor) {}
        func turnEnded(tag: UInt8, reactor: Reactor) { owner.runLocal() }
        func shutdown(reactor: Reactor) {}
    }

    /// One scheduled task: its own handler on the wheel, removed once it has run or been cancelled.
    private final class ScheduledTask<T>: LoopHandler, @unchecked Sendable {
        let promise: EventLoopPromise<T>
        let task: () throws -> T
        var id: HandlerID?
        var timer: TimerID?
        var cancelled = false
        var done = false

        init(promise: EventLoopPromise<T>, task: @escaping () throws -> T) {
            self.promise = promise
            self.task = task
        }

        func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {}

        func timerFired(tag: UInt8, reactor: Reactor) {
            guard !done else { return }
            done = true
            if let id { reactor.remove(id) }
            do {
                promise.assumeIsolatedUnsafeUnchecked().succeed(try task())
            } catch {
                promise.fail(error)
            }
        }

        func shutdown(reactor: Reactor) {
            guard !done else { return }
            done = true
            if let id { reactor.remove(id) }
            promise.fail(EventLoopError.shutdown)
        }
    }
}

extension ReactorEventLoop: CustomStringConvertible {
    var description: String { "ReactorEventLoop" }
}
