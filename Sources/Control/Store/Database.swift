import Foundation
import Logging
import NIOCore

enum DatabaseError: Error, CustomStringConvertible {
    case column(String, String)
    case badURL(String)
    case engine(String)
    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    case duplicate(String)

    var description: String {
        switch self {
        case let .column(name, expected): "column \(name) is not \(expected)"
        case let .badURL(reason): "--database: \(reason)"
        case let .engine(message): message
        case let .duplicate(message): "duplicate: \(message)"
        }
    }
}

enum DatabaseEngine: String, Sendable {
    case sqlite, postgres
}

/// What runs statements: the database itself, or one transaction on it.
protocol SQLExecutor: Sendable {
    var engine: DatabaseEngine { get }
    /// Every row of the result, each decoded into `Row`.
    func query<Row: SQLRowDecodable>(_ query: SQLQuery, as type: Row.Type) async throws -> [Row]
}

extension SQLExecutor {
    func first<Row: SQLRowDecodable>(_ query: SQLQuery, as type: Row.Type) async throws -> Row? {
        try await self.query(query, as: type).first
    }

    func execute(_ query: SQLQuery) async throws {
        _ = try await self.query(query, as: SQLNoColumns.self)
    }

    /// Waits for `lock` until the transaction ends, on PostgreSQL; replicas that would otherwise
    /// interleave take turns. SQLite's write transactions (`BEGIN IMMEDIATE`) already do.
    func takeTurn(_ lock: ReplicaLock) async throws {
        guard engine == .postgres else { return }
        try await execute("SELECT pg_advisory_xact_lock(\(raw: String(lock.rawValue)))")
    }
}

/// The PostgreSQL advisory locks of work that must not run on two replicas at once.
enum ReplicaLock: Int64 {
    case migrations = 72531
    case dataKeys = 72532
    case signingKeys = 72533
}

/// The one SQL layer the stores use, over SQLite (the embedded default) and PostgreSQL (several
/// replicas). Stores write `SQLQuery` statements, whose parameters each engine numbers its own way,
/// and read rows into typed records (`SQLRowDecodable`) by column position.
protocol Database: SQLExecutor {
    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    func transaction<T: Sendable>(_ body: @Sendable (any SQLExecutor) async throws -> T) async throws -> T
    /// True when the database answers (readiness).
    func ping() async -> Bool
    func close() async
}

/// `--database`: `sqlite:PATH` (or a bare path) or `postgres://user:pw@host:port/db`.
enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    /// `?sslmode=disable|prefer|require` as libpq spells it; `prefer` when absent.
    case postgres(host: String, port: Int, user: String, password: String?, database: String, sslMode: String)

    static let defaultLocation = DatabaseLocation.sqlite(path: "./data/tollgate.db")

    init(parsing text: String) throws {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
                throw DatabaseError.badURL("not a postgres://user:password@host:port/database URL")
            }
            let database = String(components.path.dropFirst())
            guard !database.isEmpty, !database.contains("/") else {
                throw DatabaseError.badURL("name the database: postgres://user@host:5432/DATABASE")
            }
            let sslMode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
            guard ["disable", "prefer", "require"].contains(sslMode) else {
                throw DatabaseError.badURL("sslmode is disable, prefer or require, not \(sslMode)")
            }
            self = .postgres(
                host: host, port: components.port ?? 5432, user: components.user ?? "postgres",
                password: components.password?.removingPercentEncoding, database: database, sslMode: sslMode)
        } else {
            let path = text.hasPrefix("sqlite:") ? String(text.dropFirst("sqlite:".count)) : text
            guard !path.isEmpty else { throw DatabaseError.badURL("sqlite: needs a file path") }
            guard !path.contains("://") else { throw DatabaseError.badURL("use sqlite:PATH or postgres://…") }
            self = .sqlite(path: path)
        }
    }

    /// Never shows the password.
    var description: String {
        switch self {
        case let .sqlite(path): "sqlite:\(path)"
        case let .postgres(host, port, user, _, database, _): "postgres://\(user)@\(host):\(port)/\(database)"
        }
    }

    func open(logger: Logger) async throws -> any Database {
        switch self {
        case let .sqlite(path): try await SQLiteBackend.open(path: path, logger: logger)
        case let .postgres(host, port, user, password, database, sslMode):
            try await PostgresBackend.open(
                host: host, port: port, user: user, password: password, database: database, sslMode: sslMode, logger: logger)
        }
    }
}
