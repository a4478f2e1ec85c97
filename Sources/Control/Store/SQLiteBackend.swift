import Foundation
import Logging
import NIOCore
import SQLiteNIO
import Synchronization

/// SQLite through SQLiteNIO: one connection in WAL mode, `synchronous=FULL` (a committed write
/// survives a crash or power cut), foreign keys on. Statements run one at a time through a FIFO
/// gate, and a transaction holds the gate from BEGIN to COMMIT, so nothing interleaves with it.
final class SQLiteBackend: Database {
    let engine = DatabaseEngine.sqlite
    private let connection: SQLiteConnection
    private let gate = SerialGate()

    private init(connection: SQLiteConnection) {
        self.connection = connection
    }

    static func open(path: String, logger: Logger) async throws -> SQLiteBackend {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw DatabaseError.engine("cannot open SQLite database \(path): \(error)")
        }
        let database = SQLiteBackend(connection: connection)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000"] {
            try await database.execute("\(raw: pragma)")
        }
        return database
    }

    func query<Row: SQLRowDecodable>(_ query: SQLQuery, as type: Row.Type) async throws -> [Row] {
        try await gate.run { try await self.run(query, as: type) }
    }

    fileprivate func run<Row: SQLRowDecodable>(_ query: SQLQuery, as type: Row.Type) async throws -> [Row] {
        let data = query.binds.map { value -> SQLiteData in
            switch value {
            case .null: .null
            case let .int(number): .integer(SQLiteInt64(number))
            case let .text(text): .text(text)
            case let .blob(bytes): .blob(ByteBuffer(bytes: bytes))
            }
        }
        let rows: [SQLiteRow]
        do {
            rows = try await connection.query(query.sql(for: .sqlite), data)
        } catch let error as SQLiteError {
            switch error.reason {
            case .constraint, .constraintUniqueFailed, .constraintPrimaryKeyFailed: throw DatabaseError.duplicate(error.message)
            default: throw DatabaseError.engine("SQLite: \(error.message)")
            }
        }
        return try rows.map { try Row(row: Reader(columns: $0.columns)) }
    }

    fileprivate func run(_ statement: SQLQuery) async throws {
        _ = try await run(statement, as: SQLNoColumns.self)
    }

    /// A row's columns in select-list order.
    private struct Reader: SQLRowReader {
        let columns: [SQLiteColumn]

        var columnCount: Int { columns.count }

        func name(at index: Int) -> String { columns[index].name }

        func value(at index: Int) throws -> SQLValue {
            switch columns[index].data {
            case .null: .null
            case let .integer(number): .int(Int64(number))
            case let .text(text): .text(text)
            case let .blob(buffer): .blob(Array(buffer.readableBytesView))
            case .float: throw DatabaseError.column(columns[index].name, "integer, text or blob")
            }
        }
    }

    func transaction<T: Sendable>(_ body: @Sendable (any SQLExecutor) async throws -> T) async throws -> T {
        try await gate.run {
            try await self.run("BEGIN IMMEDIATE")
            do {
                let result = try await body(Transaction(database: self))
                try await self.run("COMMIT")
                return result
            } catch {
                try? await self.run("ROLLBACK")
                throw error
            }
        }
    }

    func ping() async -> Bool {
        (try? await first("SELECT 1 AS one", as: Int64.self)) == 1
    }

    func close() async {
        try? await connection.close()
    }

    /// Statements of a transaction run inside the gate the transaction already holds.
    private struct Transaction: SQLExecutor {
        let database: SQLiteBackend
        var engine: DatabaseEngine { .sqlite }

        func query<Row: SQLRowDecodable>(_ query: SQLQuery, as type: Row.Type) async throws -> [Row] {
            try await database.run(query, as: type)
        }
    }
}

/// A FIFO async mutex: `run` waits its turn, then runs its body alone.
final class SerialGate: Sendable {
    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let proceed = state.withLock { state -> Bool in
                if state.busy {
                    state.waiters.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if proceed { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.busy = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
