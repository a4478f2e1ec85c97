import Logging

/// A database a command opened is closed whatever happens to the command: SQLite checkpoints its
/// write-ahead log into the main file on the last close, PostgreSQL ends the session instead of
/// leaving the server to notice. Swift has no `async defer`, so every command goes through this one
/// place rather than repeating do / catch / close / rethrow (and, as `keys rotate` once did,
/// forgetting the catch).
extension Database {
    func closing<T>(_ body: (any Database) async throws -> T) async throws -> T {
        let result: T
        do {
            result = try await body(self)
        } catch {
            await close()
            throw error
        }
        await close()
        return result
    }
}

extension DatabaseLocation {
    /// Opens the database, runs `body` with it and closes it on every path.
    func withDatabase<T>(logger: Logger, _ body: (any Database) async throws -> T) async throws -> T {
        try await open(logger: logger).closing(body)
    }
}
