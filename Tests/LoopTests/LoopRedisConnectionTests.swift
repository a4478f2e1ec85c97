import Synchronization
import TestSupport
import Testing
import TollgateLoop
import TollgateLoopRedis

#if canImport(Glibc)
    import Glibc
#endif

/// `LoopRedisConnection` against a real redis-server on a loopback port (TestSupport starts it).
/// Each test drives the connection from its loop's own thread: a `Script` handler issues commands
/// from timers and records what came back; the test thread only waits (bounded) and reads.
@Suite(.serialized) struct LoopRedisConnectionTests {
    /// Runs `steps` on a loop thread, one per timer tick of `interval` ms, with the connection at
    /// hand; stops the loop when `finished` says so or after `limit` ms of loop time.
    final class Script: LoopHandler {
        typealias Step = (LoopRedisConnection, Script) -> Void
        let steps: [Step]
        var next = 0
        var id: HandlerID?
        let connection: LoopRedisConnection
        let interval: UInt64
        var log: [String] = []
        var done = false

        init(connection: LoopRedisConnection, interval: UInt64, steps: [Step], reactor: Reactor) {
            self.connection = connection
            self.interval = interval
            self.steps = steps
            id = reactor.add(self)
            reactor.schedule(after: interval, for: id!)
        }

        func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {}

        func timerFired(tag: UInt8, reactor: Reactor) {
            if done { return }
            if next < steps.count {
                steps[next](connection, self)
                next += 1
            }
            if next >= steps.count, done {
                return
            }
            reactor.schedule(after: interval, for: id!)
        }

        func shutdown(reactor: Reactor) {
            reactor.remove(id!)
        }
    }

    /// Starts a loop with a connection to `port` and a script; returns its log once a step sets
    /// `done` (or the loop is stopped after `seconds`).
    static func run(
        port: Int, interval: UInt64 = 10, timeout: UInt64 = 50, seconds: Int = 20,
        connectCommands: [LoopRedisConnection.ConnectCommand] = [], steps: [Script.Step]
    ) -> ([String], LoopRedisConnection.Stats) {
        let result = Mutex<([String], LoopRedisConnection.Stats)?>(nil)
        let handOver = Steps(steps + [{ _, script in script.done = true }], connectCommands: connectCommands)
        let loop = EventLoopThread(name: "redis-test") { signal in
            let reactor = try! Reactor(signal: signal)
            var configuration = LoopRedisConnection.Configuration(endpoint: IPv4Endpoint("127.0.0.1:\(port)")!)
            configuration.commandTimeoutMilliseconds = timeout
            let connection = LoopRedisConnection(configuration: configuration, reactor: reactor, connectCommands: handOver.connectCommands)
            let script = Script(connection: connection, interval: interval, steps: handOver.steps, reactor: reactor)
            // Stop once the script is done: poll it from a timer of its own.
            final class Stopper: LoopHandler {
                let script: Script
                var id: HandlerID?
                init(_ script: Script, _ reactor: Reactor) {
                    self.script = script
                    id = reactor.add(self)
                    reactor.schedule(after: 5, for: id!)
                }
                func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {}
                func timerFired(tag: UInt8, reactor: Reactor) {
                    if script.done { reactor.stop() } else { reactor.schedule(after: 5, for: id!) }
                }
                func shutdown(reactor: Reactor) { reactor.remove(id!) }
            }
            let stopper = Stopper(script, reactor)
            reactor.run()
            _ = stopper
            result.withLock { $0 = (script.log, connection.stats) }
        }
        for _ in 0..<(seconds * 100) where result.withLock({ $0 == nil }) { usleep(10_000) }
        if result.withLock({ $0 == nil }) { loop.stop() }
        loop.join()
        return result.withLock { $0 }!
    }

    /// The steps, handed to the loop's thread once and used only there.
    final class Steps: @unchecked Sendable {
        let steps: [Script.Step]
        let connectCommands: [LoopRedisConnection.ConnectCommand]
        init(_ steps: [Script.Step], connectCommands: [LoopRedisConnection.ConnectCommand] = []) {
            self.steps = steps
            self.connectCommands = connectCommands
        }
    }

    static func describe(_ result: Result<RedisReply, LoopRedisConnection.Failure>) -> String {
        switch result {
        case let .success(.status(text)): "+\(text)"
        case let .success(.error(text)): "-\(text.prefix(while: { $0 != " " }))"
        case let .success(.integer(value)): ":\(value)"
        case let .success(.bulk(bytes)): "$\(String(decoding: bytes, as: UTF8.self))"
        case .success(.null): "nil"
        case let .success(.array(items)): "*\(items.count)"
        case let .failure(failure): "failed \(failure)"
        }
    }

    /// Waits until the connection is up (bounded by the script's own steps).
    static var waitForReady: Script.Step {
        { connection, script in if connection.state != .ready { script.next -= 1 } }
    }

    /// Waits (the script's own steps repeat; the run is bounded) until `count` lines are logged.
    static func waitForLog(_ count: Int) -> Script.Step {
        { _, script in if script.log.count < count { script.next -= 1 } }
    }

    @Test func commandsRoundTripAndAThousandPipelinedCommandsAnswerInOrder() throws {
        let redis = try RedisServer()
        let (log, stats) = Self.run(port: redis.port, steps: [
            Self.waitForReady,
            { connection, script in
                connection.send(["SET", "loop:key", "value"]) { script.log.append(Self.describe($0)) }
                connection.send(["GET", "loop:key"]) { script.log.append(Self.describe($0)) }
                connection.send(["GET", "loop:missing"]) { script.log.append(Self.describe($0)) }
                connection.send(["NOSUCHCOMMAND"]) { script.log.append(Self.describe($0)) }
                connection.send([Array("SET".utf8), Array("loop:binary".utf8), [0, 13, 10, 255]]) { script.log.append(Self.describe($0)) }
                connection.send(["STRLEN", "loop:binary"]) { script.log.append(Self.describe($0)) }
            },
            { connection, script in
                // One turn, a thousand commands: one write (or a few), replies in order.
                for _ in 0..<1_000 {
                    connection.send(["INCR", "loop:counter"]) { script.log.append(Self.describe($0)) }
                }
            },
            Self.waitForLog(1_006),
        ])
        #expect(Array(log.prefix(6)) == ["+OK", "$value", "nil", "-ERR", "+OK", ":4"])
        #expect(Array(log.dropFirst(6)) == (1...1_000).map { ":\($0)" })
        #expect(stats.replies == 1_006)
        #expect(stats.writes < 100, "commands of one turn share writes (\(stats.writes) writes)")
    }

    @Test func aDownServerFailsCommandsAtOnceAndTheConnectionComesBackWithIt() throws {
        let redis = try RedisServer()
        let (log, stats) = Self.run(port: redis.port, interval: 20, steps: [
            Self.waitForReady,
            { connection, script in connection.send(["PING"]) { script.log.append(Self.describe($0)) } },
            Self.waitForLog(1),
            { _, _ in redis.kill() },
            { connection, script in connection.send(["PING"]) { script.log.append(Self.describe($0)) } },
            Self.waitForLog(2),
            { connection, script in
                // However many attempts it takes: a command while down fails before send returns.
                var failedAtOnce = false
                connection.send(["PING"]) { failedAtOnce = $0 == .failure(.unavailable) }
                script.log.append("at once: \(failedAtOnce || connection.state != .ready)")
            },
            { _, _ in try? redis.start() },
            Self.waitForReady,
            { connection, script in connection.send(["PING"]) { script.log.append(Self.describe($0)) } },
            Self.waitForLog(4),
        ])
        #expect(log.first == "+PONG")
        #expect(log.contains("failed unavailable"))
        #expect(log.contains("at once: true"))
        #expect(log.last == "+PONG", "\(log)")
        #expect(stats.connectionsMade == 2)
    }

    @Test func aStuckServerTimesCommandsOutAndIsReconnectedWhenItAnswersAgain() throws {
        let redis = try RedisServer()
        let (log, stats) = Self.run(port: redis.port, interval: 20, timeout: 50, steps: [
            Self.waitForReady,
            { _, _ in redis.suspend() },
            { connection, script in
                connection.send(["PING"]) { script.log.append(Self.describe($0)) }
                connection.send(["PING"]) { script.log.append(Self.describe($0)) }
            },
            Self.waitForLog(2),
            { _, _ in redis.resume() },
            Self.waitForReady,
            { connection, script in connection.send(["PING"]) { script.log.append(Self.describe($0)) } },
            Self.waitForLog(3),
        ])
        #expect(Array(log.prefix(2)) == ["failed timedOut", "failed timedOut"], "\(log)")
        #expect(log.last == "+PONG", "\(log)")
        #expect(stats.timeouts == 1)
    }

    @Test func commandsFailAtOnceUntilTheConnectCommandsHaveAnsweredAndThenFindTheirEffects() throws {
        let redis = try RedisServer()
        let (log, stats) = Self.run(
            port: redis.port, interval: 5, timeout: 1_000,
            connectCommands: [
                // A slow first step keeps the connection in its handshake long enough to try a command.
                LoopRedisConnection.ConnectCommand(["DEBUG", "SLEEP", "0.2"]) { $0.error },
                LoopRedisConnection.ConnectCommand(["SET", "loop:hook", "set on connect"]) { $0.error },
            ],
            steps: [
                { connection, script in
                    guard connection.state == .handshaking else {
                        script.next -= 1
                        return
                    }
                    connection.send(["GET", "loop:hook"]) { script.log.append("handshaking: \(Self.describe($0))") }
                },
                Self.waitForReady,
                { connection, script in connection.send(["GET", "loop:hook"]) { script.log.append(Self.describe($0)) } },
                Self.waitForLog(2),
            ])
        #expect(log == ["handshaking: failed unavailable", "$set on connect"])
        #expect(stats.connectionsMade == 1)
    }

    @Test func aConnectCommandThatIsRefusedKeepsTheConnectionFromEverBeingReady() throws {
        let redis = try RedisServer()
        let (log, stats) = Self.run(
            port: redis.port, interval: 20, timeout: 200,
            connectCommands: [LoopRedisConnection.ConnectCommand(["PING"]) { _ in "not the server we want" }],
            steps: [
                { _, _ in },
                { _, _ in },
                { _, _ in },
                { _, _ in },
                { _, _ in },
                { connection, script in
                    script.log.append("\(connection.state == .ready) \(connection.lastError ?? "-")")
                },
            ])
        #expect(log == ["false handshake: not the server we want"])
        #expect(stats.connectionsMade == 0)
    }
}
