import Core
import Synchronization

/// An OAuth client: who may ask for tokens, with which grants, scopes and audiences.
struct ClientRecord: Sendable, Equatable {
    var clientID: String
    var name: String
    var secretHash: String
    var scopes: [String]
    var grantTypes: [String]
    var audiences: [String]
    var createdAt: Int64
    var updatedAt: Int64
    var version: Int64

    /// What the API shows (never the secret or its hash).
    var json: JSONOutput {
        .object([
            ("client_id", .string(clientID)), ("name", .string(name)), ("scopes", .strings(scopes)),
            ("grant_types", .strings(grantTypes)), ("audiences", .strings(audiences)),
            ("created_at", .string(Timestamp.rfc3339(createdAt))), ("updated_at", .string(Timestamp.rfc3339(updatedAt))),
            ("version", .int(version)),
        ])
    }
}

extension ClientRecord: SQLRowDecodable {
    /// The select list `init(row:)` reads, in its order. Lists are stored space-separated.
    static let columns = "client_id, name, secret_hash, scopes, grant_types, audiences, created_at, updated_at, version"

    init(row: some SQLRowReader) throws {
        func words(_ index: Int) throws -> [String] {
            try row.column(index, as: String.self).split(separator: " ").map(String.init)
        }
        self.init(
            clientID: try row.column(0), name: try row.column(1), secretHash: try row.column(2), scopes: try words(3),
            grantTypes: try words(4), audiences: try words(5), createdAt: try row.column(6), updatedAt: try row.column(7),
            version: try row.column(8))
    }
}

enum ClientStore {
    static func insert(_ client: ClientRecord, on executor: any SQLExecutor) async throws {
        try await executor.execute("""
            INSERT INTO clients (\(raw: ClientRecord.columns)) VALUES (\(bind: client.clientID), \(bind: client.name), \(bind: client.secretHash),
            \(bind: client.scopes.joined(separator: " ")), \(bind: client.grantTypes.joined(separator: " ")),
            \(bind: client.audiences.joined(separator: " ")), \(bind: client.createdAt), \(bind: client.updatedAt), \(bind: client.version))
            """)
    }

    static func find(_ clientID: String, on executor: any SQLExecutor) async throws -> ClientRecord? {
        try await executor.first("SELECT \(raw: ClientRecord.columns) FROM clients WHERE client_id = \(bind: clientID)", as: ClientRecord.self)
    }

    static func list(limit: Int, offset: Int, on executor: any SQLExecutor) async throws -> (items: [ClientRecord], total: Int) {
        let items = try await executor.query(
            "SELECT \(raw: ClientRecord.columns) FROM clients ORDER BY client_id LIMIT \(bind: limit) OFFSET \(bind: offset)", as: ClientRecord.self)
        let total = try await executor.first("SELECT COUNT(*) AS total FROM clients", as: Int64.self) ?? 0
        return (items, Int(total))
    }

    /// Deletes the client; with `version`, only the client at that version (nothing changes when
    /// another write got there first).
    static func delete(_ clientID: String, version: Int64? = nil, on executor: any SQLExecutor) async throws {
        try await executor.execute("DELETE FROM clients WHERE \(matching(clientID, version: version))")
    }

    /// Replaces the secret; with `version`, only of the client at that version (nothing changes when
    /// another write got there first: the caller re-reads and does not find its hash).
    static func replaceSecret(_ clientID: String, version: Int64?, hash: String, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute("""
            UPDATE clients SET secret_hash = \(bind: hash), updated_at = \(bind: now), version = version + 1
            WHERE \(matching(clientID, version: version))
            """)
    }

    /// The client, at `version` when one is given (a condition added, not an `IS NULL` test of a
    /// parameter: PostgreSQL cannot type a NULL parameter compared with nothing).
    private static func matching(_ clientID: String, version: Int64?) -> SQLQuery {
        guard let version else { return "client_id = \(bind: clientID)" }
        return "client_id = \(bind: clientID) AND version = \(bind: version)"
    }
}

/// Clients by id, kept for `lifetime` so a token request does not read the database each time.
/// Writes through this process invalidate at once; another replica's change is seen within
/// `lifetime` (a deleted client's tokens are refused by introspection within that window).
final class ClientCache: Sendable {
    static let lifetime: Int64 = 2_000

    private let entries = Mutex<[String: (client: ClientRecord, loadedAt: Int64)]>([:])
    private let database: any Database

    init(database: any Database) {
        self.database = database
    }

    func find(_ clientID: String) async throws -> ClientRecord? {
        let now = Clock.nowMilliseconds()
        if let entry = entries.withLock({ $0[clientID] }), now - entry.loadedAt < Self.lifetime { return entry.client }
        let client = try await ClientStore.find(clientID, on: database)
        entries.withLock { cache in
            if let client {
                if cache.count >= 10_000 { cache.removeAll(keepingCapacity: true) }
                cache[clientID] = (client, now)
            } else {
                cache[clientID] = nil
            }
        }
        return client
    }

    func invalidate(_ clientID: String) {
        _ = entries.withLock { $0.removeValue(forKey: clientID) }
    }
}
