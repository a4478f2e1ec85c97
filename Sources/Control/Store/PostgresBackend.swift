import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// PostgreSQL through PostgresNIO's pooled `PostgresClient`: what several control-plane replicas
/// share. A transaction leases one connection from BEGIN to COMMIT.
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

    func query<Row: SQLRowDecodable>(_ query: SQLQuery, as type: Row.Type) async throws -> [Row] {
        try await Self.run(query, as: type) { query in try await self.client.query(query, logger: self.logger) }
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
        (try? await first("SELECT 1 AS one", as: Int64.self)) == 1
    }

    func close() async {
        runner.cancel()
        _ = await runner.value
    }

    private struct Transaction: SQLExecutor {
        let connection: PostgresConnection
        let logger: Logger
        var engine: DatabaseEngine { .postgres }

        func query<Row: SQLRowDecodable>(_ query: SQLQuery, as type: Row.Type) async throws -> [Row] {
            try await PostgresBackend.run(query, as: type) { query in try await connection.query(query, logger: logger) }
        }
    }

    private static func run<Row: SQLRowDecodable>(
        _ query: SQLQuery, as type: Row.Type, _ send: (PostgresQuery) async throws -> PostgresRowSequence
    ) async throws -> [Row] {
        var bindings = PostgresBindings(capacity: query.binds.count)
        for value in query.binds {
            switch value {
            case .null: bindings.appendNull()
            case let .int(number): bindings.append(number)
            case let .text(text): bindings.append(text)
            case let .blob(bytes): bindings.append(ByteBuffer(bytes: bytes))
            }
        }
        do {
            var rows: [Row] = []
            for try await row in try await send(PostgresQuery(unsafeSQL: query.sql(for: .postgres), binds: bindings)) {
                rows.append(try Row(row: Reader(cells: row.makeRandomAccess())))
            }
            return rows
        } catch let error as PSQLError {
            let state = error.serverInfo?[.sqlState]
            let message = error.serverInfo?[.message] ?? String(reflecting: error)
            if state == "23505" { throw DatabaseError.duplicate(message) }
            throw DatabaseError.engine("PostgreSQL: \(message)")
        }
    }

    /// A row's cells in select-list order. Integers of every width read as `.int`, booleans as 0/1,
    /// BYTEA as a blob, anything else as its text.
    private struct Reader: SQLRowReader {
        let cells: PostgresRandomAccessRow

        var columnCount: Int { cells.count }

        func name(at index: Int) -> String { cells[index].columnName }

        func value(at index: Int) throws -> SQLValue {
            let cell = cells[index]
            guard cell.bytes != nil else { return .null }
            switch cell.dataType {
            case .int8, .int4, .int2: return .int(try cell.decode(Int64.self))
            case .bool: return .int(try cell.decode(Bool.self) ? 1 : 0)
            case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
            default: return .text(try cell.decode(String.self))
            }
        }
    }
}
