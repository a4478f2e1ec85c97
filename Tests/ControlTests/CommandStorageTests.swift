import Foundation
import Logging
import Testing
@testable import tollgate_control

/// Every subcommand opens storage through `withServices` / `withDatabase`, which close the
/// database on every path. Seen from outside: SQLite removes its write-ahead log when the last
/// connection closes, so a `-wal` file left beside the database after the command means a
/// connection is still open in this process.
@Suite("subcommands close the database on every path")
struct CommandStorageTests {
    let directory: URL
    var databasePath: String { directory.appendingPathComponent("tollgate.db").path }
    var arguments: [String] {
        ["--database", "sqlite:" + databasePath, "--master-key-file", directory.appendingPathComponent("master.key").path,
         "--scrypt-log-n", "12", "--log-level", "critical"]
    }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-commands-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var writeAheadLogExists: Bool { FileManager.default.fileExists(atPath: databasePath + "-wal") }

    @Test("keys rotate closes the database when the rotation fails")
    func keysRotateClosesOnError() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        // A first rotation creates the schema and the first key, and closes.
        let first = try KeysRotateCommand.parse(arguments)
        try await first.run()
        #expect(!writeAheadLogExists, "closed after success")

        // From now on the database refuses new signing keys: the services start (a key exists), the rotation fails.
        let database = try await DatabaseLocation.sqlite(path: databasePath).open(logger: Logger(label: "test"))
        try await database.execute(
            "CREATE TRIGGER refuse_keys BEFORE INSERT ON signing_keys BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        await database.close()
        #expect(!writeAheadLogExists)

        let failing = try KeysRotateCommand.parse(arguments)
        await #expect(throws: (any Error).self) { try await failing.run() }
        #expect(!writeAheadLogExists, "the failed rotation left its connection open")
    }

    @Test("withDatabase closes after an error of its body, and passes the error on")
    func withDatabaseClosesOnError() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        struct Refused: Error {}
        let storage = try StorageOptions.parse(Array(arguments.prefix(4)))
        let logging = try LogOptions.parse(["--log-level", "critical"])
        await #expect(throws: Refused.self) {
            try await storage.withDatabase(logging: logging) { database, _ in
                #expect(await database.ping())
                throw Refused()
            }
        }
        #expect(FileManager.default.fileExists(atPath: databasePath))
        #expect(!writeAheadLogExists)
    }
}
