import Core

/// Who changed what: one row per write, in the same transaction as the write, so the log and the
/// data never disagree. `before`/`after` are the resource's API view (secrets never included).
struct AuditEntry: Sendable {
    let id: Int64
    let time: Int64
    let actor: String
    let action: String
    let resource: String
    let before: String?
    let after: String?
    let requestID: String

    var json: JSONOutput {
        .object([
            ("id", .int(id)), ("time", .string(Timestamp.rfc3339(time))), ("actor", .string(actor)), ("action", .string(action)),
            ("resource", .string(resource)), ("before", before.map { .raw($0) } ?? .null), ("after", after.map { .raw($0) } ?? .null),
            ("request_id", .string(requestID)),
        ])
    }
}

struct AuditFilter: Sendable {
    var resource: String?
    var actor: String?
    var from: Int64?
    var to: Int64?
}

extension AuditEntry: SQLRowDecodable {
    /// The select list `init(row:)` reads, in its order.
    static let columns = "id, time, actor, action, resource, before, after, request_id"

    init(row: some SQLRowReader) throws {
        self.init(
            id: try row.column(0), time: try row.column(1), actor: try row.column(2), action: try row.column(3),
            resource: try row.column(4), before: try row.column(5), after: try row.column(6), requestID: try row.column(7))
    }
}

enum AuditStore {
    static func record(
        actor: String, action: String, resource: String, before: JSONOutput?, after: JSONOutput?, requestID: String,
        on executor: any SQLExecutor
    ) async throws {
        try await executor.execute("""
            INSERT INTO audit_log (time, actor, action, resource, before, after, request_id) VALUES (\(bind: Clock.nowMilliseconds()),
            \(bind: actor), \(bind: action), \(bind: resource), \(bind: before?.serialized()), \(bind: after?.serialized()), \(bind: requestID))
            """)
    }

    static func list(_ filter: AuditFilter, limit: Int, offset: Int, on executor: any SQLExecutor) async throws -> (items: [AuditEntry], total: Int) {
        var conditions: [SQLQuery] = []
        if let resource = filter.resource { conditions.append("resource = \(bind: resource)") }
        if let actor = filter.actor { conditions.append("actor = \(bind: actor)") }
        if let from = filter.from { conditions.append("time >= \(bind: from)") }
        if let to = filter.to { conditions.append("time <= \(bind: to)") }
        let whereClause: SQLQuery = conditions.isEmpty ? "" : "WHERE \(conditions.joined(separator: " AND "))"
        let items = try await executor.query(
            "SELECT \(raw: AuditEntry.columns) FROM audit_log \(whereClause) ORDER BY id DESC LIMIT \(bind: limit) OFFSET \(bind: offset)",
            as: AuditEntry.self)
        let total = try await executor.first("SELECT COUNT(*) AS total FROM audit_log \(whereClause)", as: Int64.self) ?? 0
        return (items, Int(total))
    }
}
