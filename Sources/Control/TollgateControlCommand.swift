import ArgumentParser
import CLI
import Core
import Dispatch
import Foundation
import Hummingbird
import Logging

/// `tollgate-control`: the control plane (spec/control.md). Every option also reads
/// `TOLLGATE_<OPTION>` from the environment; a flag on the command line wins.
struct TollgateControlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-control",
        abstract: "Tollgate's control plane: OAuth2/OIDC provider, flags, config and metrics for the sidecars.",
        version: TollgateVersion.current,
        subcommands: [ServeCommand.self, BootstrapCommand.self, MigrateCommand.self, KeysCommand.self, VersionCommand.self])

    static let environmentPrefix = "TOLLGATE_"
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("tollgate-control \(TollgateVersion.current)")
    }
}

/// Where the data is and how to open it: shared by every subcommand.
struct StorageOptions: ParsableArguments {
    @Option(help: "sqlite:PATH (the embedded default) or postgres://user:password@host:5432/database[?sslmode=disable|prefer|require].")
    var database = "sqlite:./data/tollgate.db"
    @Option(help: "File holding the base64 master key; created (mode 0600) when missing.")
    var masterKeyFile = MasterKey.defaultPath

    func location() throws -> DatabaseLocation {
        do {
            return try DatabaseLocation(parsing: database)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

struct TokenOptions: ParsableArguments {
    @Option(help: "The iss of issued tokens and the base of the discovery URLs.") var issuer = "http://127.0.0.1:7000"
    @Option(help: "Access token lifetime (e.g. 15m, 1h).") var tokenTtl = "15m"
    @Option(help: "Refresh token lifetime (e.g. 30d).") var refreshTtl = "30d"
    @Option(help: "Algorithm of new signing keys: ES256 or RS256.") var signingAlg = "ES256"
    @Option(help: "scrypt cost for user passwords: N = 2^this (OWASP: 17).") var scryptLogN = 17
    @Option(help: "Failed password logins in a row before a username is locked (0: never).") var maxLoginFailures = 5
    @Option(help: "First lock after too many failed logins; doubles per further failure, up to 15m.") var loginLockout = "1m"

    func configuration() throws -> ControlConfiguration {
        guard let token = ControlDuration.milliseconds(tokenTtl), token >= 1000 else {
            throw ValidationError("--token-ttl must be a duration like 15m or 1h, got \"\(tokenTtl)\"")
        }
        guard let refresh = ControlDuration.milliseconds(refreshTtl), refresh >= 1000 else {
            throw ValidationError("--refresh-ttl must be a duration like 30d or 12h, got \"\(refreshTtl)\"")
        }
        guard let algorithm = JWTAlgorithm(rawValue: signingAlg), SigningKey.supported.contains(algorithm) else {
            throw ValidationError("--signing-alg must be ES256 or RS256, got \"\(signingAlg)\"")
        }
        guard (10...22).contains(scryptLogN) else { throw ValidationError("--scrypt-log-n must be 10...22") }
        guard let url = URL(string: issuer), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, !issuer.hasSuffix("/") else {
            throw ValidationError("--issuer must be an http(s) URL without a trailing slash, got \"\(issuer)\"")
        }
        guard (0...1000).contains(maxLoginFailures) else { throw ValidationError("--max-login-failures must be 0...1000") }
        guard let lockout = ControlDuration.milliseconds(loginLockout), lockout >= 1000 else {
            throw ValidationError("--login-lockout must be a duration of at least 1s, like 1m, got \"\(loginLockout)\"")
        }
        return ControlConfiguration(
            issuer: issuer, tokenLifetime: token, refreshLifetime: refresh, signingAlgorithm: algorithm, scryptLogN: scryptLogN,
            loginThrottle: LoginThrottle.Policy(maxFailures: maxLoginFailures, lockout: lockout))
    }
}

struct LogOptions: ParsableArguments {
    @Option(help: "Log format: json or text.") var logFormat = "json"
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func logger() throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard let format = OperationalLogHandler.Format(rawValue: logFormat) else {
            throw ValidationError("--log-format must be json or text")
        }
        return Logger(label: "tollgate-control") { label in OperationalLogHandler(label: label, format: format, logLevel: level) }
    }
}

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the admin API and the OAuth2/OIDC provider.")

    @Option(help: "Address to serve on.") var listen = "127.0.0.1:7000"
    @OptionGroup var storage: StorageOptions
    @OptionGroup var tokens: TokenOptions
    @Option(help: "Redis for rate-limit resets (redis://...).") var redis: String?
    @Option(help: "Directory of SOP templates.") var sops: String?
    @OptionGroup var logging: LogOptions

    func run() throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be host:port, got \"\(listen)\"")
        }
        let host = String(listen[..<colon])
        let location = try storage.location()
        let configuration = try tokens.configuration()
        let logger = try logging.logger()
        let masterKeyPath = storage.masterKeyFile
        try AsyncMain.run {
            let services = try await ControlServices.start(
                database: location, masterKeyPath: masterKeyPath, configuration: configuration, logger: logger)
            let app = ControlApp.application(services, host: host, port: port) { port in
                logger.info("tollgate-control serving", metadata: [
                    "address": "\(host):\(port)", "database": "\(location)", "issuer": "\(configuration.issuer)",
                ])
            }
            do {
                try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
            } catch {
                await services.database.close()
                throw error
            }
            await services.database.close()
        }
    }
}

struct BootstrapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap", abstract: "Create (or re-key) a client holding the admin scope and print its secret once.")

    @OptionGroup var storage: StorageOptions
    @OptionGroup var tokens: TokenOptions
    @Option(help: "The admin client's id.") var clientId: String
    @Flag(help: "Print {\"client_id\": ..., \"client_secret\": ...} and nothing else on stdout.") var json = false
    @OptionGroup var logging: LogOptions

    func run() throws {
        guard Identifier.isValid(clientId) else { throw ValidationError("--client-id is 1 to 64 of A-Z a-z 0-9 . _ -") }
        let location = try storage.location()
        let configuration = try tokens.configuration()
        let logger = try logging.logger()
        let (masterKeyPath, clientID) = (storage.masterKeyFile, clientId)
        let secret = try AsyncMain.run { () -> String in
            let services = try await ControlServices.start(
                database: location, masterKeyPath: masterKeyPath, configuration: configuration, logger: logger)
            do {
                let secret = try await Bootstrap.adminClient(clientID, services: services)
                await services.database.close()
                return secret
            } catch {
                await services.database.close()
                throw error
            }
        }
        if json {
            print(JSONOutput.object([("client_id", .string(clientId)), ("client_secret", .string(secret))]).serialized())
        } else {
            print("client_id: \(clientId)\nclient_secret: \(secret)\n(shown once; get a token with: curl -u \(clientId):<secret> -d grant_type=client_credentials \(configuration.issuer)/oauth/token)")
        }
    }
}

enum Bootstrap {
    /// Creates the client with the admin scope, or gives an existing one a new secret and the admin
    /// scope. Audited as actor `bootstrap`.
    static func adminClient(_ clientID: String, services: ControlServices) async throws -> String {
        let secret = try ClientSecrets.generate()
        let hash = services.clientSecrets.hash(secret)
        let now = Clock.nowMilliseconds()
        try await services.database.transaction { executor in
            let before = try await ClientStore.find(clientID, on: executor)
            var client = before ?? ClientRecord(
                clientID: clientID, name: "\(clientID) (bootstrap)", secretHash: hash, scopes: [Scope.admin],
                grantTypes: ["client_credentials"], audiences: [], createdAt: now, updatedAt: now, version: 1)
            if let before {
                client.secretHash = hash
                client.scopes = Array(Set(before.scopes + [Scope.admin])).sorted()
                if !client.grantTypes.contains("client_credentials") { client.grantTypes.append("client_credentials") }
                client.updatedAt = now
                client.version += 1
                try await ClientStore.delete(clientID, on: executor)
            }
            try await ClientStore.insert(client, on: executor)
            try await AuditStore.record(
                actor: "bootstrap", action: before == nil ? "client.create" : "client.rotate-secret", resource: "client:\(clientID)",
                before: before?.json, after: client.json, requestID: "bootstrap", on: executor)
        }
        return secret
    }
}

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply the schema migrations (idempotent).")

    @Option(help: "sqlite:PATH or postgres://user:password@host:5432/database.") var database = "sqlite:./data/tollgate.db"
    @OptionGroup var logging: LogOptions

    func run() throws {
        let location: DatabaseLocation
        do { location = try DatabaseLocation(parsing: database) } catch { throw ValidationError("\(error)") }
        let logger = try logging.logger()
        let (applied, version) = try AsyncMain.run { () -> ([Int], Int) in
            let database = try await location.open(logger: logger)
            do {
                let applied = try await Migrations.run(on: database)
                let version = try await Migrations.currentVersion(of: database)
                await database.close()
                return (applied, version)
            } catch {
                await database.close()
                throw error
            }
        }
        print(applied.isEmpty ? "schema is up to date (version \(version))" : "applied \(applied.map(String.init).joined(separator: ", ")); schema at version \(version)")
    }
}

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage token signing keys and the data keys that seal stored fields.",
        subcommands: [Rotate.self, RotateDataKey.self, Rewrap.self])

    struct RotateDataKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-data-key",
            abstract: "Make a new data key current and re-seal every stored field under it (running servers pick it up).")

        @OptionGroup var storage: StorageOptions
        @OptionGroup var logging: LogOptions

        func run() throws {
            let location = try storage.location()
            let logger = try logging.logger()
            let masterKeyPath = storage.masterKeyFile
            let (keyID, resealed) = try AsyncMain.run { () -> (String, Int) in
                let masterKey = try MasterKey.load(path: masterKeyPath, logger: logger)
                let database = try await location.open(logger: logger)
                do {
                    try await Migrations.run(on: database)
                    let result = try await DataKeys.rotate(database, masterKey: masterKey) { executor, keyID, resealed in
                        try await AuditStore.record(
                            actor: "cli", action: "data-key.rotate", resource: "data-key:\(keyID)", before: nil,
                            after: .object([("id", .string(keyID)), ("resealed", .int(Int64(resealed)))]), requestID: "cli", on: executor)
                    }
                    await database.close()
                    return result
                } catch {
                    await database.close()
                    throw error
                }
            }
            print("data key \(keyID) is current; \(resealed) stored fields re-sealed under it")
        }
    }

    struct Rewrap: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rewrap",
            abstract: "Re-wrap every data key under a new master key (created when the file is missing); then restart each replica with it.")

        @OptionGroup var storage: StorageOptions
        @Option(help: "The new master key file; created (mode 0600) when missing.") var newMasterKeyFile: String
        @OptionGroup var logging: LogOptions

        func validate() throws {
            let old = URL(fileURLWithPath: storage.masterKeyFile).standardizedFileURL.path
            if URL(fileURLWithPath: newMasterKeyFile).standardizedFileURL.path == old {
                throw ValidationError("--new-master-key-file must be another file than --master-key-file")
            }
            if !FileManager.default.fileExists(atPath: storage.masterKeyFile) {
                throw ValidationError("--master-key-file \(storage.masterKeyFile) does not exist: it must be the key the data is wrapped with now")
            }
        }

        func run() throws {
            let location = try storage.location()
            let logger = try logging.logger()
            let (oldPath, newPath) = (storage.masterKeyFile, newMasterKeyFile)
            let result = try AsyncMain.run { () -> DataKeys.RewrapResult in
                let oldKey = try MasterKey.load(path: oldPath, logger: logger)
                let created = !FileManager.default.fileExists(atPath: newPath)
                // Written and synced before anything is wrapped with it.
                let newKey = created ? MasterKey(bytes: try MasterKey.create(path: newPath)) : try MasterKey.load(path: newPath, logger: logger)
                let database = try await location.open(logger: logger)
                do {
                    try await Migrations.run(on: database)
                    let result = try await DataKeys.rewrap(database, from: oldKey, to: newKey) { executor, count in
                        try await AuditStore.record(
                            actor: "cli", action: "master-key.rewrap", resource: "master-key", before: nil,
                            after: .object([("data_keys", .int(Int64(count)))]), requestID: "cli", on: executor)
                    }
                    await database.close()
                    return result
                } catch {
                    await database.close()
                    throw error
                }
            }
            switch result {
            case let .rewrapped(count):
                print("\(count) data key\(count == 1 ? "" : "s") re-wrapped under \(newPath); restart every replica with --master-key-file \(newPath), then destroy the old key")
            case .alreadyDone:
                print("the data keys are already wrapped under \(newPath); nothing to do")
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate", abstract: "Make a new signing key active; the old one stays in JWKS until its tokens expire.")

        @OptionGroup var storage: StorageOptions
        @OptionGroup var tokens: TokenOptions
        @OptionGroup var logging: LogOptions

        func run() throws {
            let location = try storage.location()
            let configuration = try tokens.configuration()
            let logger = try logging.logger()
            let masterKeyPath = storage.masterKeyFile
            let kid = try AsyncMain.run { () -> String in
                let services = try await ControlServices.start(
                    database: location, masterKeyPath: masterKeyPath, configuration: configuration, logger: logger)
                let kid = try await services.keyRing.rotate { executor, kid in
                    try await AuditStore.record(
                        actor: "cli", action: "key.rotate", resource: "key:\(kid)", before: nil, after: .object([("kid", .string(kid))]),
                        requestID: "cli", on: executor)
                }
                await services.database.close()
                return kid
            }
            print("new signing key \(kid) is active; the previous key stays in JWKS until its tokens expire")
        }
    }
}

/// Durations of the command line: `ms`, `s`, `m`, `h` as in policies, plus `d` for days.
enum ControlDuration {
    static func milliseconds(_ text: String) -> Int64? {
        if text.hasSuffix("d"), let days = Int64(text.dropLast()), days > 0, days <= 3650 { return days * 86_400_000 }
        guard let duration = PolicyDuration.parse(text) else { return nil }
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// Runs async work from a synchronous `ParsableCommand.run()` and returns its result.
enum AsyncMain {
    static func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { box.set(.success(try await body())) } catch { box.set(.failure(error)) }
            done.signal()
        }
        done.wait()
        return try box.get()
    }

    private final class ResultBox<T: Sendable>: @unchecked Sendable {
        // Written once by the task before it signals; read after the wait.
        private var result: Result<T, any Error>?
        func set(_ value: Result<T, any Error>) { result = value }
        func get() throws -> T { try result!.get() }
    }
}
