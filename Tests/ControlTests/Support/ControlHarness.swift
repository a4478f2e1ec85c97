import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import TestSupport
import Testing
@testable import tollgate_control

/// Where the control plane under test runs: the real `tollgate-control serve` process on a loopback
/// port (live), or the same router in this process, called without a socket (in-process). The
/// endpoint tests run on both, each on SQLite and PostgreSQL.
enum Transport: String, Sendable, CaseIterable, CustomStringConvertible {
    case live
    case inProcess = "in-process"
    var description: String { rawValue }
}

struct Setup: Sendable, CustomStringConvertible {
    let engine: ControlServer.Engine
    let transport: Transport
    var description: String { "\(engine), \(transport)" }

    static let all = ControlServer.Engine.allCases.flatMap { engine in Transport.allCases.map { Setup(engine: engine, transport: $0) } }
    static func both(_ engine: ControlServer.Engine) -> [Setup] { Transport.allCases.map { Setup(engine: engine, transport: $0) } }
}

/// One control plane for a test, with an `admin` client bootstrapped, and the requests tests make.
final class ControlHarness: @unchecked Sendable {
    private enum Backend {
        case live(ControlServer)
        case inProcess(InProcessControl)
    }

    private let backend: Backend
    let directory: URL
    let database: String
    let adminSecret: String
    let issuer: String

    var sqlitePath: String { directory.appendingPathComponent("tollgate.db").path }

    init(_ setup: Setup, arguments: [String] = []) async throws {
        switch setup.transport {
        case .live:
            let server = try ControlServer(engine: setup.engine, arguments: arguments)
            backend = .live(server)
            (directory, database, adminSecret, issuer) = (server.directory, server.database, server.adminSecret, server.issuer)
        case .inProcess:
            let control = try await InProcessControl(engine: setup.engine, arguments: arguments)
            backend = .inProcess(control)
            (directory, database, adminSecret, issuer) = (control.directory, control.database, control.adminSecret, control.issuer)
        }
    }

    /// What the server logged (JSON lines).
    var log: String {
        switch backend {
        case let .live(server): server.log
        case let .inProcess(control): control.log
        }
    }

    /// Stops serving and closes the database (SQLite checkpoints its WAL into the main file).
    func stop() async {
        switch backend {
        case let .live(server): server.stop()
        case let .inProcess(control): await control.stop()
        }
    }

    /// Runs a `tollgate-control` subcommand against this server's storage.
    func cli(_ arguments: [String]) throws -> BuiltBinary.Result {
        try BuiltBinary("tollgate-control").run(
            arguments + ["--database", database, "--master-key-file", directory.appendingPathComponent("master.key").path], in: directory)
    }

    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) async throws -> RawHTTPConnection.Response {
        switch backend {
        case let .live(server): try server.request(method, path, headers: headers, body: body)
        case let .inProcess(control): try await control.request(method, path, headers: headers, body: body)
        }
    }

    func json(_ method: String, _ path: String, token: String?, body: String? = nil) async throws -> RawHTTPConnection.Response {
        var headers: [(String, String)] = []
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if body != nil { headers.append(("Content-Type", "application/json")) }
        return try await request(method, path, headers: headers, body: body)
    }

    func form(_ path: String, _ parameters: [(String, String)], basic: (String, String)? = nil, bearer: String? = nil) async throws -> RawHTTPConnection.Response {
        var headers = [("Content-Type", "application/x-www-form-urlencoded")]
        if let (user, password) = basic {
            headers.append(("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()))
        }
        if let bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
        let body = parameters.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return try await request("POST", path, headers: headers, body: body)
    }

    /// An access token for `client` by client_credentials.
    func token(client: String = "admin", secret: String? = nil, scope: String? = nil) async throws -> String {
        var parameters = [("grant_type", "client_credentials")]
        if let scope { parameters.append(("scope", scope)) }
        let response = try await form("/oauth/token", parameters, basic: (client, secret ?? adminSecret))
        guard response.status == 200, let token = response.json["access_token"] as? String else {
            throw TokenRefused(status: response.status, body: response.text)
        }
        return token
    }

    struct TokenRefused: Error, CustomStringConvertible {
        let status: Int
        let body: String
        var description: String { "token request refused: \(status) \(body)" }
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// The control plane's router in this process: the services `serve` starts (same storage, master
/// key file and options), the `admin` client `bootstrap` creates, and requests handed to the
/// router's responder as Hummingbird would hand them over after parsing.
final class InProcessControl: Sendable {
    let directory: URL
    let database: String
    let adminSecret: String
    let issuer: String
    private let services: ControlServices
    private let responder: RouterResponder<ControlContext>
    private let logs: LogCollector
    private let channel = EmbeddedChannel()
    private let stopped = Mutex(false)

    init(engine: ControlServer.Engine, arguments: [String]) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-inprocess-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        database = switch engine {
        case .sqlite: "sqlite:" + directory.appendingPathComponent("tollgate.db").path
        case .postgres: try PostgresServer.shared().makeDatabase() + "?sslmode=disable"
        }
        let options = try TokenOptions.parse(["--scrypt-log-n", "12"] + arguments)
        let configuration = try options.configuration()
        issuer = configuration.issuer
        let logs = LogCollector()
        self.logs = logs
        var logger = Logger(label: "tollgate-control") { _ in logs }
        logger.logLevel = .info
        services = try await ControlServices.start(
            database: try DatabaseLocation(parsing: database), masterKeyPath: directory.appendingPathComponent("master.key").path,
            configuration: configuration, logger: logger)
        adminSecret = try await Bootstrap.adminClient("admin", services: services)
        responder = ControlApp.routes(services).router.buildResponder()
    }

    var log: String { logs.text }

    func stop() async {
        let wasStopped = stopped.withLock { value in
            defer { value = true }
            return value
        }
        guard !wasStopped else { return }
        await services.database.close()
    }

    deinit {
        // A database connection must be closed before it goes away; the task keeps it until then.
        guard !stopped.withLock({ $0 }) else { return }
        let database = services.database
        Task { await database.close() }
    }

    func request(_ method: String, _ path: String, headers: [(String, String)], body: String?) async throws -> RawHTTPConnection.Response {
        var fields = HTTPFields()
        for (name, value) in headers {
            let name = try #require(HTTPField.Name(name), "a valid header name")
            fields.append(HTTPField(name: name, value: value))
        }
        if let body { fields[.contentLength] = "\(body.utf8.count)" }
        let head = HTTPRequest(method: HTTPRequest.Method(method)!, scheme: nil, authority: "127.0.0.1", path: path, headerFields: fields)
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(string: body ?? "")))
        let context = ControlContext(source: ApplicationRequestContextSource(channel: channel, logger: services.logger))
        let response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch let error as HTTPError {
            // What Hummingbird's server does with an error no middleware turned into a response.
            response = Response(status: error.status)
        }
        let writer = BodyCollector()
        try await response.body.write(writer)
        let body = method == "HEAD" ? [] : writer.bytes.withLock { $0 }
        var headers = response.headers.map { ($0.name.canonicalName, $0.value) }
        if response.headers[.contentLength] == nil, response.status.code != 204 {
            headers.append(("content-length", "\(body.count)"))
        }
        return RawHTTPConnection.Response(status: response.status.code, headers: headers, body: body)
    }
}

private final class BodyCollector: ResponseBodyWriter, Sendable {
    let bytes = Mutex<[UInt8]>([])
    func write(_ buffer: ByteBuffer) async throws { bytes.withLock { $0 += buffer.readableBytesView } }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// Keeps what the in-process server logs, one JSON-ish line per message, for the same checks the
/// live tests make on the server's log file.
final class LogCollector: LogHandler, Sendable {
    private let lines = Mutex<[String]>([])

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func log(event: LogEvent) {
        lines.withLock { $0.append("{\"level\":\"\(event.level)\",\"message\":\"\(event.message)\"}") }
    }

    subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }

    var logLevel: Logger.Level {
        get { .info }
        set {}
    }
}
