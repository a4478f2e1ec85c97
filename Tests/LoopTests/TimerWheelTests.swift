import Testing
import TollgateLoop

@Suite struct TimerWheelTests {
    private func fire(_ wheel: inout TimerWheel, to now: UInt64) -> [UInt64] {
        var expired: [UInt64] = []
        wheel.advance(to: now, into: &expired)
        return expired
    }

    @Test func timersFireInDeadlineOrderAndInSchedulingOrderWithinATick() {
        var wheel = TimerWheel(slotCount: 64, now: 1_000)
        // Payload = deadline * 10 + sequence, scheduled out of order.
        let deadlines: [UInt64] = [1_030, 1_005, 1_030, 1_001, 1_017, 1_005, 1_063, 1_002]
        for (sequence, deadline) in deadlines.enumerated() {
            wheel.schedule(at: deadline, payload: deadline * 10 + UInt64(sequence))
        }
        var fired: [UInt64] = []
        var now: UInt64 = 1_000
        while now < 1_070 {
            now += 3
            for payload in fire(&wheel, to: now) {
                #expect(payload / 10 <= now, "fired at \(now), due at \(payload / 10): never late past the advance")
                fired.append(payload)
            }
        }
        #expect(fired == [10_013, 10_027, 10_051, 10_055, 10_174, 10_300, 10_302, 10_636])
        #expect(wheel.count == 0)
    }

    @Test func aTimerNeverFiresBeforeItsDeadline() {
        var wheel = TimerWheel(slotCount: 16, now: 0)
        wheel.schedule(at: 10, payload: 1)
        #expect(fire(&wheel, to: 9).isEmpty)
        #expect(fire(&wheel, to: 10) == [1])
        // A deadline in the past or now is due at the next tick, not at once.
        wheel.schedule(at: 3, payload: 2)
        #expect(wheel.timeout(now: 10) == 1)
        #expect(fire(&wheel, to: 11) == [2])
    }

    @Test func cancelledTimersDoNotFireAndStaleIDsCancelNothing() {
        var wheel = TimerWheel(slotCount: 16, now: 0)
        let a = wheel.schedule(at: 5, payload: 1)
        let b = wheel.schedule(at: 5, payload: 2)
        let c = wheel.schedule(at: 6, payload: 3)
        let outcome1 = wheel.cancel(b)
        #expect(outcome1)
        let outcome2 = wheel.cancel(b)
        #expect(!outcome2, "cancelling twice")
        #expect(wheel.count == 2)
        #expect(fire(&wheel, to: 5) == [1])
        let outcome3 = wheel.cancel(a)
        #expect(!outcome3, "a fired timer cannot be cancelled")
        // The node of `a` or `b` is reused: their ids must not reach the new timer.
        let d = wheel.schedule(at: 7, payload: 4)
        let outcome4 = wheel.cancel(a)
        #expect(!outcome4)
        let outcome5 = wheel.cancel(b)
        #expect(!outcome5)
        #expect(wheel.isScheduled(d))
        let cancelledC355 = wheel.cancel(c)
        #expect(cancelledC355)
        #expect(fire(&wheel, to: 100) == [4])
        #expect(wheel.count == 0)
        #expect(wheel.timeout(now: 100) == -1)
    }

    @Test func timersFurtherThanOneRevolutionWaitForTheirRound() {
        var wheel = TimerWheel(slotCount: 8, now: 0)
        // Same slot (deadline mod 8 == 3), three different revolutions, scheduled latest first.
        wheel.schedule(at: 19, payload: 19)
        wheel.schedule(at: 11, payload: 11)
        wheel.schedule(at: 3, payload: 3)
        wheel.schedule(at: 1_000_003, payload: 1_000_003)
        #expect(fire(&wheel, to: 3) == [3])
        #expect(fire(&wheel, to: 10).isEmpty)
        #expect(wheel.timeout(now: 10) == 1)
        #expect(fire(&wheel, to: 11) == [11])
        // One advance across several revolutions still fires in deadline order.
        wheel.schedule(at: 25, payload: 25)
        wheel.schedule(at: 12, payload: 12)
        #expect(fire(&wheel, to: 40) == [12, 19, 25])
        #expect(wheel.timeout(now: 40) == 1_000_003 - 40)
        #expect(fire(&wheel, to: 1_000_002).isEmpty)
        #expect(fire(&wheel, to: 1_000_003) == [1_000_003])
    }

    @Test func theTimeoutIsTheEarliestDeadlineAfterCancels() {
        var wheel = TimerWheel(slotCount: 32, now: 0)
        #expect(wheel.timeout(now: 0) == -1)
        let early = wheel.schedule(at: 5, payload: 1)
        wheel.schedule(at: 500, payload: 2)
        #expect(wheel.timeout(now: 0) == 5)
        wheel.cancel(early)
        // The bound may stay early after a cancel (one wake-up for nothing), never late.
        #expect(wheel.timeout(now: 0) <= 500)
        #expect(fire(&wheel, to: 5).isEmpty)
        #expect(wheel.timeout(now: 5) == 495)
    }

    @Test func manyTimersScheduledAndCancelledReuseTheirNodes() {
        var wheel = TimerWheel(slotCount: 256, now: 0)
        var ids: [TimerID] = []
        for round in 0..<50 {
            for index in 0..<1_000 {
                ids.append(wheel.schedule(after: UInt64(1 + (index * 7919) % 5_000), payload: UInt64(round * 1_000 + index)))
            }
            for id in ids { let cancelledID948 = wheel.cancel(id)
        #expect(cancelledID948) }
            ids.removeAll()
        }
        #expect(wheel.count == 0)
        var expired: [UInt64] = []
        wheel.advance(to: 10_000, into: &expired)
        #expect(expired.isEmpty)
    }
}
