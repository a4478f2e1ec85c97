import CEventLoopShim
import Synchronization
import Testing
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// Echoes what arrives on its end of a socket pair, and records what the loop told it.
private final class PairEcho: LoopHandler {
    let fd: Int32
    var relay = ByteRelay()
    var id: HandlerID?
    var timerTags: [UInt8] = []
    var shutDown = false
    var onTimer: ((UInt8) -> Void)?

    init(fd: Int32) { self.fd = fd }

    func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
        relay.noteSource(readiness)
        if readiness.isWritable { relay.destinationWritable = true }
        switch relay.pump(from: fd, to: fd, pool: reactor.pool) {
        case .waiting: break
        case .finished, .failed:
            Socket.close(fd)
            relay.release(to: reactor.pool)
            reactor.remove(id!)
        }
    }

    func timerFired(tag: UInt8, reactor: Reactor) {
        timerTags.append(tag)
        onTimer?(tag)
        // Ask for the loop to stop from inside: what `stop()` is for.
        if tag == 9 { reactor.stop() }
    }

    func shutdown(reactor: Reactor) {
        shutDown = true
        Socket.close(fd)
        relay.release(to: reactor.pool)
        reactor.remove(id!)
    }
}

@Suite struct ReactorTests {
    @Test func theEpollConstantsAreLinuxs() {
        let both = Interest.both.rawValue
        #expect(both == tg_epollin() | tg_epollrdhup() | tg_epollout())
        #expect(Readiness(rawValue: tg_epollin()).isReadable)
        #expect(!Readiness(rawValue: tg_epollin()).isWritable)
        #expect(Readiness(rawValue: tg_epollout()).isWritable)
        #expect(Readiness(rawValue: tg_epollrdhup()).isPeerClosed)
        #expect(Readiness(rawValue: tg_epollerr()).isError)
        #expect(Readiness(rawValue: tg_epollhup()).isReadable && Readiness(rawValue: tg_epollhup()).isWritable)
    }

    @Test func aSocketPairRoundTripsThroughTheLoopAndItsBuffersComeBack() throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair) == 0)
        let ours = pair[0], theirs = pair[1]
        let pool = Mutex<(outstanding: Int, highWater: Int, handlers: Int)>((-1, -1, -1))
        let loop = EventLoopThread(name: "pair") { signal in
            let reactor = try! Reactor(signal: signal)
            let echo = PairEcho(fd: theirs)
            echo.id = reactor.add(echo)
            reactor.watch(theirs, for: echo.id!, tag: 3)
            reactor.run()
            pool.withLock { $0 = (reactor.pool.outstanding, reactor.pool.highWater, reactor.handlerCount) }
        }
        // Blocking from here: poll for each answer.
        let message = Array("hello through epoll".utf8)
        for round in 0..<100 {
            let sent = message + Array(" \(round)".utf8)
            #expect(sent.withUnsafeBytes { send(ours, $0.baseAddress, $0.count, 0) } == sent.count)
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 256)
            while received.count < sent.count {
                var poller = pollfd(fd: ours, events: Int16(POLLIN), revents: 0)
                #expect(poll(&poller, 1, 5_000) == 1)
                let n = buffer.withUnsafeMutableBytes { recv(ours, $0.baseAddress, $0.count, 0) }
                #expect(n > 0)
                if n <= 0 { break }
                received += buffer[..<n]
            }
            #expect(received == sent)
        }
        // Half-close: the echo passes our end of file back, then closes.
        shutdown(ours, Int32(SHUT_WR))
        var poller = pollfd(fd: ours, events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 5_000) == 1)
        var byte: UInt8 = 0
        #expect(recv(ours, &byte, 1, 0) == 0)
        loop.stop()
        loop.join()
        close(ours)
        let counters = pool.withLock { $0 }
        #expect(counters.outstanding == 0)
        #expect(counters.highWater >= 1)
        #expect(counters.handlers == 0)
    }

    @Test func timersFireInOrderSignalsArriveAndStopShutsDownWhatIsLeft() throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair) == 0)
        let theirs = pair[1]
        let fired = Mutex<[UInt8]>([])
        let result = Mutex<(shutDown: Bool, signals: UInt32, timersLeft: Int)?>(nil)
        let loop = EventLoopThread(name: "timers") { signal in
            let reactor = try! Reactor(signal: signal)
            let handler = PairEcho(fd: theirs)
            let id = reactor.add(handler)
            handler.id = id
            handler.onTimer = { tag in fired.withLock { $0.append(tag) } }
            reactor.watch(theirs, for: id)
            var signals: UInt32 = 0
            reactor.onSignal = { request, _ in signals |= request.rawValue }
            let cancelled = reactor.schedule(after: 5, for: id, tag: 7)
            reactor.schedule(after: 20, for: id, tag: 2)
            reactor.schedule(after: 10, for: id, tag: 1)
            reactor.schedule(after: 3_600_000, for: id, tag: 3)
            reactor.cancel(cancelled)
            reactor.run()
            result.withLock { $0 = (handler.shutDown, signals, reactor.scheduledTimers) }
        }
        // However long the timers take: wait for both (bounded, in case they never come).
        for _ in 0..<1_000 where fired.withLock({ $0.count }) < 2 { usleep(5_000) }
        loop.signal.request(.reload)
        loop.stop()
        loop.join()
        close(pair[0])
        #expect(fired.withLock { $0 } == [1, 2])
        let (shutDown, signals, timersLeft) = try #require(result.withLock { $0 })
        #expect(shutDown, "stop shuts down the handlers still registered")
        #expect(signals & LoopSignal.Request.stop.rawValue != 0)
        #expect(signals & LoopSignal.Request.reload.rawValue != 0)
        #expect(timersLeft == 1, "the hour-long timer is still scheduled (it belongs to a removed handler)")
    }

    @Test func aHandlerStoppingItsLoopFromATimerEndsRun() throws {
        let tags = Mutex<[UInt8]>([])
        let loop = EventLoopThread(name: "self-stop") { signal in
            let reactor = try! Reactor(signal: signal)
            var pair: [Int32] = [0, 0]
            _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair)
            let handler = PairEcho(fd: pair[1])
            handler.id = reactor.add(handler)
            reactor.schedule(after: 30, for: handler.id!, tag: 9)
            reactor.schedule(after: 1, for: handler.id!, tag: 4)
            reactor.schedule(after: 2, for: handler.id!, tag: 5)
            reactor.run()
            close(pair[0])
            tags.withLock { $0 = handler.timerTags }
        }
        // No stop() from here: the timer stops the loop by itself.
        loop.join()
        #expect(tags.withLock { $0 } == [4, 5, 9])
    }

    @Test func endOfTurnRunsAfterTheTurnsTimersAndAgainWhenAskedFromItself() throws {
        final class Recorder: LoopHandler {
            var id: HandlerID?
            var log: [String] = []
            func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {}
            func timerFired(tag: UInt8, reactor: Reactor) {
                log.append("timer \(tag)")
                if tag == 1 { reactor.runAtEndOfTurn(id!, tag: 5) }
                if tag == 9 { reactor.stop() }
            }
            func turnEnded(tag: UInt8, reactor: Reactor) {
                log.append("end \(tag)")
                if tag == 5 { reactor.runAtEndOfTurn(id!, tag: 6) }
            }
            func shutdown(reactor: Reactor) { reactor.remove(id!) }
        }
        let log = Mutex<[String]>([])
        let loop = EventLoopThread(name: "end-of-turn") { signal in
            let reactor = try! Reactor(signal: signal)
            let recorder = Recorder()
            recorder.id = reactor.add(recorder)
            reactor.schedule(after: 1, for: recorder.id!, tag: 1)
            reactor.schedule(after: 1, for: recorder.id!, tag: 2)
            reactor.schedule(after: 50, for: recorder.id!, tag: 9)
            reactor.run()
            log.withLock { $0 = recorder.log }
        }
        loop.join()
        #expect(log.withLock { $0 } == ["timer 1", "timer 2", "end 5", "end 6", "timer 9"])
    }

    @Test func watchRewatchAndUnwatchReEvaluateTheEdgeAndReportMisuse() throws {
        final class Watcher: LoopHandler {
            var id: HandlerID?
            let fd: Int32
            var log: [String] = []
            init(fd: Int32) { self.fd = fd }
            func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {
                if readiness.isReadable { log.append("readable \(tag)") }
                if log.count == 1 {
                    // Interest changed to the same readable bytes: MOD re-evaluates, a new edge comes.
                    log.append("rewatch \(reactor.rewatch(fd, for: id!, tag: 2, interest: .readable))")
                } else if log.count == 3 {
                    log.append("unwatch \(reactor.unwatch(fd))")
                    log.append("unwatch again \(reactor.unwatch(fd))")
                    log.append("rewatch unwatched \(reactor.rewatch(fd, for: id!, tag: 3, interest: .readable))")
                    // Registered again: the bytes still unread are reported at once.
                    log.append("watch \(reactor.watch(fd, for: id!, tag: 4, interest: .readable))")
                } else if log.count == 8 {
                    reactor.stop()
                }
            }
            func timerFired(tag: UInt8, reactor: Reactor) {
                log.append("gave up waiting")
                reactor.stop()
            }
            func shutdown(reactor: Reactor) { reactor.remove(id!) }
        }
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair) == 0)
        // Bytes waiting before the loop starts, never read: every (re-)registration sees them.
        #expect(send(pair[0], "x", 1, 0) == 1)
        let theirs = pair[1]
        let log = Mutex<[String]>([])
        let loop = EventLoopThread(name: "rewatch") { signal in
            let reactor = try! Reactor(signal: signal)
            let watcher = Watcher(fd: theirs)
            watcher.id = reactor.add(watcher)
            reactor.watch(theirs, for: watcher.id!, tag: 1, interest: .readable)
            reactor.schedule(after: 10_000, for: watcher.id!)  // a missing event fails the test, never hangs it
            reactor.run()
            log.withLock { $0 = watcher.log }
        }
        loop.join()
        close(pair[0])
        close(pair[1])
        #expect(log.withLock { $0 } == [
            "readable 1", "rewatch 0", "readable 2", "unwatch 0", "unwatch again \(-ENOENT)",
            "rewatch unwatched \(-ENOENT)", "watch 0", "readable 4",
        ])
    }
}
