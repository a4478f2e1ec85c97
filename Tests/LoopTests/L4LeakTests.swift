import Foundation
import Synchronization
import Testing
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 16's leak test: 10,000 connections through the built `tollgate-loop-l4`, cut in random
/// states, leave the forwarder with the file descriptors it started with (`/proc/PID/fd`) and
/// every slab back in its pool (its `stats` line at exit).
@Suite struct L4LeakTests {
    /// How a test connection ends. Each goes through the forward whose upstream makes that state.
    enum Cut: CaseIterable {
        /// Echo upstream: bytes out and back, then RST.
        case resetAfterRoundTrip
        /// Echo upstream: up to 48 KiB sent, nothing read, RST (data in flight both ways).
        case resetMidStream
        /// Echo upstream: connect, FIN at once.
        case closeImmediately
        /// Echo upstream: connect, RST at once (possibly before the forwarder accepted).
        case resetImmediately
        /// Echo upstream: send, half-close, read everything back to end of file.
        case halfClose
        /// Stalled upstream (its connect never completes): send, then FIN or RST.
        case cutDuringUpstreamConnect
        /// Upstream that accepts and never reads: send until our socket is full, then RST.
        case cutWhileUpstreamIsSlow
        /// Refused upstream: the forwarder closes us.
        case upstreamRefuses
    }

    @Test func tenThousandConnectionsCutInRandomStatesLeakNoDescriptorAndNoBuffer() throws {
        let (echo, echoPort) = try TestLoop.echo()
        let slow = try SlowUpstream()
        let stalled = try StalledPort()
        let refused = try refusedPort()
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("tollgate-loop-l4")
        let forwarder = Process()
        forwarder.executableURL = binary
        forwarder.arguments = [
            "--threads", "2", "--connect-timeout-ms", "200",
            "--forward", "127.0.0.1:0=127.0.0.1:\(echoPort)",
            "--forward", "127.0.0.1:0=127.0.0.1:\(stalled.port)",
            "--forward", "127.0.0.1:0=127.0.0.1:\(slow.port)",
            "--forward", "127.0.0.1:0=127.0.0.1:\(refused)",
        ]
        let out = Pipe(), err = Pipe()
        forwarder.standardOutput = out
        forwarder.standardError = err
        forwarder.standardInput = FileHandle.nullDevice
        try forwarder.run()
        defer { if forwarder.isRunning { kill(forwarder.processIdentifier, SIGKILL) } }
        // One "listening on 127.0.0.1:PORT -> ..." line per forward, in order, once all loops run.
        var ports: [UInt16] = []
        var text = ""
        while ports.count < 4 {
            let data = err.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            ports = text.split(separator: "\n").compactMap { line in
                guard let range = line.range(of: "listening on 127.0.0.1:") else { return nil }
                return UInt16(line[range.upperBound...].prefix { $0.isNumber })
            }
        }
        try #require(ports.count == 4, "forwarder said: \(text)")
        let pid = forwarder.processIdentifier
        let descriptorsBefore = try openDescriptors(pid)
        let forwardPorts = ports

        let total = 10_000, workers = 8
        let failures = Mutex<[String]>([])
        let counts = Mutex<[String: Int]>([:])
        let pattern = Pattern()
        let threads = (0..<workers).map { worker in
            onThread("client-\(worker)") {
                var random = SplitMix(seed: UInt64(worker) &* 0x9E37_79B9_7F4A_7C15 &+ 1)
                var local: [String: Int] = [:]
                for _ in 0..<(total / workers) {
                    let cut = Cut.allCases[Int(random.next() % UInt64(Cut.allCases.count))]
                    local["\(cut)", default: 0] += 1
                    do {
                        try Self.run(cut, ports: forwardPorts, pattern: pattern, random: &random)
                    } catch {
                        failures.withLock { $0.append("\(cut): \(error)") }
                    }
                }
                let mine = local
                counts.withLock { all in for (key, value) in mine { all[key, default: 0] += value } }
            }
        }
        for thread in threads { thread.join() }

        // Let the forwarder see the last events (connect timeouts are 200 ms): poll, bounded.
        var descriptorsAfter = try openDescriptors(pid)
        for _ in 0..<500 where descriptorsAfter != descriptorsBefore {
            usleep(20_000)
            descriptorsAfter = try openDescriptors(pid)
        }
        kill(pid, SIGTERM)
        let stats = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        forwarder.waitUntilExit()
        _ = echo.stop()
        withExtendedLifetime((slow, stalled)) {}

        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(10) })")
        #expect(descriptorsAfter == descriptorsBefore, "descriptors before \(descriptorsBefore), after \(descriptorsAfter)")
        #expect(forwarder.terminationStatus == 0)
        let fields = Dictionary(
            stats.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { field -> (String, Int)? in
                let parts = field.split(separator: "=")
                guard parts.count == 2, let value = Int(parts[1]) else { return nil }
                return (String(parts[0]), value)
            }, uniquingKeysWith: { $1 })
        #expect(fields["open"] == 0, "\(stats)")
        #expect(fields["handlers"] == 0, "\(stats)")
        #expect(fields["slabs_outstanding"] == 0, "\(stats)")
        #expect(fields["slabs_outstanding_after_close"] == 0, "\(stats)")
        // Every connection reached the forwarder (an RST before accept may still be accepted or not).
        #expect((total - 200...total).contains(fields["accepted"] ?? 0), "\(stats)")
        #expect(counts.withLock { $0.count } == Cut.allCases.count)
        print("L4LeakTests: \(counts.withLock { $0 }) -> \(stats.trimmingCharacters(in: .whitespacesAndNewlines)); descriptors \(descriptorsBefore) before and after")
    }

    private static func run(_ cut: Cut, ports: [UInt16], pattern: Pattern, random: inout SplitMix) throws {
        let echo = ports[0], stalled = ports[1], slow = ports[2], refused = ports[3]
        let size = 1 + Int(random.next() % 48_000)
        let offset = Int(random.next() % 65_000)
        switch cut {
        case .resetAfterRoundTrip:
            let client = try BlockingSocket.connect(port: echo)
            try client.write(pattern.slice(at: offset, count: size))
            let back = try client.readExactly(size)
            guard back.withUnsafeBytes({ pattern.matches($0, at: offset) }) else { throw LeakTestFailure.corrupted }
            client.reset()
        case .resetMidStream:
            let client = try BlockingSocket.connect(port: echo)
            try client.write(pattern.slice(at: offset, count: size))
            client.reset()
        case .closeImmediately:
            try BlockingSocket.connect(port: echo).close()
        case .resetImmediately:
            try BlockingSocket.connect(port: echo).reset()
        case .halfClose:
            let client = try BlockingSocket.connect(port: echo)
            try client.write(pattern.slice(at: offset, count: size))
            client.shutdownWrite()
            let back = try client.readToEnd()
            client.close()
            guard back.count == size else { throw LeakTestFailure.short(back.count, size) }
        case .cutDuringUpstreamConnect:
            let client = try BlockingSocket.connect(port: stalled)
            try client.write(pattern.slice(at: offset, count: min(size, 1_000)))
            if random.next() % 2 == 0 { client.reset() } else { client.close() }
        case .cutWhileUpstreamIsSlow:
            let client = try BlockingSocket.connect(port: slow)
            _ = fcntl(client.fd, F_SETFL, fcntl(client.fd, F_GETFL) | O_NONBLOCK)
            var sent = 0
            while sent < 4 << 20 {
                let n = send(client.fd, pattern.slice(at: sent, count: 65_536).baseAddress, 65_536, Int32(MSG_NOSIGNAL))
                if n <= 0 { break }
                sent += n
            }
            client.reset()
        case .upstreamRefuses:
            let client = try BlockingSocket.connect(port: refused)
            _ = try? client.readToEnd()
            client.close()
        }
    }

    private func openDescriptors(_ pid: Int32) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
    }
}

enum LeakTestFailure: Error {
    case corrupted
    case short(Int, Int)
}

/// A small deterministic generator: each worker's sequence of cuts is the same on every run.
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

/// An upstream that accepts and never reads: the forwarder's writes to it block. It keeps the last
/// 64 connections open and closes older ones (so some forwarded connections also see their
/// upstream go away mid-stream).
final class SlowUpstream: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private final class Flag: Sendable { let running = Atomic<Bool>(true) }
    private let flag = Flag()
    private var thread: EventLoopThread?

    init() throws {
        listener = try Socket.listen(on: IPv4Endpoint("127.0.0.1:0")!, reusePort: false)
        port = Socket.localPort(listener)!
        let listener = self.listener
        let flag = self.flag
        thread = onThread("slow-upstream") {
            var held: [Int32] = []
            while flag.running.load(ordering: .relaxed) {
                var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 20) == 1 else { continue }
                while case let .accepted(fd) = Socket.accept(listener) {
                    held.append(fd)
                    if held.count > 64 { Socket.close(held.removeFirst()) }
                }
            }
            for fd in held { Socket.close(fd) }
        }
    }

    deinit {
        flag.running.store(false, ordering: .relaxed)
        thread?.join()
        Socket.close(listener)
    }
}
