import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `tollgate-control serve` on a loopback port, in a directory of its own (master key,
/// SQLite file), or on a PostgreSQL database. `bootstrap` runs first, so `adminSecret` holds the
/// `admin` client's secret.
public final class ControlServer {
    public enum Engine: String, Sendable, CaseIterable, CustomStringConvertible {
        case sqlite, postgres
        public var description: String { rawValue }
    }

    public let port: Int
    public let directory: URL
    public let database: String
    public let adminSecret: String
    public private(set) var process: Process
    private let extraArguments: [String]
    private let logURL: URL

    public var issuer: String { "http://127.0.0.1:\(port)" }
    public var sqlitePath: String { directory.appendingPathComponent("tollgate.db").path }

    public init(engine: Engine, arguments: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-control-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = freeLoopbackPort()
        database = switch engine {
        case .sqlite: "sqlite:" + directory.appendingPathComponent("tollgate.db").path
        case .postgres: try PostgresServer.shared().makeDatabase() + "?sslmode=disable"
        }
        extraArguments = arguments
        logURL = directory.appendingPathComponent("serve.log")
        let bootstrap = try BuiltBinary("tollgate-control").run(
            ["bootstrap", "--client-id", "admin", "--json"]
                + Self.storageArguments(database: database, directory: directory, extra: arguments), in: directory)
        guard bootstrap.status == 0, let data = bootstrap.stdout.data(using: .utf8),
              let object = try JSONSerialization.jsonObject(with: data) as? [String: Any], let secret = object["client_secret"] as? String
        else { throw HarnessError.bootstrap(bootstrap.stdout + bootstrap.stderr) }
        adminSecret = secret
        process = Process()
        try start()
    }

    public enum HarnessError: Error, CustomStringConvertible {
        case bootstrap(String)
        case exited(Int32, String)
        case notReady(String)

        public var description: String {
            switch self {
            case let .bootstrap(output): "bootstrap failed: \(output)"
            case let .exited(status, log): "tollgate-control exited with \(status): \(log)"
            case let .notReady(log): "tollgate-control did not become ready: \(log)"
            }
        }
    }

    /// `--database` and `--master-key-file` for the CLI commands, plus the test's own arguments.
    public var storageArguments: [String] {
        Self.storageArguments(database: database, directory: directory, extra: extraArguments)
    }

    public static func storageArguments(database: String, directory: URL, extra: [String]) -> [String] {
        ["--database", database, "--master-key-file", directory.appendingPathComponent("master.key").path, "--scrypt-log-n", "12"] + extra
    }

    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    public func start() throws {
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        process = Process()
        process.executableURL = BuiltBinary("tollgate-control").url
        process.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--issuer", issuer] + storageArguments
        process.currentDirectoryURL = directory
        process.standardOutput = try FileHandle(forWritingTo: logURL)
        process.standardError = process.standardOutput
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if !process.isRunning { throw HarnessError.exited(process.terminationStatus, log) }
            if let response = try? request("GET", "/healthz"), response.status == 200 { return }
            usleep(50_000)
        }
        throw HarnessError.notReady(log)
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// Runs a `tollgate-control` subcommand against this server's storage.
    public func cli(_ arguments: [String]) throws -> BuiltBinary.Result {
        try BuiltBinary("tollgate-control").run(arguments + storageArguments, in: directory)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// One request on a fresh connection (`Connection: close`).
    public func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) throws -> RawHTTPConnection.Response {
        let connection = try RawHTTPConnection(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
        try connection.send(head + "\r\n" + (body ?? ""))
        return try connection.readResponse(expectBody: method != "HEAD")
    }
}
