import Synchronization
import Testing
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// The L4 forwarder on real loopback sockets, in this process: an echo upstream on one loop, the
/// forwarder on another, blocking clients on test threads. The forwarder's pool counters (read
/// after a stop) say whether a buffer leaked; its stats say how each connection ended.
@Suite struct L4ForwarderTests {
    private static let loopback = IPv4Endpoint("127.0.0.1:0")!

    @Test func sixtyFourMebibytesPassBothWaysIntactToASlowReaderWithBoundedBuffers() throws {
        let (echo, echoPort) = try TestLoop.echo()
        let (forwarder, port) = try TestLoop.forwarder(to: Self.loopback.with(port: echoPort))
        let total = 64 << 20
        let pattern = Pattern()
        let client = try BlockingSocket.connect(port: port, timeoutSeconds: 30)
        let writeError = Mutex<String?>(nil)
        let writer = onThread("writer") {
            var offset = 0
            do {
                while offset < total {
                    let count = min(Pattern.maxSlice - 15, total - offset)  // an odd size: slab boundaries move
                    try client.write(pattern.slice(at: offset, count: count))
                    offset += count
                }
                client.shutdownWrite()
            } catch {
                writeError.withLock { $0 = "after \(offset) bytes: \(error)" }
            }
        }
        // The reader is slow (a pause every 16 reads): the echo's and the forwarder's writes back
        // block, their rings fill, and the writer above must be held back through both hops.
        var received = 0
        var mismatchAt: Int?
        var reads = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try client.read(into: buffer)
            if n == 0 { break }
            if mismatchAt == nil, !pattern.matches(UnsafeRawBufferPointer(rebasing: buffer[..<n]), at: received) {
                mismatchAt = received
            }
            received += n
            reads += 1
            if reads % 16 == 0 { usleep(2_000) }
        }
        writer.join()
        client.close()
        #expect(writeError.withLock { $0 } == nil)
        #expect(received == total, "the end of file came after every byte (half-close passed both hops)")
        #expect(mismatchAt == nil)
        let report = try settle(forwarder)
        _ = echo.stop()
        #expect(report.outstandingSlabs == 0)
        #expect(report.stats.open == 0)
        #expect(report.stats.completed == 1)
        // Back-pressure, not buffering: one slab per direction at most, whatever the volume.
        #expect(report.slabHighWater <= 2)
    }

    @Test func aHalfCloseIsPassedOnEachWayIndependently() throws {
        // An upstream that speaks first, closes its writing side, and then still reads.
        let listener = try Socket.listen(on: Self.loopback, reusePort: false)
        let upstreamPort = Socket.localPort(listener)!
        let upstreamReceived = Mutex<[UInt8]?>(nil)
        let upstream = onThread("upstream") {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, 10_000)
            let fd = accept(listener, nil, nil)
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
            let socket = BlockingSocket(fd: fd)
            try? socket.write(Array("banner\n".utf8))
            socket.shutdownWrite()
            let rest = try? socket.readToEnd()
            upstreamReceived.withLock { $0 = rest }
            socket.close()
            Socket.close(listener)
        }
        let (forwarder, port) = try TestLoop.forwarder(to: Self.loopback.with(port: upstreamPort))
        let client = try BlockingSocket.connect(port: port)
        // The upstream's end of file reaches us while our side is still open...
        #expect(try client.readToEnd() == Array("banner\n".utf8))
        // ...and we can still send, until our own end of file, which reaches the upstream.
        try client.write(Array("after the banner".utf8))
        client.shutdownWrite()
        upstream.join()
        client.close()
        #expect(upstreamReceived.withLock { $0 } == Array("after the banner".utf8))
        let report = try settle(forwarder)
        #expect(report.stats.completed == 1)
        #expect(report.stats.errors == 0)
        #expect(report.outstandingSlabs == 0)
    }

    @Test func anUnreachableUpstreamClosesTheClient() throws {
        let (forwarder, port) = try TestLoop.forwarder(to: Self.loopback.with(port: try refusedPort()))
        for _ in 0..<20 {
            let client = try BlockingSocket.connect(port: port)
            try? client.write(Array("GET / HTTP/1.1\r\n\r\n".utf8))
            // End of file or a reset: either way, no bytes and no hang.
            let answer = try? client.readToEnd()
            #expect(answer == nil || answer == [])
            client.close()
        }
        let report = try settle(forwarder)
        #expect(report.stats.upstreamConnectFailures == 20)
        #expect(report.stats.open == 0)
        #expect(report.outstandingSlabs == 0)
    }

    @Test func aConnectThatNeverCompletesTimesOutAndClosesTheClient() throws {
        let stalled = try StalledPort()
        let (forwarder, port) = try TestLoop.forwarder(to: Self.loopback.with(port: stalled.port)) {
            $0.connectTimeoutMilliseconds = 50
        }
        let client = try BlockingSocket.connect(port: port)
        try client.write(Array("held while connecting".utf8))
        let answer = try? client.readToEnd()
        #expect(answer == nil || answer == [])
        client.close()
        let report = try settle(forwarder)
        #expect(report.stats.connectTimeouts == 1)
        #expect(report.stats.open == 0)
        #expect(report.outstandingSlabs == 0, "the bytes held for the upstream went back to the pool")
    }

    @Test func aClientResetMidStreamClosesBothSidesAndFreesItsBuffers() throws {
        let (echo, echoPort) = try TestLoop.echo()
        let (forwarder, port) = try TestLoop.forwarder(to: Self.loopback.with(port: echoPort))
        let pattern = Pattern()
        for round in 0..<50 {
            let client = try BlockingSocket.connect(port: port)
            try client.write(pattern.slice(at: round, count: 60_000))
            _ = try client.readExactly(1_000)
            client.reset()
        }
        let report = try settle(forwarder)
        _ = echo.stop()
        #expect(report.stats.accepted == 50)
        #expect(report.stats.open == 0)
        #expect(report.outstandingSlabs == 0)
    }

    private func settle(_ loop: TestLoop) throws -> TestLoop.Report {
        loop.stopWhenIdle()
    }
}
