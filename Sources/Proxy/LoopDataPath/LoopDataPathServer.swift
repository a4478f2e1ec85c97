import Core
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TollgateLoop
import TollgateLoopRedis

/// `--data-path loop`: one thread per `--threads`, each running a `Reactor` with its own
/// `SO_REUSEPORT` listener, its `LoopContext` (phases, metrics, access log, sweeps) and its
/// `LoopDataPath` (connections, upstream pool, buffers). Every listener is bound before any loop
/// starts, so a port in use is one error at start-up. On graceful shutdown every loop stops
/// accepting and closes its idle connections, busy ones after their response, for up to
/// `--drain-timeout`; then the rest are closed.
final class LoopDataPathServer: Service {
    struct StartError: Error, CustomStringConvertible {
        let description: String
    }

    let contexts: LoopContexts
    private let paths: [NIOLoopBound<LoopDataPath>]
    private let threads: [EventLoopThread]
    private let drainTimeout: TimeAmount
    private let logger: Logger
    /// The port the listeners share (the one asked for, or the kernel's choice for port 0).
    let port: UInt16

    private init(
        contexts: LoopContexts, paths: [NIOLoopBound<LoopDataPath>], threads: [EventLoopThread], drainTimeout: TimeAmount, logger: Logger,
        port: UInt16
    ) {
        self.contexts = contexts
        self.paths = paths
        self.threads = threads
        self.drainTimeout = drainTimeout
        self.logger = logger
        self.port = port
    }

    /// The address as the loop takes it: an IPv4 literal, or a host name resolved to IPv4 once, at
    /// start-up (the upstream is the pod's own service; a name that moves needs `--data-path nio`,
    /// which resolves on every connect).
    static func endpoint(_ endpoint: ProxyConfiguration.Endpoint, role: String) throws(StartError) -> IPv4Endpoint {
        if let parsed = IPv4Endpoint("\(endpoint.host):\(endpoint.port)") { return parsed }
        guard !endpoint.host.contains(":"), let port = UInt16(exactly: endpoint.port) else {
            throw StartError(description: "--data-path loop takes IPv4 addresses and host names, not \(endpoint) (\(role)); use --data-path nio")
        }
        switch HostResolver.resolveIPv4(endpoint.host, port: port) {
        case let .success(resolved): return resolved
        case let .failure(failure):
            throw StartError(description: "cannot resolve \(role) host \(endpoint.host): \(failure.message)")
        }
    }

    static func start(
        configuration: ProxyConfiguration, policy: ActivePolicy, buckets: InProcessBuckets, logger: Logger
    ) async throws -> LoopDataPathServer {
        let listen = try endpoint(configuration.listen, role: "--listen")
        let upstream = try endpoint(configuration.upstream, role: "--upstream")
        // Every listener first: a busy port fails here, before any thread starts.
        var listeners: [Int32] = []
        var port = listen.port
        do {
            if port != 0 {
                // SO_REUSEPORT would let this process share a port another one (of the same user)
                // already serves, silently: bind once without it first, so a port in use is an error.
                Socket.close(try Socket.listen(on: listen, backlog: 1, reusePort: false))
            }
            for _ in 0..<configuration.threads {
                let fd = try Socket.listen(on: listen.with(port: port), backlog: 1024, reusePort: true)
                if port == 0 { port = Socket.localPort(fd) ?? 0 }
                listeners.append(fd)
            }
        } catch {
            for fd in listeners { Socket.close(fd) }
            let reason = error.code == EADDRINUSE ? "address already in use" : String(cString: strerror(error.code))
            throw StartError(description: "cannot listen on \(configuration.listen): \(reason)")
        }

        var threads: [EventLoopThread] = []
        var loops: [ReactorEventLoop] = []
        for index in 0..<configuration.threads {
            var thread: EventLoopThread?
            let loop = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ReactorEventLoop, any Error>) in
                thread = EventLoopThread(name: "tollgate-loop-\(index)") { signal in
                    let reactor: Reactor
                    do {
                        reactor = try Reactor(signal: signal)
                    } catch {
                        continuation.resume(throwing: StartError(description: "cannot start event loops: \(error)"))
                        return
                    }
                    let loop = ReactorEventLoop(reactor: reactor)
                    continuation.resume(returning: loop)
                    reactor.run()
                }
            }
            threads.append(thread!)
            loops.append(loop)
        }
        let contexts = try await LoopContexts(loops: loops, configuration: configuration, policy: policy, buckets: buckets, logger: logger)
        var paths: [NIOLoopBound<LoopDataPath>] = []
        for (index, loop) in loops.enumerated() {
            let bound = contexts.all[index]
            let listenFD = listeners[index]
            let path = try await loop.submit {
                let path = LoopDataPath(reactor: loop.reactor, context: bound.value, upstream: upstream)
                path.startListening(on: listenFD)
                return NIOLoopBound(path, eventLoop: loop)
            }.get()
            paths.append(path)
        }
        return LoopDataPathServer(
            contexts: contexts, paths: paths, threads: threads, drainTimeout: configuration.drainTimeout, logger: logger, port: port)
    }

    func run() async throws {
        try? await gracefulShutdown()
        let paths = paths
        await ProxyListener.drain(timeout: drainTimeout, logger: logger) {
            let drains = paths.map { bound in
                let promise = bound.eventLoop.makePromise(of: Void.self)
                bound.eventLoop.execute {
                    bound.value.onDrained = { promise.succeed() }
                    bound.value.beginDrain()
                }
                return promise.futureResult
            }
            return EventLoopFuture.andAllSucceed(drains, on: paths[0].eventLoop)
        }
        try? await closeEverything()
    }

    func closeEverything() async throws {
        for bound in paths {
            try await bound.eventLoop.submit { bound.value.closeEverything() }.get()
        }
    }

    /// Stops every loop's thread and waits for it (after the contexts' own clean-up ran on them).
    func stopThreads() async {
        for thread in threads { thread.stop() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let threads = threads
            Thread.detachNewThread {
                for thread in threads { thread.join() }
                continuation.resume()
            }
        }
    }
}

