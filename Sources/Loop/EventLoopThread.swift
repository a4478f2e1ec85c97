import CEventLoopShim

#if canImport(Glibc)
    import Glibc
#endif

/// A thread that runs one loop. The body builds its `Reactor` on the thread (a reactor and its
/// handlers never cross threads) and calls `run()`; `stop()` reaches it through the signal.
public final class EventLoopThread: Sendable {
    public let signal: LoopSignal
    private let thread: pthread_t

    private final class Start {
        let body: @Sendable (LoopSignal) -> Void
        let signal: LoopSignal
        let name: String
        init(body: @escaping @Sendable (LoopSignal) -> Void, signal: LoopSignal, name: String) {
            self.body = body
            self.signal = signal
            self.name = name
        }
    }

    /// Starts the thread; `body` runs on it with the signal `stop()` uses.
    public init(name: String, _ body: @escaping @Sendable (LoopSignal) -> Void) {
        let signal = LoopSignal()
        self.signal = signal
        let start = Unmanaged.passRetained(Start(body: body, signal: signal, name: name)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            tg_set_thread_name(start.name)
            start.body(start.signal)
            return nil
        }, start)
        precondition(created == 0, "pthread_create failed: \(created)")
        self.thread = thread
    }

    public func stop() {
        signal.request(.stop)
    }

    /// Waits for the body to return. Call once.
    public func join() {
        pthread_join(thread, nil)
    }
}
