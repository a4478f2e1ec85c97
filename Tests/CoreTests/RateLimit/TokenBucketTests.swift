import Core
import Foundation
import Testing

@Suite("Token buckets (GCRA) and the in-process store")
struct TokenBucketTests {
    let second = 1_000_000.0

    @Test("burst first, then one token per interval; a refusal says how long to wait")
    func refill() {
        let bucket = TokenBucket(rate: Rate(tokens: 10, unit: .second), burst: 20, cost: 1)
        var tat: Double?
        let now = 1_000 * second
        for index in 0..<20 {
            let outcome = bucket.take(tat: tat, now: now)
            #expect(outcome.allowed, "request \(index)")
            #expect(outcome.remaining == 19 - index)
            tat = outcome.newTAT
        }
        let refused = bucket.take(tat: tat, now: now)
        #expect(!refused.allowed && refused.remaining == 0)
        #expect(abs(refused.waitMicroseconds - 100_000) < 1)
        #expect(refused.newTAT == tat, "a refusal changes nothing")
        #expect(bucket.take(tat: tat, now: now + 99_999).allowed == false)
        let later = bucket.take(tat: tat, now: now + 100_000)
        #expect(later.allowed && later.remaining == 0)
        #expect(bucket.take(tat: later.newTAT, now: now + 10 * second).remaining == 19, "idle long enough: full again")
    }

    @Test("cost takes several tokens; a daily quota refills slowly")
    func costAndDaily() {
        let bucket = TokenBucket(rate: Rate(tokens: 1000, unit: .day), burst: 1000, cost: 400)
        let now = 5 * second
        let first = bucket.take(tat: nil, now: now)
        let second = bucket.take(tat: first.newTAT, now: now)
        let third = bucket.take(tat: second.newTAT, now: now)
        #expect(first.allowed && second.allowed && !third.allowed)
        #expect(second.remaining == 200)
        // 200 tokens more are needed: a day has 86 400 s, so 200 tokens take 17 280 s.
        #expect(abs(third.waitMicroseconds - 17_280 * self.second) < 1)
    }

    @Test("all or nothing: a request refused by its second limit takes nothing from the first")
    func allOrNothing() {
        let store = InProcessBuckets()
        let view = InProcessBuckets.LoopView(store: store)
        let roomy = TokenBucket(rate: Rate(tokens: 1, unit: .day), burst: 10, cost: 1)
        let tight = TokenBucket(rate: Rate(tokens: 1, unit: .day), burst: 2, cost: 1)
        let now = 100 * second
        for _ in 0..<2 { #expect(view.take([("a", roomy), ("b", tight)], now: now).allSatisfy { $0.allowed }) }
        for _ in 0..<5 {
            let outcomes = view.take([("a", roomy), ("b", tight)], now: now)
            #expect(outcomes[0].allowed && !outcomes[1].allowed)
        }
        let alone = view.take([("a", roomy)], now: now)[0]
        #expect(alone.allowed && alone.remaining == 7, "only the two admitted requests were charged to a")
    }

    @Test("exact across threads: 4 loops hammering one key admit exactly the burst")
    func concurrent() async {
        let store = InProcessBuckets()
        let bucket = TokenBucket(rate: Rate(tokens: 1, unit: .day), burst: 500, cost: 1)
        let now = 100 * second
        let admitted = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let view = InProcessBuckets.LoopView(store: store)
                    var count = 0
                    for _ in 0..<400 where view.take([("hot", bucket)], now: now)[0].allowed { count += 1 }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 500)
    }

    @Test("full buckets are swept; a loop holding a swept bucket picks up the new one")
    func sweep() {
        let store = InProcessBuckets()
        let view = InProcessBuckets.LoopView(store: store)
        let bucket = TokenBucket(rate: Rate(tokens: 1, unit: .second), burst: 2, cost: 1)
        let now = 100 * second
        _ = view.take([("idle", bucket)], now: now)
        _ = view.take([("busy", bucket)], now: now)
        _ = view.take([("busy", bucket)], now: now)
        #expect(store.count == 2)
        #expect(store.sweep(now: now + 1.5 * second) == 1, "idle is full again after 1 s; busy needs 2 s")
        #expect(store.count == 1)
        // The view still caches the retired "idle" bucket; using it must not lose or double tokens.
        let again = view.take([("idle", bucket)], now: now + 1.5 * second)[0]
        #expect(again.allowed && again.remaining == 1)
        #expect(store.count == 2)
        view.prune()
    }
}
