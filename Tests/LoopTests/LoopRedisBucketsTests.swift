import Core
import NIOCore
import NIOPosix
import TestSupport
import Testing
import TollgateLoop
import TollgateLoopRedis

#if canImport(Glibc)
    import Glibc
#endif

/// `RedisBuckets` over the data path's loop (`LoopRedisTransport`) against a real redis-server on
/// loopback: the same answers as over SwiftNIO, one `EVALSHA` per turn, `EVAL` after `NOSCRIPT`,
/// the fail modes (down at once, stuck → timed out → back), AUTH, SELECT and host names.
@Suite("Redis buckets on the loop", .serialized)
struct LoopRedisBucketsTests {
    typealias Request = RedisBuckets.Request

    func bucket(_ tokens: Int, per unit: Rate.Unit, burst: Int, cost: Int = 1) -> TokenBucket {
        TokenBucket(rate: Rate(tokens: tokens, unit: unit), burst: burst, cost: cost)
    }

    func endpoint(_ url: String) throws -> RedisEndpoint {
        try #require(RedisEndpoint(url: url))
    }

    /// `cmdstat_<name>:calls=N` of `INFO commandstats` (0 when the command never ran).
    func calls(_ server: RedisServer, _ command: String) throws -> Int {
        let info = try server.command(["INFO", "commandstats"])
        guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_\(command):") }),
              let calls = line.split(separator: ",").first?.split(separator: "=").last.flatMap({ Int($0) })
        else { return 0 }
        return calls
    }

    // MARK: Same answers as SwiftNIO

    /// Turns of takes, run through both transports against one server under different key
    /// prefixes, turn by turn (so both see about the same Redis clock): shared and distinct keys,
    /// several buckets per request, a cost of 2, refusals by the first and by the second bucket.
    @Test func theLoopTransportGivesTheSameOutcomesAsSwiftNIOForTheSameTakes() async throws {
        let server = try RedisServer()
        let five = bucket(10, per: .hour, burst: 5)
        let costly = bucket(10, per: .hour, burst: 5, cost: 2)
        let wide = bucket(100, per: .hour, burst: 50)
        let narrow = bucket(10, per: .hour, burst: 2)
        let minute = bucket(3, per: .minute, burst: 3)
        func turns(_ prefix: String) -> [[[Request]]] {
            var first: [[Request]] = []
            for index in 0..<8 {
                first.append([("\(prefix):five:a", five)])
                if index < 4 { first.append([("\(prefix):costly:c", costly)]) }
                if index < 3 { first.append([("\(prefix):wide:d", wide), ("\(prefix):narrow:d", narrow)]) }
            }
            let second: [[Request]] = [
                [("\(prefix):wide:d", wide)], [("\(prefix):narrow:d", narrow), ("\(prefix):wide:d", wide)],
                [("\(prefix):five:b", five)], [("\(prefix):minute:m", minute)], [("\(prefix):minute:m", minute)],
            ]
            let third: [[Request]] = (0..<5).map { _ in [("\(prefix):minute:m", minute), ("\(prefix):five:b", five)] }
            let fourth: [[Request]] = [[("\(prefix):costly:c", costly)], [("\(prefix):five:a", five)], [("\(prefix):other", wide)]]
            return [first, second, third, fourth]
        }

        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let nioEndpoint = try endpoint(server.url)
        let nio = try await loop.submit {
            let buckets = RedisBuckets(loop: loop, endpoint: nioEndpoint, timeout: .seconds(5))
            buckets.start()
            return NIOLoopBound(buckets, eventLoop: loop)
        }.get()
        let harness = LoopBucketsHarness(endpoint: try endpoint(server.url), timeoutMilliseconds: 5_000)
        defer { harness.stop() }
        #expect(harness.waitUntilUp())
        let deadline = ContinuousClock.now + .seconds(5)
        while try await !loop.submit({ nio.value.isUp }).get(), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }

        var apart = 0.0
        for (turn, (viaNIO, viaLoop)) in zip(turns("nio"), turns("loop")).enumerated() {
            let started = ContinuousClock.now
            let nioAnswers = try await loop.flatSubmit {
                EventLoopFuture.whenAllSucceed(viaNIO.map { nio.value.take($0) }, on: loop)
            }.get()
            let loopAnswers = try #require(harness.outcomes(viaLoop), "turn \(turn): every take answered")
            // The two ran apart on Redis's clock by at most this long (a loaded machine stretches
            // it), and so did every earlier turn whose takes set the buckets' state: a wait may
            // differ by the sum of those, never more.
            let elapsed = ContinuousClock.now - started
            apart += Double(elapsed.components.seconds) * 1_000_000 + Double(elapsed.components.attoseconds / 1_000_000_000_000)
            #expect(nioAnswers.count == loopAnswers.count)
            for (index, (a, b)) in zip(nioAnswers, loopAnswers).enumerated() {
                #expect(a.map(\.allowed) == b.map(\.allowed), "turn \(turn), take \(index)")
                #expect(a.map(\.remaining) == b.map(\.remaining), "turn \(turn), take \(index)")
                for (x, y) in zip(a, b) {
                    #expect(abs(x.waitMicroseconds - y.waitMicroseconds) <= apart + 1_000, "turn \(turn), take \(index)")
                }
            }
            if turn == 0 {
                #expect(loopAnswers.contains { !$0[0].allowed }, "the first turn refuses some")
            }
        }
        try await loop.submit { nio.value.close() }.get()
    }

    // MARK: Batching

    @Test func takesOfOneTurnGoOutAsOneEvalshaInOneWrite() throws {
        let server = try RedisServer()
        let harness = LoopBucketsHarness(endpoint: try endpoint(server.url))
        defer { harness.stop() }
        #expect(harness.waitUntilUp())
        let limit = bucket(1, per: .hour, burst: 1_000)
        // Warm up (a first take), then count only the turn under test.
        #expect(harness.outcomes([[("tg:l:warm", limit)]]) != nil)
        _ = try server.command(["CONFIG", "RESETSTAT"])
        let before = harness.onLoop { $0.stats }
        let requests: [[Request]] = (0..<100).map { [("tg:l:batch:\($0 % 7)", limit)] }
        let answers = try #require(harness.outcomes(requests))
        let after = harness.onLoop { $0.stats }
        #expect(after.commands - before.commands == 1, "100 takes, one command")
        #expect(after.writes - before.writes == 1, "one write")
        #expect(after.replies - before.replies == 1)
        #expect(try calls(server, "evalsha") == 1)
        #expect(try calls(server, "eval") == 0)
        #expect(answers.allSatisfy { $0.count == 1 && $0[0].allowed })
        // Each key's takes in order: remaining counts down with no gap or repeat.
        for key in 0..<7 {
            let mine = answers.enumerated().filter { $0.offset % 7 == key }.map(\.element[0].remaining)
            #expect(mine == Array((1_000 - mine.count)..<1_000).reversed())
        }
    }

    @Test func afterScriptFlushTheBatchIsRetriedOnceWithEvalAndAnswered() throws {
        let server = try RedisServer()
        let harness = LoopBucketsHarness(endpoint: try endpoint(server.url))
        defer { harness.stop() }
        #expect(harness.waitUntilUp())
        let limit = bucket(10, per: .hour, burst: 3)
        #expect(harness.outcomes([[("tg:l:f:x", limit)]])?.first?.first?.remaining == 2)
        _ = try server.command(["SCRIPT", "FLUSH"])
        _ = try server.command(["CONFIG", "RESETSTAT"])
        let answers = try #require(harness.outcomes(Array(repeating: [("tg:l:f:x", limit)], count: 4)))
        #expect(answers.map { $0[0].allowed } == [true, true, false, false])
        #expect(answers.map { $0[0].remaining } == [1, 0, 0, 0])
        #expect(try calls(server, "evalsha") == 1, "the EVALSHA that met NOSCRIPT")
        #expect(try calls(server, "eval") == 1, "one EVAL for the whole batch")
        // EVAL cached it again: the next turn is an EVALSHA that succeeds.
        _ = try server.command(["CONFIG", "RESETSTAT"])
        #expect(harness.outcomes([[("tg:l:f:y", limit)]]) != nil)
        #expect(try calls(server, "evalsha") == 1)
        #expect(try calls(server, "eval") == 0)
    }

    // MARK: Fail modes

    /// A port nothing listens on (a listener's, closed at once).
    func closedPort() throws -> UInt16 {
        let listener = try Socket.listen(on: IPv4Endpoint("127.0.0.1:0")!, reusePort: false)
        defer { Socket.close(listener) }
        return try #require(Socket.localPort(listener))
    }

    @Test func aStoreThatIsDownFailsTakesAsUnavailableAfterTakeHasReturnedAndSaysSoOnce() throws {
        let port = try closedPort()
        let harness = LoopBucketsHarness(endpoint: try endpoint("redis://127.0.0.1:\(port)"))
        defer { harness.stop() }
        // Several attempts meanwhile (20 ms back-off, doubling to 200 ms): one report for all.
        usleep(400_000)
        let (answers, afterReturn) = harness.takeInOneTurn([[("tg:l:down", bucket(10, per: .second, burst: 1))]], seconds: 2)
        guard case let .failure(.unavailable(reason)) = answers[0] else {
            Issue.record("expected unavailable, got \(String(describing: answers[0]))")
            return
        }
        #expect(reason.contains("connect to 127.0.0.1:\(port)"), "\(reason)")
        #expect(afterReturn == [true], "told after take returned (a pending phase must be able to resume)")
        let changes = harness.statusChanges
        #expect(changes.count == 1 && changes[0].hasPrefix("unavailable: connect to"), "once per outage: \(changes)")
    }

    @Test func aTakeWhileDownIsAnsweredInTheSameTurn() throws {
        let harness = LoopBucketsHarness(endpoint: try endpoint("redis://127.0.0.1:\(try closedPort())"))
        defer { harness.stop() }
        // One job takes; the same turn's end tells the waiter. A job handed over once the first has
        // run runs in a later turn, and finds the answer there.
        let answers = LoopBucketsHarness.Answers(count: 1)
        let ran = LoopBucketsHarness.Flag()
        let limit = bucket(1, per: .second, burst: 1)
        harness.run { loop in
            let collector = LoopBucketsHarness.Collector(answers, 0)
            loop.buckets.take([("tg:l:now", limit)], waiter: collector)
            collector.returned = true
            ran.set()
        }
        #expect(LoopBucketsHarness.wait(seconds: 5) { ran.isSet })
        let answeredByNextTurn = harness.onLoop { _ in answers.complete }
        #expect(answeredByNextTurn, "no waiting on a Redis that is down")
        #expect(answers.afterReturn.withLock { $0 } == [true])
    }

    @Test func aKilledServerFailsTakesAndTheStoreComesBackWithIt() throws {
        let server = try RedisServer()
        let harness = LoopBucketsHarness(endpoint: try endpoint(server.url))
        defer { harness.stop() }
        #expect(harness.waitUntilUp())
        let limit = bucket(10, per: .hour, burst: 5)
        #expect(harness.outcomes([[("tg:l:k", limit)]]) != nil)
        server.kill()
        #expect(LoopBucketsHarness.wait(seconds: 5) { !harness.isUp() })
        let (down, _) = harness.takeInOneTurn([[("tg:l:k", limit)]])
        guard case .failure(.unavailable) = down[0] else {
            Issue.record("expected unavailable, got \(String(describing: down[0]))")
            return
        }
        usleep(300_000)  // retries meanwhile: still one line for the outage
        try server.start()
        #expect(harness.waitUntilUp())
        // A restarted server has no script: the reconnect's SCRIPT LOAD put it back.
        _ = try server.command(["CONFIG", "RESETSTAT"])
        #expect(harness.outcomes([[("tg:l:k", limit)]]) != nil)
        #expect(try calls(server, "eval") == 0)
        let changes = harness.statusChanges
        #expect(changes.first == "ready")
        #expect(changes.filter { $0.hasPrefix("unavailable") }.count == 1, "\(changes)")
        #expect(changes.last == "ready again", "\(changes)")
    }

    @Test func aStoppedServerTimesTakesOutAndTheStoreRecoversWhenItAnswersAgain() throws {
        let server = try RedisServer()
        let harness = LoopBucketsHarness(endpoint: try endpoint(server.url), timeoutMilliseconds: 250)
        defer {
            server.resume()
            harness.stop()
        }
        #expect(harness.waitUntilUp())
        let limit = bucket(10, per: .hour, burst: 5)
        #expect(harness.outcomes([[("tg:l:s", limit)]]) != nil)
        server.suspend()
        let (stuck, _) = harness.takeInOneTurn([[("tg:l:s", limit)], [("tg:l:s2", limit)]], seconds: 5)
        #expect(stuck.allSatisfy { $0 == .failure(.timedOut) }, "\(stuck)")
        #expect(!harness.isUp())
        usleep(200_000)  // reconnects whose handshake times out: still the same outage
        server.resume()
        #expect(harness.waitUntilUp())
        #expect(harness.outcomes([[("tg:l:s", limit)]])?.first?.first?.allowed == true)
        let changes = harness.statusChanges
        #expect(changes == ["ready", "unavailable: a command timed out", "ready again"], "\(changes)")
    }

    @Test func aTakeAfterCloseIsRefusedNotLeftWaiting() throws {
        let server = try RedisServer()
        let harness = LoopBucketsHarness(endpoint: try endpoint(server.url))
        defer { harness.stop() }
        #expect(harness.waitUntilUp())
        harness.onLoop { $0.buckets.close() }
        let (answers, _) = harness.takeInOneTurn([[("tg:l:closed", bucket(1, per: .hour, burst: 1))]], seconds: 2)
        #expect(answers[0] == .failure(.unavailable("closed")), "\(String(describing: answers[0]))")
    }

    // MARK: AUTH, SELECT, host names

    @Test func aPasswordProtectedServerIsReachedWithAuth() throws {
        let server = try RedisServer(password: "p@ss:w%rd/x")
        let harness = LoopBucketsHarness(endpoint: try endpoint(server.url))
        defer { harness.stop() }
        #expect(harness.waitUntilUp())
        #expect(harness.outcomes([[("tg:l:auth", bucket(10, per: .hour, burst: 2))]])?.first?.first?.remaining == 1)
        #expect(try server.integer(["EXISTS", "tg:l:auth"]) == 1)
    }

    @Test func aWrongPasswordNeverComesUpAndIsReportedOnce() throws {
        let server = try RedisServer(password: "right")
        let harness = LoopBucketsHarness(endpoint: try endpoint("redis://:wrong@127.0.0.1:\(server.port)"))
        defer { harness.stop() }
        usleep(500_000)
        #expect(!harness.isUp())
        let changes = harness.statusChanges
        #expect(changes.count == 1, "\(changes)")
        #expect(changes.first?.hasPrefix("unavailable: handshake: AUTH: ") == true, "\(changes)")
        #expect(changes.first?.contains("wrong") == false, "the password is not in the reason")
        let (answers, _) = harness.takeInOneTurn([[("tg:l:noauth", bucket(1, per: .hour, burst: 1))]])
        guard case let .failure(.unavailable(reason)) = answers[0] else {
            Issue.record("expected unavailable, got \(String(describing: answers[0]))")
            return
        }
        #expect(reason.hasPrefix("handshake: AUTH: "), "\(reason)")
    }

    @Test func anACLUserIsReachedWithAuthUserPassword() throws {
        let server = try RedisServer(user: (name: "rate:limiter", password: "s3cr@t"))
        let url = try #require(server.userURL)
        let parsed = try endpoint(url)
        #expect(parsed.username == "rate:limiter")
        let harness = LoopBucketsHarness(endpoint: parsed)
        defer { harness.stop() }
        #expect(harness.waitUntilUp())
        #expect(harness.outcomes([[("tg:l:acl", bucket(10, per: .hour, burst: 2))]]) != nil)
        #expect(try server.integer(["EXISTS", "tg:l:acl"]) == 1)
    }

    @Test func keysLandInTheSelectedDatabase() throws {
        let server = try RedisServer()
        let harness = LoopBucketsHarness(endpoint: try endpoint("redis://127.0.0.1:\(server.port)/5"))
        defer { harness.stop() }
        #expect(harness.waitUntilUp())
        #expect(harness.outcomes([[("tg:l:db", bucket(10, per: .hour, burst: 2))]]) != nil)
        #expect(try server.integer(["EXISTS", "tg:l:db"]) == 0, "not in db 0")
        let keyspace = try server.command(["INFO", "keyspace"])
        #expect(keyspace.contains("db5:keys=1"), "\(keyspace)")
    }

    @Test func aDatabaseTheServerDoesNotHaveFailsTheHandshake() throws {
        let server = try RedisServer()
        let harness = LoopBucketsHarness(endpoint: try endpoint("redis://127.0.0.1:\(server.port)/99"))
        defer { harness.stop() }
        usleep(300_000)
        #expect(!harness.isUp())
        #expect(harness.statusChanges.first?.hasPrefix("unavailable: handshake: SELECT 99: ") == true, "\(harness.statusChanges)")
    }

    @Test func aHostNameIsResolvedAtConnect() throws {
        let server = try RedisServer()
        let harness = LoopBucketsHarness(endpoint: try endpoint("redis://localhost:\(server.port)"))
        defer { harness.stop() }
        #expect(harness.waitUntilUp())
        #expect(harness.outcomes([[("tg:l:host", bucket(10, per: .hour, burst: 2))]]) != nil)
    }
}
