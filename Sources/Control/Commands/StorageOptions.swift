import ArgumentParser
import Core
import Logging

/// Where the data is and how to open it: shared by every subcommand that touches storage.
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

    /// Starts the services `serve` runs on (migrated database, data keys, signing key), runs `body`
    /// with them and closes the database on every path: returned, thrown or cancelled. The options
    /// are checked first, so a usage error opens nothing.
    func withServices<T>(
        tokens: TokenOptions, logging: LogOptions, _ body: (ControlServices) async throws -> T
    ) async throws -> T {
        let location = try location()
        let configuration = try tokens.configuration()
        let logger = try logging.logger()
        let services = try await ControlServices.start(
            database: location, masterKeyPath: masterKeyFile, configuration: configuration, logger: logger)
        return try await services.database.closing { _ in try await body(services) }
    }

    /// Opens (and migrates) the database alone, runs `body` with it and closes it on every path.
    func withDatabase<T>(logging: LogOptions, _ body: (any Database, Logger) async throws -> T) async throws -> T {
        let location = try location()
        let logger = try logging.logger()
        return try await location.withDatabase(logger: logger) { database in
            try await Migrations.run(on: database)
            return try await body(database, logger)
        }
    }
}
