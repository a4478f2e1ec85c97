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

enum AuditStore {
    static func record(
        actor: String, action: String, resource: String, before: JSONOutput?, after: JSONOutput?, requestID: String,
        on executor: any SQLExecutor
    ) async throws {
        try await executor.execute(
            "INSERT INTO audit_log (time, actor, action, resource, before, after, request_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [.int(Clock.nowMilliseconds()), .text(actor), .text(action), .text(resource),
             SQLValue(before?.serialized()), SQLValue(after?.serialized()), .text(requestID)])
    }

    static func list(_ filter: AuditFilter, limit: Int, offset: Int, on executor: any SQLExecutor) async throws -> (items: [AuditEntry], total: Int) {
        var conditions: [String] = []
        var binds: [SQLValue] = []
        if let resource = filter.resource { conditions.append("resource = ?"); binds.append(.text(resource)) }
        if let actor = filter.actor { conditions.append("actor = ?"); binds.append(.text(actor)) }
        if let from = filter.from { conditions.append("time >= ?"); binds.append(.int(from)) }
        if let to = filter.to { conditions.append("time <= ?"); binds.append(.int(to)) }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let rows = try await executor.query(
            "SELECT id, time, actor, action, resource, before, after, request_id FROM audit_log \(whereClause) ORDER BY id DESC LIMIT ? OFFSET ?",
            binds + [SQLValue(limit), SQLValue(offset)])
        let total = try await executor.first("SELECT COUNT(*) AS total FROM audit_log \(whereClause)", binds)?.int("total") ?? 0
        let items = try rows.map { row in
            AuditEntry(
                id: try row.int("id"), time: try row.int("time"), actor: try row.string("actor"), action: try row.string("action"),
                resource: try row.string("resource"), before: try row.optionalString("before"), after: try row.optionalString("after"),
                requestID: try row.string("request_id"))
        }
        return (items, Int(total))
    }
}
