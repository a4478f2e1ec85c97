import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `tollgate-proxy run` process on loopback ports, with a policy directory of its own.
/// Stdout (the access log) and stderr go to files the test can read.
public final class ProxyHarness {
    public let port: Int
    public let adminPort: Int
    public let policyDirectory: URL
    public let process: Process
    private let stdoutURL: URL
    private let stderrURL: URL

    /// Starts the proxy and waits until its admin port answers `/healthz`. The ports are picked free
    /// and then bound by the proxy: in between, an outgoing connection of another test may take one
    /// as its ephemeral port. A start that fails with "address already in use" is tried again on
    /// other ports (three times at most); any other failure is the test's.
    public init(policies: [String: String], upstreamPort: Int, arguments: [String] = [], environment: [String: String] = [:]) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-proxy-\(UUID().uuidString)")
        policyDirectory = root.appendingPathComponent("policies")
        try FileManager.default.createDirectory(at: policyDirectory, withIntermediateDirectories: true)
        stdoutURL = root.appendingPathComponent("stdout.log")
        stderrURL = root.appendingPathComponent("stderr.log")
        for (path, text) in policies { try Self.write(text, to: policyDirectory.appendingPathComponent(path)) }
        var attempt = 0
        while true {
            attempt += 1
            let port = freeLoopbackPort()
            let adminPort = freeLoopbackPort()
            let process = try Self.launch(
                port: port, adminPort: adminPort, upstreamPort: upstreamPort, policies: policyDirectory, arguments: arguments,
                environment: environment, stdout: stdoutURL, stderr: stderrURL)
            let deadline = Date().addingTimeInterval(15)
            var failure: HarnessError?
            while Date() < deadline {
                if !process.isRunning {
                    process.waitUntilExit()
                    failure = .exited(process.terminationStatus, (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")
                    break
                }
                if let response = try? Self.admin(adminPort, "GET", "/healthz"), response.status == 200 {
                    self.port = port
                    self.adminPort = adminPort
                    self.process = process
                    return
                }
                usleep(50_000)
            }
            if case let .exited(_, text)? = failure, text.contains("address already in use"), attempt < 3 { continue }
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            throw failure ?? .notReady((try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")
        }
    }

    private static func launch(
        port: Int, adminPort: Int, upstreamPort: Int, policies: URL, arguments: [String], environment: [String: String], stdout: URL,
        stderr: URL
    ) throws -> Process {
        _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        let process = Process()
        process.executableURL = BuiltBinary("tollgate-proxy").url
        process.arguments = [
            "run", "--upstream", "http://127.0.0.1:\(upstreamPort)", "--listen", "127.0.0.1:\(port)",
            "--admin", "127.0.0.1:\(adminPort)", "--policies", policies.path,
        ] + arguments
        var processEnvironment = ProcessInfo.processInfo.environment
        processEnvironment.merge(environment) { $1 }
        process.environment = processEnvironment
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = try FileHandle(forWritingTo: stderr)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: policyDirectory.deletingLastPathComponent())
    }

    public enum HarnessError: Error {
        case exited(Int32, String)
        case notReady(String)
    }

    public var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// The access log as parsed JSON lines.
    public var accessLog: [[String: Any]] {
        stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    /// The access log once it has at least `count` lines: a response can reach the client before
    /// the proxy has seen the upstream's end and logged it.
    public func accessLog(atLeast count: Int, timeout: TimeInterval = 5) -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        var entries = accessLog
        while entries.count < count, Date() < deadline {
            usleep(20_000)
            entries = accessLog
        }
        return entries
    }

    public func connect(timeout: TimeInterval = 10) throws -> RawHTTPConnection {
        try RawHTTPConnection(port: port, timeout: timeout)
    }

    /// One request on a new connection.
    public func request(
        _ method: String = "GET", _ path: String, headers: [(String, String)] = [], body: String? = nil
    ) throws -> RawHTTPConnection.Response {
        let connection = try connect()
        var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "Connection: close\r\n\r\n" + (body ?? "")
        try connection.send(text)
        return try connection.readResponse(expectBody: method != "HEAD")
    }

    public func admin(_ method: String, _ path: String) throws -> RawHTTPConnection.Response {
        try Self.admin(adminPort, method, path)
    }

    private static func admin(_ adminPort: Int, _ method: String, _ path: String) throws -> RawHTTPConnection.Response {
        let connection = try RawHTTPConnection(port: adminPort, timeout: 5)
        try connection.send("\(method) \(path) HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return try connection.readResponse()
    }

    public func writePolicy(_ path: String, _ text: String) throws {
        try Self.write(text, to: policyDirectory.appendingPathComponent(path))
    }

    /// Sends a signal and waits for the exit status.
    public func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 20) -> Int32? {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Peak resident memory of the proxy process, in bytes (VmHWM).
    public var peakResidentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 * 1024 }
        }
        return nil
    }

    /// Atomic write (temp file + rename), as a deploy tool or `git checkout` would.
    static func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}
