import Foundation
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Issue 16's leak test for the HTTP data path on the loops (`run --data-path loop --threads 2`):
/// 10,000 client connections cut in random states leave every proxy with the descriptors it had
/// after its warm-up, minus nothing and plus only the upstream sockets its keep-alive pool holds,
/// no client connection counted open, and its resident memory where it was. And 1,000 idle
/// keep-alive connections cost what the issue allows.
///
/// The proxy has one `--upstream`, so the states that need a particular upstream run through
/// proxies of their own: one in front of `TestUpstream` (head, body, streaming, pipelining), one
/// whose upstream never completes the handshake (`StalledListener`: a SYN dropped by a full
/// backlog, so the cut lands while the proxy's connect is in progress), one whose upstream
/// accepts and never reads or answers (`SlowUpstream`) and one whose upstream port is closed
/// (every request gets a 502).
@Suite(
    "Loop data path: no descriptor, connection or memory leaks", .serialized,
    // It passes --data-path loop itself, so scripts/test's second pass (TOLLGATE_DATA_PATH=nio)
    // would only run it again on the loop: 20 s of two shared cores for nothing.
    .enabled(if: ProcessInfo.processInfo.environment["TOLLGATE_DATA_PATH"] != "nio"))
struct LoopLeakTests {
    /// The fixed seed of the cuts (issue 16); `TOLLGATE_LEAK_SEED` replays another.
    static let seed: UInt64 = ProcessInfo.processInfo.environment["TOLLGATE_LEAK_SEED"].flatMap { UInt64($0) } ?? 16_016

    static let loopArguments = ["--data-path", "loop", "--threads", "2"]

    /// Resident memory the load may leave behind: 8 MiB. A leak of one read buffer (16 KiB) per
    /// connection would be 160 MiB over 10,000 connections; one small object per connection, a
    /// few MiB more on top of allocator slack, which is what this margin allows.
    static let residentMargin = 8 << 20

    /// How a test connection ends.
    enum Cut: String, CaseIterable {
        /// Part of a request head, then RST.
        case resetMidHead
        /// A POST head and half its Content-Length body, then RST (the upstream has the head).
        case resetMidBody
        /// Part of a request head, then FIN; whatever the proxy answers is read to its close.
        case finMidHead
        /// A complete keep-alive request and its response, then a multi-MiB download cut by an RST
        /// after at most 256 KiB of it.
        case resetWhileResponseStreams
        /// A request to the proxy whose upstream connect never completes; RST or FIN within 20 ms.
        case cutDuringUpstreamConnect
        /// A GET, or a POST whose 1 MiB body fills the sockets, to the proxy whose upstream
        /// accepts and never reads; RST or FIN within 10 ms.
        case cutWhileUpstreamIsSlow
        /// A request to the proxy whose upstream port is closed: a 502, then RST or FIN.
        case upstreamRefuses
        /// Two to five pipelined requests, zero to all of their responses read, then RST.
        case pipelinedThenReset
    }

    enum LeakTestFailure: Error, CustomStringConvertible {
        case invalid(String)
        var description: String {
            switch self {
            case let .invalid(text): text
            }
        }
    }

    @Test("10,000 connections cut in random states leave no descriptor, connection or memory behind")
    func tenThousandCutConnections() throws {
        let stalled = try StalledListener()
        let slow = try SlowUpstream()
        defer { slow.stop() }
        let main = try LoopProxy("main", arguments: Self.loopArguments)
        let connecting = try LoopProxy("connecting", upstreamPort: stalled.port, arguments: Self.loopArguments)
        let slowProxy = try LoopProxy("slow", upstreamPort: slow.port, arguments: Self.loopArguments + ["--upstream-timeout", "2s"])
        let refused = try LoopProxy("refused", upstreamPort: freeLoopbackPort(), arguments: Self.loopArguments)
        let proxies = [main, connecting, slowProxy, refused]

        // Warm-up: both loops serve, lazily made state exists, the pool holds what it holds.
        for index in 0..<4 {
            let response = try main.harness.request("GET", "/echo/warm-up/\(index)")
            try #require(response.status == 200)
        }
        // These two end in a connect timeout (1 s) and an upstream timeout (2 s): 502 or 504.
        _ = try? connecting.harness.request("GET", "/echo/warm-up")
        _ = try? slowProxy.harness.request("GET", "/echo/warm-up")
        #expect(try refused.harness.request("GET", "/echo/warm-up").status == 502)
        let before = try proxies.map { try $0.settled() }

        // Bounded twice: a proxy that leaks makes clients wait on closes that never come, so
        // the workers stop after 50 failures or 120 s (about ten times a normal run here).
        let total = 10_000, concurrency = 32, maxFailures = 50
        let deadline = ContinuousClock.now + .seconds(120)
        let ports = Ports(
            main: main.harness.port, connecting: connecting.harness.port, slow: slowProxy.harness.port, refused: refused.harness.port)
        let failures = Mutex<[String]>([])
        let tallies = Mutex(Tally())
        let start = ContinuousClock.now
        let group = DispatchGroup()
        for worker in 0..<concurrency {
            group.enter()
            Thread {
                defer { group.leave() }
                var mine = Tally()
                for index in stride(from: worker, to: total, by: concurrency) {
                    guard ContinuousClock.now < deadline, failures.withLock({ $0.count }) < maxFailures else {
                        mine.skipped += 1
                        continue
                    }
                    var random = SplitMix(seed: Self.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
                    let cut = Cut.allCases[Int(random.next() % UInt64(Cut.allCases.count))]
                    mine.cuts[cut, default: 0] += 1
                    do {
                        try Self.run(cut, index: index, ports: ports, random: &random, tally: &mine)
                    } catch {
                        failures.withLock { $0.append("#\(index) \(cut): \(error)") }
                    }
                }
                let done = mine
                tallies.withLock { $0.merge(done) }
            }.start()
        }
        group.wait()
        let elapsed = ContinuousClock.now - start

        let settling = ContinuousClock.now
        let after = try zip(proxies, before).map { proxy, baseline in try proxy.settled(like: baseline) }
        let settled = ContinuousClock.now - settling
        let tally = tallies.withLock { $0 }
        let failed = failures.withLock { $0 }
        let cuts = tally.cuts.map { "\($0.key.rawValue)=\($0.value)" }.sorted().joined(separator: " ")
        let statuses = tally.statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
        print(
            "LoopLeakTests: seed \(Self.seed); \(total) connections, \(concurrency) at a time, in \(elapsed)"
                + " (all four proxies quiet \(settled) later); cuts \(cuts); \(tally.responses) responses read and valid"
                + " (\(statuses)); \(failed.count) failures, \(tally.skipped) skipped")
        for (proxy, (was, now)) in zip(proxies, zip(before, after)) {
            print("LoopLeakTests: \(proxy.name): before \(was), after \(now)")
        }

        #expect(failed.count == 0, "first failures: \(failed.prefix(10))")
        #expect(tally.skipped == 0, "stopped early: \(tally.skipped) connections not made")
        #expect(Set(tally.cuts.keys) == Set(Cut.allCases))
        for (proxy, (was, now)) in zip(proxies, zip(before, after)) {
            #expect(proxy.harness.process.isRunning, "\(proxy.name) exited: \(proxy.harness.stderr.suffix(2_000))")
            #expect(
                now.otherDescriptors == was.otherDescriptors,
                "\(proxy.name): descriptors besides client and upstream sockets, before \(was), after \(now)")
            #expect(now.clientSockets == 0, "\(proxy.name): \(now)")
            #expect(now.upstreamSocketsNotEstablished == 0, "\(proxy.name): upstream connects in progress or half-closed, \(now)")
            // Only the main proxy's upstream answers, so only its connections can be pooled (at
            // most 256 idle per loop); the others' have nothing to keep.
            #expect(now.upstreamSockets <= (proxy === main ? 2 * 256 : 0), "\(proxy.name): \(now)")
            #expect(now.clientGauge == 0, "\(proxy.name): tollgate_client_connections, \(now)")
            #expect(
                now.upstreamGauge == now.upstreamSockets, "\(proxy.name): tollgate_upstream_connections against the kernel's count, \(now)")
            // The wording of the same check: descriptors back to the baseline once the
            // pooled upstream sockets are taken off by the proxy's own gauge.
            #expect(
                now.descriptors - now.adminSockets - (now.upstreamGauge ?? -1)
                    == was.descriptors - was.adminSockets - (was.upstreamGauge ?? -1),
                "\(proxy.name): before \(was), after \(now)")
            #expect(
                now.residentBytes <= was.residentBytes + Self.residentMargin,
                "\(proxy.name): RSS before \(was.residentBytes.mebibytes), after \(now.residentBytes.mebibytes)")
        }
        withExtendedLifetime(stalled) {}
    }

    @Test("1,000 idle keep-alive connections: the proxy's RSS idle and with them")
    func aThousandIdleKeepAliveConnections() throws {
        let proxy = try LoopProxy("idle", arguments: Self.loopArguments)
        for index in 0..<4 {
            try #require(try proxy.harness.request("GET", "/echo/warm-up/\(index)").status == 200)
        }
        Thread.sleep(forTimeInterval: 1)
        let idle = try proxy.settled()

        // One at a time: a burst of 1,000 requests would need 1,000 upstream connections at once,
        // more than TestUpstream's accept backlog (NIO's default, 256) takes; the connects beyond
        // it wait on SYN retransmits past the 1 s connect timeout and end in 502s.
        var connections: [RawHTTPConnection] = []
        var ok = 0
        var errors: [String: Int] = [:]
        for index in 0..<1_000 {
            do {
                let connection = try proxy.harness.connect()
                try connection.send("GET /echo/idle/\(index) HTTP/1.1\r\nHost: idle\r\n\r\n")
                let status = try connection.readResponse().status
                if status == 200 { ok += 1 } else { errors["status \(status)", default: 0] += 1 }
                connections.append(connection)
            } catch {
                errors["\(error)", default: 0] += 1
            }
        }
        Thread.sleep(forTimeInterval: 1)
        // Under load a socket of the warm-up may still be closing: look again for up to 3 s.
        var loaded = try proxy.sample()
        let settled = Date().addingTimeInterval(3)
        while loaded.clientSockets != 1_000, Date() < settled {
            usleep(100_000)
            loaded = try proxy.sample()
        }
        print(
            "LoopLeakTests: RSS idle \(idle.residentBytes.mebibytes), with 1,000 idle keep-alive connections"
                + " \(loaded.residentBytes.mebibytes) (debug build); \(loaded)")
        #expect(ok == 1_000, "\(errors)")
        #expect(loaded.clientSockets == 1_000)
        #expect(loaded.clientGauge == 1_000)
        // The targets are 30 and 64 MiB for the release build; a debug build is larger,
        // so these ceilings only catch a gross regression.
        #expect(idle.residentBytes <= 64 << 20)
        #expect(loaded.residentBytes <= 128 << 20)

        connections.removeAll()
        let closed = try proxy.settled(like: idle)
        #expect(closed.clientSockets == 0 && closed.clientGauge == 0, "\(closed)")
        #expect(closed.otherDescriptors == idle.otherDescriptors, "idle \(idle), after the 1,000 closed \(closed)")
    }

    // MARK: - The cuts

    struct Ports: Sendable {
        let main: Int, connecting: Int, slow: Int, refused: Int
    }

    struct Tally: Sendable {
        var cuts: [Cut: Int] = [:]
        var responses = 0
        var statuses: [Int: Int] = [:]
        /// Connections not made because the run stopped early.
        var skipped = 0

        mutating func merge(_ other: Tally) {
            cuts.merge(other.cuts, uniquingKeysWith: +)
            responses += other.responses
            skipped += other.skipped
            statuses.merge(other.statuses, uniquingKeysWith: +)
        }

        mutating func count(_ status: Int) {
            responses += 1
            statuses[status, default: 0] += 1
        }
    }

    private static func run(_ cut: Cut, index: Int, ports: Ports, random: inout SplitMix, tally: inout Tally) throws {
        let head = "GET /echo/\(index) HTTP/1.1\r\nHost: leak\r\nUser-Agent: tollgate-leak-test\r\nAccept: */*\r\n\r\n"
        switch cut {
        case .resetMidHead:
            let client = try CutConnection(port: ports.main)
            try client.send(Array(head.utf8.prefix(1 + Int(random.next() % UInt64(head.utf8.count - 1)))))
            client.reset()
        case .resetMidBody:
            let client = try CutConnection(port: ports.main)
            let length = 2 + Int(random.next() % 262_144)
            try client.send("POST /upload/\(index) HTTP/1.1\r\nHost: leak\r\nContent-Length: \(length)\r\n\r\n")
            try client.send([UInt8](repeating: UInt8(ascii: "b"), count: length / 2))
            client.reset()
        case .finMidHead:
            let client = try CutConnection(port: ports.main)
            try client.send(Array(head.utf8.prefix(1 + Int(random.next() % UInt64(head.utf8.count - 4)))))
            client.shutdownWrite()
            // The proxy may answer a head cut short (a 400) or just close; either way it closes,
            // at once: a proxy that keeps the half-closed connection fails here in 5 s (long
            // enough for a machine busy with other builds).
            client.setReadTimeout(seconds: 5)
            if let answer = try client.readToEnd(), !answer.isEmpty {
                let text = String(decoding: answer.prefix(12), as: UTF8.self)
                guard text.hasPrefix("HTTP/1.1 4") else { throw LeakTestFailure.invalid("answer to a head cut short: \(text)") }
                tally.count(Int(text.dropFirst(9)) ?? 0)
            }
            client.close()
        case .resetWhileResponseStreams:
            let client = try CutConnection(port: ports.main)
            let framing = random.next() % 2 == 0 ? "length" : "chunked"
            let uri = "/echo/\(index)?framing=\(framing)"
            try client.send("GET \(uri) HTTP/1.1\r\nHost: leak\r\n\r\n")
            try expectEcho(try client.readResponse(), uri: uri, tally: &tally)
            let bytes = (1 << 20) + Int(random.next() % UInt64(7 << 20))
            try client.send("GET /download?bytes=\(bytes) HTTP/1.1\r\nHost: leak\r\n\r\n")
            let download = try client.readResponse(bodyLimit: Int(random.next() % 262_144))
            guard download.status == 200, download.headers["content-length"] == String(bytes) else {
                throw LeakTestFailure.invalid("download: \(download.status) \(download.headers)")
            }
            tally.count(download.status)
            client.reset()
        case .cutDuringUpstreamConnect:
            let client = try CutConnection(port: ports.connecting)
            try client.send(head)
            usleep(UInt32(random.next() % 20_000))
            if random.next() % 2 == 0 { client.reset() } else { client.close() }
        case .cutWhileUpstreamIsSlow:
            let client = try CutConnection(port: ports.slow)
            if random.next() % 2 == 0 {
                try client.send(head)
            } else {
                try client.send("POST /upload/\(index) HTTP/1.1\r\nHost: leak\r\nContent-Length: 1048576\r\n\r\n")
                _ = client.sendUntilFull(1 << 20)
            }
            usleep(UInt32(random.next() % 10_000))
            if random.next() % 2 == 0 { client.reset() } else { client.close() }
        case .upstreamRefuses:
            let client = try CutConnection(port: ports.refused)
            try client.send(head)
            let response = try client.readResponse()
            guard response.status == 502 else { throw LeakTestFailure.invalid("refused upstream: \(response.status)") }
            tally.count(response.status)
            if random.next() % 2 == 0 { client.reset() } else { client.close() }
        case .pipelinedThenReset:
            let client = try CutConnection(port: ports.main)
            let count = 2 + Int(random.next() % 4)
            let uris = (0..<count).map { "/echo/\(index)/pipelined/\($0)" }
            try client.send(uris.map { "GET \($0) HTTP/1.1\r\nHost: leak\r\n\r\n" }.joined())
            for uri in uris.prefix(Int(random.next() % UInt64(count + 1))) {
                try expectEcho(try client.readResponse(), uri: uri, tally: &tally)
            }
            client.reset()
        }
    }

    /// A 200 whose JSON echo names the URI the client sent on this connection.
    private static func expectEcho(
        _ response: (status: Int, headers: [String: String], body: [UInt8]), uri: String, tally: inout Tally
    ) throws {
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        guard response.status == 200, json?["uri"] as? String == uri else {
            let body = String(decoding: response.body.prefix(200), as: UTF8.self)
            throw LeakTestFailure.invalid("expected the echo of \(uri), got \(response.status) \(body)")
        }
        tally.count(response.status)
    }
}

// MARK: - A proxy on the loop data path, and what the kernel and its /metrics say about it

/// A `tollgate-proxy run` with a `TestUpstream` of its own or pointed at a given port.
final class LoopProxy {
    let name: String
    let harness: ProxyHarness
    let upstreamPort: Int
    private let upstream: TestUpstream?

    init(_ name: String, upstreamPort: Int? = nil, arguments: [String]) throws {
        self.name = name
        let upstream = upstreamPort == nil ? try TestUpstream() : nil
        self.upstream = upstream
        self.upstreamPort = upstreamPort ?? upstream!.port
        do {
            harness = try ProxyHarness(
                policies: ["routes.yaml": ProxyFixture.policy], upstreamPort: self.upstreamPort, arguments: arguments)
        } catch {
            upstream?.shutdown()
            throw error
        }
    }

    deinit {
        _ = harness.stop()
        upstream?.shutdown()
    }

    /// One look at the proxy: descriptors and TCP sockets from the same `/proc/PID/fd` listing
    /// round, the gauges from `/metrics` (nil if missing), RSS.
    struct Sample: CustomStringConvertible {
        let descriptors: Int
        let clientSockets: Int
        let upstreamSockets: Int
        /// Upstream sockets not in ESTABLISHED: a connect in progress (SYN sent) or one the
        /// upstream closed that the proxy has not (CLOSE_WAIT). Only established ones can be pooled.
        let upstreamSocketsNotEstablished: Int
        let adminSockets: Int
        let clientGauge: Int?
        let upstreamGauge: Int?
        let residentBytes: Int

        /// Descriptors other than connections to clients, to the upstream and to the admin port
        /// (listeners, epoll, eventfds, files): the number that must not move.
        var otherDescriptors: Int { descriptors - clientSockets - upstreamSockets - adminSockets }

        var description: String {
            "\(descriptors) fds (\(otherDescriptors) other, \(clientSockets) client, \(upstreamSockets) upstream sockets of which"
                + " \(upstreamSocketsNotEstablished) not established); gauges client \(clientGauge.map(String.init) ?? "-"),"
                + " upstream \(upstreamGauge.map(String.init) ?? "-"); RSS \(residentBytes.mebibytes)"
        }
    }

    func sample() throws -> Sample {
        let metrics = (try? harness.admin("GET", "/metrics").text) ?? ""
        let probe = ProcessProbe(pid: harness.process.processIdentifier)
        let descriptors = try probe.descriptorCount()
        let sockets = try probe.tcpSockets()
        let listen = 0x0A, established = 0x01
        let upstream = sockets.filter { $0.remotePort == upstreamPort }
        return Sample(
            descriptors: descriptors,
            clientSockets: sockets.filter { $0.localPort == harness.port && $0.state != listen }.count,
            upstreamSockets: upstream.count,
            upstreamSocketsNotEstablished: upstream.filter { $0.state != established }.count,
            adminSockets: sockets.filter { $0.localPort == harness.adminPort && $0.state != listen }.count,
            clientGauge: metricValue(metrics, "tollgate_client_connections").map { Int($0) },
            upstreamGauge: metricValue(metrics, "tollgate_upstream_connections").map { Int($0) },
            residentBytes: probe.residentBytes() ?? 0)
    }

    /// A sample once the proxy is quiet: no client socket, every upstream socket an established
    /// one (pooled), the gauges agreeing with the kernel and, given `baseline`, as many other
    /// descriptors as then. Polls for up to 10 s (a connect left behind by a cut client gives up
    /// within its 1 s timeout at the latest) and returns the last sample either way, for the
    /// caller to assert on.
    func settled(like baseline: Sample? = nil) throws -> Sample {
        let deadline = ContinuousClock.now + .seconds(10)
        var last = try sample()
        while ContinuousClock.now < deadline {
            let quiet = last.clientSockets == 0 && last.clientGauge == 0 && last.upstreamSocketsNotEstablished == 0
                && last.upstreamGauge == last.upstreamSockets
                && (baseline == nil || last.otherDescriptors == baseline!.otherDescriptors)
            if quiet { return last }
            usleep(50_000)
            last = try sample()
        }
        return last
    }
}

/// A small deterministic generator: connection `i`'s cut and its details are the same on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
