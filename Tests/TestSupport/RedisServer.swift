import Foundation

/// A real `redis-server` on a loopback port, started and stopped by the test (no persistence, no
/// config file). `restart()` keeps the port, as a restarted server would. With `password` it
/// requires AUTH (`requirepass`); with `user` it also has that ACL user. Both may hold any
/// character: `url` percent-encodes them, as an operator would.
public final class RedisServer {
    public let port: Int
    public private(set) var process: Process?
    private let directory: URL

    public enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case notReady(String)

        public var description: String {
            switch self {
            case .notInstalled: "redis-server is not installed (apt-get install redis-server; scripts/setup does it)"
            case let .notReady(output): "redis-server did not start: \(output)"
            }
        }
    }

    public static var executable: String? {
        ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public init(password: String? = nil, user: (name: String, password: String)? = nil) throws {
        port = freeLoopbackPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.password = password
        self.user = user
        try start()
    }

    private let password: String?
    private let user: (name: String, password: String)?

    /// The default user with `password` (when there is one).
    public var url: String {
        password.map { "redis://:\(Self.encode($0))@127.0.0.1:\(port)" } ?? "redis://127.0.0.1:\(port)"
    }

    /// The ACL user given at start (nil without one).
    public var userURL: String? {
        user.map { "redis://\(Self.encode($0.name)):\(Self.encode($0.password))@127.0.0.1:\(port)" }
    }

    /// Userinfo encoding: everything but RFC 3986 unreserved characters is percent-encoded.
    public static func encode(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    public func start() throws {
        guard let executable = Self.executable else { throw Failure.notInstalled }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--daemonize", "no", "--loglevel", "warning", "--enable-debug-command", "local",
        ]
        if let password { arguments += ["--requirepass", password] }
        if let user { arguments += ["--user", user.name, "on", ">\(user.password)", "~*", "&*", "+@all"] }
        process.arguments = arguments
        let log = directory.appendingPathComponent("redis.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = process.standardOutput
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? command(["PING"]))?.contains("PONG") == true || (try? command(["PING"]))?.contains("NOAUTH") == true { return }
            if !process.isRunning { break }
            usleep(50_000)
        }
        throw Failure.notReady((try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// SIGKILL: a crash, not a shutdown.
    public func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    public func restart() throws {
        kill()
        try start()
    }

    /// SIGSTOP: the server keeps its sockets (the kernel still accepts connections and bytes) but
    /// answers nothing, like a Redis stuck in a slow command or a paused VM. Returns once the process
    /// is really stopped. Pair it with `resume()` (deinit also kills a stopped server).
    public func suspend() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGSTOP)
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline, processState != "T" { usleep(1_000) }
    }

    /// SIGCONT after `suspend()`.
    public func resume() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGCONT)
    }

    /// The state letter of /proc/PID/stat (`R`, `S`, `T` for stopped, …).
    var processState: String? {
        guard let process,
              let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ").first.map(String.init)
    }

    /// One command over a fresh connection, the reply as raw RESP text (for checks in tests).
    public func command(_ arguments: [String]) throws -> String {
        let connection = try RawHTTPConnection(port: port, timeout: 2)
        var text = ""
        if let password { text += Self.format(["AUTH", password]) }
        text += Self.format(arguments) + Self.format(["QUIT"])
        try connection.send(text)
        return String(decoding: try connection.readToEnd(), as: UTF8.self)
    }

    /// The integer reply of one command (`EXISTS`, `PTTL`, `DBSIZE`, …).
    public func integer(_ arguments: [String]) throws -> Int? {
        try command(arguments).split(separator: "\r\n").first { $0.hasPrefix(":") }.flatMap { Int($0.dropFirst()) }
    }

    private static func format(_ arguments: [String]) -> String {
        "*\(arguments.count)\r\n" + arguments.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }
}
