import Core
import Foundation
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The Redis store's batching against a real redis-server: the requests of one event-loop turn go
/// as one `EVALSHA`, and the answers are those of the same requests decided one by one.
@Suite("Redis buckets: one script call per event-loop turn", .serialized)
struct RedisBucketsTests {
    typealias Bound = NIOLoopBound<RedisBuckets>
    typealias Request = RedisBuckets.Request
    let group = MultiThreadedEventLoopGroup.singleton

    func makeBuckets(_ server: RedisServer) async throws -> Bound {
        let loop = group.next()
        let endpoint = try #require(RedisEndpoint(url: server.url))
        let buckets = try await loop.submit {
            let buckets = RedisBuckets(loop: loop, endpoint: endpoint, timeout: .seconds(5))
            buckets.start()
            return Bound(buckets, eventLoop: loop)
        }.get()
        // As RedisClientTests.ready: one more look after the deadline, for a sleep that overslept.
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            if try await loop.submit({ buckets.value.isUp }).get() { return buckets }
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RedisClient.Failure.unavailable("never up")
    }

    /// Submits every request in one turn of the loop (one `submit` closure), in order.
    func takeInOneTurn(_ buckets: Bound, _ requests: [[Request]]) async throws -> [[TokenBucket.Outcome]] {
        try await buckets.eventLoop.flatSubmit {
            let futures = requests.map { buckets.value.take($0) }
            return EventLoopFuture.whenAllSucceed(futures, on: buckets.eventLoop)
        }.get()
    }

    func evalshaCalls(_ server: RedisServer) throws -> Int {
        let info = try server.command(["INFO", "commandstats"])
        guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_evalsha:") }),
              let calls = line.split(separator: ",").first?.split(separator: "=").last.flatMap({ Int($0) })
        else { return 0 }
        return calls
    }

    /// The same requests decided one by one at one instant, as `TokenBucket` does in-process.
    func oneByOne(_ requests: [[Request]]) -> [[TokenBucket.Outcome]] {
        let now = 1_000_000_000.0
        var tats: [String: Double] = [:]
        return requests.map { request in
            let outcomes = request.map { $0.bucket.take(tat: tats[$0.key], now: now) }
            if outcomes.allSatisfy(\.allowed) {
                for (index, part) in request.enumerated() { tats[part.key] = outcomes[index].newTAT }
            }
            return outcomes
        }
    }

    func bucket(_ tokens: Int, per unit: Rate.Unit, burst: Int, cost: Int = 1) -> TokenBucket {
        TokenBucket(rate: Rate(tokens: tokens, unit: unit), burst: burst, cost: cost)
    }

    @Test("requests of one turn on shared and distinct keys: one EVALSHA, the answers of one-by-one decisions")
    func oneCallPerTurn() async throws {
        let server = try RedisServer()
        let buckets = try await makeBuckets(server)
        // Slow refill (per hour): nothing comes back during the test, so the one-by-one model holds.
        let five = bucket(10, per: .hour, burst: 5)
        let costly = bucket(10, per: .hour, burst: 5, cost: 2)
        let wide = bucket(100, per: .hour, burst: 50)
        let narrow = bucket(10, per: .hour, burst: 1)
        var requests: [[Request]] = []
        for index in 0..<8 {
            requests.append([("tg:t:five:a", five)])
            if index < 4 { requests.append([("tg:t:costly:c", costly)]) }
            if index < 3 { requests.append([("tg:t:wide:d", wide), ("tg:t:narrow:d", narrow)]) }
        }
        _ = try server.command(["CONFIG", "RESETSTAT"])
        let answers = try await takeInOneTurn(buckets, requests)
        #expect(try evalshaCalls(server) == 1, "one turn, one script call")

        let expected = oneByOne(requests)
        #expect(answers.count == requests.count)
        for (index, (answer, model)) in zip(answers, expected).enumerated() {
            #expect(answer.map(\.allowed) == model.map(\.allowed), "request \(index)")
            #expect(answer.map(\.remaining) == model.map(\.remaining), "request \(index)")
            for (got, want) in zip(answer, model) {
                #expect(abs(got.waitMicroseconds - want.waitMicroseconds.rounded(.up)) <= 1, "request \(index)")
            }
        }
        #expect(answers.filter { $0[0].allowed && $0.count == 1 && $0[0].remaining < 5 }.count == 5 + 2)
        // The pair admitted once, refused twice; the wide bucket was charged once, not three times.
        let pair = try await takeInOneTurn(buckets, [[("tg:t:wide:d", wide)]])
        #expect(pair[0][0].allowed && pair[0][0].remaining == 48)
        #expect(try server.integer(["EXISTS", "tg:t:five:a"]) == 1)
    }

    @Test("a turn with more requests than one batch holds: several calls, every request answered in order")
    func largeTurn() async throws {
        let server = try RedisServer()
        let buckets = try await makeBuckets(server)
        let limit = bucket(1, per: .day, burst: 300)
        let requests: [[Request]] = (0..<600).map { index in [("tg:t:big:\(index % 2)", limit)] }
        _ = try server.command(["CONFIG", "RESETSTAT"])
        let answers = try await takeInOneTurn(buckets, requests)
        let calls = try evalshaCalls(server)
        #expect(calls >= 3 && calls <= 4, "600 requests at up to 256 per call: \(calls) calls")
        // Each key's requests in order: remaining counts down 299, 298, … with no gap or repeat.
        for key in 0..<2 {
            let mine = answers.enumerated().filter { $0.offset % 2 == key }.map(\.element[0])
            #expect(mine.allSatisfy { $0.allowed })
            #expect(mine.map(\.remaining) == Array((0..<300).reversed()))
        }
    }

    @Test("SCRIPT FLUSH between turns: the batch falls back to EVAL once and every request is answered")
    func noscript() async throws {
        let server = try RedisServer()
        let buckets = try await makeBuckets(server)
        let limit = bucket(10, per: .hour, burst: 3)
        let first = try await takeInOneTurn(buckets, [[("tg:t:f:x", limit)]])
        #expect(first[0][0].remaining == 2)
        _ = try server.command(["SCRIPT", "FLUSH"])
        let answers = try await takeInOneTurn(buckets, Array(repeating: [("tg:t:f:x", limit)], count: 4))
        #expect(answers.map { $0[0].allowed } == [true, true, false, false])
        #expect(answers.map { $0[0].remaining } == [1, 0, 0, 0])
    }

    @Test("a script error (a bucket key of the wrong type) fails every request of its batch as a store error")
    func scriptError() async throws {
        let server = try RedisServer()
        let buckets = try await makeBuckets(server)
        // A string where a bucket hash should be: HGET fails inside the script, and Redis answers
        // one error for the whole call (the script is atomic: nothing of the batch was written).
        _ = try server.command(["SET", "tg:t:wrong", "x"])
        let limit = bucket(10, per: .hour, burst: 3)
        let results = try await buckets.eventLoop.flatSubmit {
            let futures = [buckets.value.take([("tg:t:wrong", limit)]), buckets.value.take([("tg:t:fine", limit)])]
            return EventLoopFuture.whenAllComplete(futures, on: buckets.eventLoop)
        }.get()
        for result in results {
            guard case let .failure(error) = result, case .server = error as? RedisClient.Failure else {
                Issue.record("expected a server error, got \(result)")
                continue
            }
        }
    }

    @Test("a store that is down fails the take, and tells the waiter only after take has returned")
    func downStoreAnswersLater() async throws {
        let loop = group.next()
        // Never started: not connected, so the circuit is open.
        let endpoint = try #require(RedisEndpoint(url: "redis://127.0.0.1:9"))
        let answer = try await loop.flatSubmit {
            let buckets = RedisBuckets(loop: loop, endpoint: endpoint, timeout: .seconds(1))
            let waiter = Waiter(promise: loop.makePromise())
            buckets.take([("tg:t:down", bucket(10, per: .second, burst: 1))], waiter: waiter)
            waiter.returned = true
            return waiter.promise.futureResult
        }.get()
        #expect(answer.failed, "a take while the store is down is a failure")
        #expect(answer.afterReturn, "the waiter was told before take returned (a pending phase would never resume)")
    }

    private final class Waiter: BucketsWaiter {
        let promise: EventLoopPromise<(failed: Bool, afterReturn: Bool)>
        var returned = false
        init(promise: EventLoopPromise<(failed: Bool, afterReturn: Bool)>) { self.promise = promise }
        func bucketsTaken(_ result: Result<ArraySlice<TokenBucket.Outcome>, RedisClient.Failure>) {
            if case .failure = result { promise.succeed((true, returned)) } else { promise.succeed((false, returned)) }
        }
    }
}
