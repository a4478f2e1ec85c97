import Foundation
import TestSupport

/// One request of a load run: when it was sent and when its response was read (monotonic clock),
/// and its status (-1: the connection failed).
struct LoadSample: Sendable {
    let worker: Int
    let path: String
    let sent: ContinuousClock.Instant
    let received: ContinuousClock.Instant
    let status: Int

    var latency: Duration { received - sent }
}

/// Concurrent load from real threads, each with its own keep-alive connection, bounded twice: by a
/// deadline and by a number of requests per worker. (`DispatchQueue.concurrentPerform` would run only
/// as many workers at once as there are cores: two here.)
final class ConcurrentLoad: @unchecked Sendable {
    typealias Request = @Sendable (_ worker: Int, _ index: Int) -> (path: String, headers: [(String, String)])

    // Guarded by `lock`.
    private var samples: [LoadSample] = []
    private let lock = NSLock()
    private let done = DispatchGroup()

    /// Starts the workers and returns at once; `wait()` collects what they recorded.
    /// Worker `w` talks to `ports[w % ports.count]`.
    init(
        ports: [Int], workers: Int, for duration: Duration, maxPerWorker: Int, pause: Duration = .zero,
        request: @escaping Request
    ) {
        let deadline = ContinuousClock.now + duration
        for worker in 0..<workers {
            done.enter()
            let thread = Thread { [self] in
                defer { done.leave() }
                run(worker: worker, port: ports[worker % ports.count], deadline: deadline, limit: maxPerWorker, pause: pause, request: request)
            }
            thread.start()
        }
    }

    /// Every sample, once every worker has finished.
    func wait() -> [LoadSample] {
        done.wait()
        lock.lock()
        defer { lock.unlock() }
        return samples
    }

    private func run(worker: Int, port: Int, deadline: ContinuousClock.Instant, limit: Int, pause: Duration, request: Request) {
        var connection: RawHTTPConnection?
        var mine: [LoadSample] = []
        mine.reserveCapacity(limit)
        var index = 0
        while index < limit, ContinuousClock.now < deadline {
            defer { index += 1 }
            let (path, headers) = request(worker, index)
            let sent = ContinuousClock.now
            var status = -1
            do {
                if connection == nil { connection = try RawHTTPConnection(port: port, timeout: 10) }
                var text = "GET \(path) HTTP/1.1\r\nHost: load\r\n"
                for (name, value) in headers { text += "\(name): \(value)\r\n" }
                try connection!.send(text + "\r\n")
                status = try connection!.readResponse().status
            } catch {
                connection = nil
            }
            mine.append(LoadSample(worker: worker, path: path, sent: sent, received: .now, status: status))
            if pause > .zero { Thread.sleep(forTimeInterval: pause.seconds) }
        }
        lock.lock()
        samples += mine
        lock.unlock()
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

/// The value of one Prometheus sample in `/metrics` text, by its full name and labels.
func metricValue(_ metrics: String, _ series: String) -> Double? {
    metrics.split(separator: "\n")
        .first { $0.hasPrefix(series + " ") }
        .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
}
