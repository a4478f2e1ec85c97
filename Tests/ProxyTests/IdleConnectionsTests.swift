import NIOCore
import Testing

@testable import tollgate_proxy

@Suite("Idle connections: one sweep per loop")
struct IdleConnectionsTests {
    final class Connection: IdleConnection {
        var lastRead: NIODeadline
        var told = 0
        init(lastRead: NIODeadline) { self.lastRead = lastRead }
        func idleTimeoutPassed() { told += 1 }
    }

    @Test("a connection silent for the timeout is told once per period; one that read recently is not")
    func sweep() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        let idle = IdleConnections(timeout: .seconds(60))
        let silent = Connection(lastRead: start)
        let busy = Connection(lastRead: start)
        idle.add(silent)
        idle.add(busy)
        idle.sweep(now: start + .seconds(59))
        #expect(silent.told == 0 && busy.told == 0)
        busy.lastRead = start + .seconds(30)
        idle.sweep(now: start + .seconds(60))
        #expect(silent.told == 1, "silent for the whole timeout")
        #expect(busy.told == 0, "read 30 s ago")
        idle.sweep(now: start + .seconds(61))
        #expect(silent.told == 1, "a new period starts when it is told")
        idle.sweep(now: start + .seconds(120))
        #expect(silent.told == 2)
        idle.remove(silent)
        idle.sweep(now: start + .seconds(500))
        #expect(silent.told == 2, "a removed connection is never told")
        #expect(busy.told == 2, "silent since 30 s: told at 120 s and again at 500 s")
    }

    @Test("the sweep runs five times per timeout, at most once a second and at least every 10 ms")
    func interval() {
        #expect(IdleConnections(timeout: .seconds(60)).interval == .seconds(1))
        #expect(IdleConnections(timeout: .milliseconds(300)).interval == .milliseconds(60))
        #expect(IdleConnections(timeout: .milliseconds(20)).interval == .milliseconds(10))
    }
}
