import Core

/// A role: a name for a set of scopes that users are given.
struct RoleRecord: Sendable {
    var name: String
    var description: String
    var scopes: [String]
    var createdAt: Int64

    var json: JSONOutput {
        .object([("name", .string(name)), ("description", .string(description)), ("scopes", .strings(scopes)),
                 ("created_at", .string(Timestamp.rfc3339(createdAt)))])
    }
}

extension RoleRecord: SQLRowDecodable {
    /// The select list `init(row:)` reads, in its order.
    static let columns = "name, description, scopes, created_at"

    init(row: some SQLRowReader) throws {
        self.init(
            name: try row.column(0), description: try row.column(1),
            scopes: try row.column(2, as: String.self).split(separator: " ").map(String.init), createdAt: try row.column(3))
    }
}

enum RoleStore {
    static func insert(_ role: RoleRecord, on executor: any SQLExecutor) async throws {
        try await executor.execute("""
            INSERT INTO roles (\(raw: RoleRecord.columns))
            VALUES (\(bind: role.name), \(bind: role.description), \(bind: role.scopes.joined(separator: " ")), \(bind: role.createdAt))
            """)
    }

    static func list(on executor: any SQLExecutor) async throws -> [RoleRecord] {
        try await executor.query("SELECT \(raw: RoleRecord.columns) FROM roles ORDER BY name", as: RoleRecord.self)
    }

    static func exists(_ name: String, on executor: any SQLExecutor) async throws -> Bool {
        try await executor.first("SELECT name FROM roles WHERE name = \(bind: name)", as: String.self) != nil
    }
}
