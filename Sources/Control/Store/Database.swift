import Foundation
import Logging
import NIOCore

/// The one SQL layer the stores use, over SQLite (the embedded default) and PostgreSQL (several
/// replicas). Stores write portable SQL with `?` placeholders; the PostgreSQL engine renumbers them
/// to `$1…`. Columns are INTEGER/BIGINT (times are Unix milliseconds, booleans 0/1), TEXT and
/// BLOB/BYTEA only, so both engines read back the same `SQLValue`s.
enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case text(String)
    case blob([UInt8])

    init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    init(_ value: Int64?) { self = value.map { .int($0) } ?? .null }
    init(_ value: Int) { self = .int(Int64(value)) }
}

struct SQLRow: Sendable {
    let values: [String: SQLValue]

    func string(_ column: String) throws -> String {
        guard case let .text(value)? = values[column] else { throw DatabaseError.column(column, "text") }
        return value
    }

    func optionalString(_ column: String) throws -> String? {
        switch values[column] {
        case .null?: return nil
        case let .text(value)?: return value
        default: throw DatabaseError.column(column, "text or null")
        }
    }

    func int(_ column: String) throws -> Int64 {
        guard case let .int(value)? = values[column] else { throw DatabaseError.column(column, "integer") }
        return value
    }

    func optionalInt(_ column: String) throws -> Int64? {
        switch values[column] {
        case .null?: return nil
        case let .int(value)?: return value
        default: throw DatabaseError.column(column, "integer or null")
        }
    }

    func bool(_ column: String) throws -> Bool { try int(column) != 0 }

    func blob(_ column: String) throws -> [UInt8] {
        guard case let .blob(value)? = values[column] else { throw DatabaseError.column(column, "blob") }
        return value
    }
}

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
    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow]
}

extension SQLExecutor {
    func first(_ sql: String, _ binds: [SQLValue]) async throws -> SQLRow? {
        try await query(sql, binds).first
    }

    func execute(_ sql: String, _ binds: [SQLValue] = []) async throws {
        try await query(sql, binds)
    }
}

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
