import Core
import Logging

struct ControlConfiguration: Sendable {
    var issuer: String
    /// Milliseconds.
    var tokenLifetime: Int64
    var refreshLifetime: Int64
    var signingAlgorithm: JWTAlgorithm
    var scryptLogN: Int
    var loginThrottle = LoginThrottle.Policy.standard
}

/// Everything the routes share: storage, keys and the services built on them.
final class ControlServices: Sendable {
    let configuration: ControlConfiguration
    let database: any Database
    let keyRing: KeyRing
    let clientSecrets: ClientSecrets
    let passwords: PasswordHasher
    let userCrypto: UserCrypto
    let metrics = ControlMetrics()
    let clients: ClientCache
    let logger: Logger

    private init(
        configuration: ControlConfiguration, database: any Database, keyRing: KeyRing, clientSecrets: ClientSecrets,
        passwords: PasswordHasher, userCrypto: UserCrypto, logger: Logger
    ) {
        self.configuration = configuration
        self.database = database
        self.keyRing = keyRing
        self.clientSecrets = clientSecrets
        self.passwords = passwords
        self.userCrypto = userCrypto
        self.logger = logger
        clients = ClientCache(database: database)
    }

    /// Opens the database, migrates it, unwraps the data keys and loads (or creates) the signing key.
    static func start(
        database location: DatabaseLocation, masterKeyPath: String, configuration: ControlConfiguration, logger: Logger
    ) async throws -> ControlServices {
        let fileKey = try MasterKey.load(path: masterKeyPath, logger: logger)
        let database = try await location.open(logger: logger)
        do {
            let applied = try await Migrations.run(on: database)
            if !applied.isEmpty { logger.info("schema migrated", metadata: ["versions": "\(applied)", "database": "\(location)"]) }
            let masterKey = try await DataKeys.withDerivationRoot(fileKey, database: database)
            let cipher = DataKeyRing(try await DataKeys.load(database, masterKey: masterKey), database: database, masterKey: masterKey)
            let keyRing = KeyRing(
                database: database, cipher: cipher, issuer: configuration.issuer, algorithm: configuration.signingAlgorithm,
                tokenLifetime: configuration.tokenLifetime)
            try await keyRing.start()
            return ControlServices(
                configuration: configuration, database: database, keyRing: keyRing, clientSecrets: ClientSecrets(masterKey: masterKey),
                passwords: try PasswordHasher(logN: configuration.scryptLogN),
                userCrypto: UserCrypto(keys: cipher, index: BlindIndex(masterKey: masterKey.derived("blind index"))), logger: logger)
        } catch {
            await database.close()
            throw error
        }
    }

    /// Writes `body` and its audit row in one transaction.
    func audited<T: Sendable>(
        _ caller: Caller, action: String, resource: String,
        _ body: @Sendable (any SQLExecutor) async throws -> (result: T, before: JSONOutput?, after: JSONOutput?)
    ) async throws -> T {
        try await database.transaction { executor in
            let (result, before, after) = try await body(executor)
            try await AuditStore.record(
                actor: caller.actor, action: action, resource: resource, before: before, after: after, requestID: caller.requestID, on: executor)
            return result
        }
    }

    /// Inserts a new resource with its audit row; a duplicate key is a 409 saying `conflict`.
    func auditedInsert(
        _ caller: Caller, action: String, resource: String, after: JSONOutput, conflict: String,
        _ insert: @Sendable (any SQLExecutor) async throws -> Void
    ) async throws {
        do {
            try await audited(caller, action: action, resource: resource) { executor in
                try await insert(executor)
                return ((), nil, after)
            }
        } catch DatabaseError.duplicate {
            throw Problem.conflict(conflict)
        }
    }
}
