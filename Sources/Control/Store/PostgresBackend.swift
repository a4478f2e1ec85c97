import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// PostgreSQL through PostgresNIO's pooled `PostgresClient`: what several control-plane replicas
/// share. `?` placeholders become `$1…`; a transaction leases one connection from BEGIN to COMMIT.
final class PostgresBackend: Database {
    let engine = DatabaseEngine.postgres
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger

    private init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        runner = Task { await client.run() }
    }

    static func open(
        host: String, port: Int, user: String, password: String?, database: String, sslMode: String, logger: Logger
    ) async throws -> PostgresBackend {
        let tls: PostgresClient.Configuration.TLS = switch sslMode {
        case "disable": .disable
        case "require": .require(.makeClientConfiguration())
        default: .prefer(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        let backend = PostgresBackend(client: PostgresClient(configuration: configuration, backgroundLogger: logger), logger: logger)
        do {
            try await backend.execute("SELECT 1")
        } catch {
            await backend.close()
            throw DatabaseError.engine("cannot reach PostgreSQL at \(host):\(port)/\(database): \(String(reflecting: error))")
        }
        return backend
    }

    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        try await Self.run(sql, binds) { query in try await self.client.query(query, logger: self.logger) }
    }

    func transaction<T: Sendable>(_ body: @Sendable (any SQLExecutor) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await body(Transaction(connection: connection, logger: self.logger))
            }
        } catch let error as PostgresTransactionError {
            // The body's own error is what callers act on (a duplicate, a stale version…).
            if let closureError = error.closureError { throw closureError }
            throw DatabaseError.engine("PostgreSQL transaction: \(String(reflecting: error))")
        }
    }

    func ping() async -> Bool {
        (try? await query("SELECT 1 AS one", []).first?.int("one")) == 1
    }

    func close() async {
        runner.cancel()
        _ = await runner.value
    }

    private struct Transaction: SQLExecutor {
        let connection: PostgresConnection
        let logger: Logger
        var engine: DatabaseEngine { .postgres }

        func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
            try await PostgresBackend.run(sql, binds) { query in try await connection.query(query, logger: logger) }
        }
    }

    private static func run(
        _ sql: String, _ binds: [SQLValue], _ send: (PostgresQuery) async throws -> PostgresRowSequence
    ) async throws -> [SQLRow] {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .null: bindings.appendNull()
            case let .int(number): bindings.append(number)
            case let .text(text): bindings.append(text)
            case let .blob(bytes): bindings.append(ByteBuffer(bytes: bytes))
            }
        }
        do {
            var rows: [SQLRow] = []
            for try await row in try await send(PostgresQuery(unsafeSQL: numbered(sql), binds: bindings)) {
                var values: [String: SQLValue] = [:]
                for cell in row {
                    values[cell.columnName] = try decode(cell)
                }
                rows.append(SQLRow(values: values))
            }
            return rows
        } catch let error as PSQLError {
            let state = error.serverInfo?[.sqlState]
            let message = error.serverInfo?[.message] ?? String(reflecting: error)
            if state == "23505" { throw DatabaseError.duplicate(message) }
            throw DatabaseError.engine("PostgreSQL: \(message)")
        }
    }

    private static func decode(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int8, .int4, .int2: return .int(try cell.decode(Int64.self))
        case .bool: return .int(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
        default: return .text(try cell.decode(String.self))
        }
    }

    /// `?` → `$1`, `$2`… outside quoted literals and identifiers.
    static func numbered(_ sql: String) -> String {
        var output = ""
        output.reserveCapacity(sql.utf8.count + 8)
        var quote: Character?
        var number = 0
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                output.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                output.append(character)
            } else if character == "?" {
                number += 1
                output += "$\(number)"
            } else {
                output.append(character)
            }
        }
        return output
    }
}
