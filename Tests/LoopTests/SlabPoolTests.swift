import Testing
import TollgateLoop

@Suite struct SlabPoolTests {
    @Test func outstandingCountsWhatIsHeldAndReturnsToZero() {
        let pool = SlabPool(slabSize: 1_024, maxCached: 4)
        let slabs = (0..<3).map { _ in pool.acquire() }
        #expect(pool.outstanding == 3)
        #expect(pool.highWater == 3)
        #expect(pool.allocated == 3)
        for slab in slabs { pool.release(slab) }
        #expect(pool.outstanding == 0)
        #expect(pool.highWater == 3)
        #expect(pool.cached == 3)
    }

    @Test func aSteadyStreamReusesSlabsWithoutAllocating() {
        let pool = SlabPool(slabSize: 1_024, maxCached: 8)
        let warm = (0..<2).map { _ in pool.acquire() }
        for slab in warm { pool.release(slab) }
        let allocations = pool.allocations
        for _ in 0..<10_000 {
            let a = pool.acquire(), b = pool.acquire()
            pool.release(a)
            pool.release(b)
        }
        #expect(pool.allocations == allocations)
        #expect(pool.outstanding == 0)
    }

    @Test func beyondTheCacheSlabsGoBackToTheSystem() {
        let pool = SlabPool(slabSize: 1_024, maxCached: 2)
        let slabs = (0..<5).map { _ in pool.acquire() }
        for slab in slabs { pool.release(slab) }
        #expect(pool.cached == 2)
        #expect(pool.allocated == 2)
        pool.trim()
        #expect(pool.allocated == 0)
        #expect(pool.cached == 0)
        #expect(pool.outstanding == 0)
    }
}
