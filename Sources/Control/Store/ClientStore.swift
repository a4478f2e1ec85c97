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

enum ClientStore {
    private static let columns = "client_id, name, secret_hash, scopes, grant_types, audiences, created_at, updated_at, version"

    static func insert(_ client: ClientRecord, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "INSERT INTO clients (\(columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [.text(client.clientID), .text(client.name), .text(client.secretHash), .text(client.scopes.joined(separator: " ")),
             .text(client.grantTypes.joined(separator: " ")), .text(client.audiences.joined(separator: " ")),
             .int(client.createdAt), .int(client.updatedAt), .int(client.version)])
    }

    static func find(_ clientID: String, on executor: any SQLExecutor) async throws -> ClientRecord? {
        try await executor.first("SELECT \(columns) FROM clients WHERE client_id = ?", [.text(clientID)]).map(record)
    }

    static func list(limit: Int, offset: Int, on executor: any SQLExecutor) async throws -> (items: [ClientRecord], total: Int) {
        let rows = try await executor.query(
            "SELECT \(columns) FROM clients ORDER BY client_id LIMIT ? OFFSET ?", [SQLValue(limit), SQLValue(offset)])
        let total = try await executor.first("SELECT COUNT(*) AS total FROM clients", [])?.int("total") ?? 0
        return (try rows.map(record), Int(total))
    }

    /// Deletes the client; with `version`, only the client at that version (nothing changes when
    /// another write got there first).
    static func delete(_ clientID: String, version: Int64? = nil, on executor: any SQLExecutor) async throws {
        let (condition, bindings) = matching(clientID, version: version)
        try await executor.execute("DELETE FROM clients WHERE \(condition)", bindings)
    }

    /// Replaces the secret; with `version`, only of the client at that version (nothing changes when
    /// another write got there first: the caller re-reads and does not find its hash).
    static func replaceSecret(_ clientID: String, version: Int64?, hash: String, now: Int64, on executor: any SQLExecutor) async throws {
        let (condition, bindings) = matching(clientID, version: version)
        try await executor.execute(
            "UPDATE clients SET secret_hash = ?, updated_at = ?, version = version + 1 WHERE \(condition)",
            [.text(hash), .int(now)] + bindings)
    }

    /// The client, at `version` when one is given (a condition added, not a `? IS NULL` trick:
    /// PostgreSQL cannot type a NULL parameter compared with nothing).
    private static func matching(_ clientID: String, version: Int64?) -> (String, [SQLValue]) {
        guard let version else { return ("client_id = ?", [.text(clientID)]) }
        return ("client_id = ? AND version = ?", [.text(clientID), .int(version)])
    }

    private static func record(_ row: SQLRow) throws -> ClientRecord {
        func words(_ column: String) throws -> [String] {
            try row.string(column).split(separator: " ").map(String.init)
        }
        return ClientRecord(
            clientID: try row.string("client_id"), name: try row.string("name"), secretHash: try row.string("secret_hash"),
            scopes: try words("scopes"), grantTypes: try words("grant_types"), audiences: try words("audiences"),
            createdAt: try row.int("created_at"), updatedAt: try row.int("updated_at"), version: try row.int("version"))
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
