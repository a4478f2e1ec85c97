import ArgumentParser

/// `tollgate-control migrate`: the schema migrations alone (no master key needed).
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply the schema migrations (idempotent).")

    @Option(help: "sqlite:PATH or postgres://user:password@host:5432/database.") var database = "sqlite:./data/tollgate.db"
    @OptionGroup var logging: LogOptions

    func run() async throws {
        let location: DatabaseLocation
        do { location = try DatabaseLocation(parsing: database) } catch { throw ValidationError("\(error)") }
        let logger = try logging.logger()
        let (applied, version) = try await location.withDatabase(logger: logger) { database in
            (try await Migrations.run(on: database), try await Migrations.currentVersion(of: database))
        }
        print(applied.isEmpty ? "schema is up to date (version \(version))" : "applied \(applied.map(String.init).joined(separator: ", ")); schema at version \(version)")
    }
}
