import Testing
@testable import tollgate_control

/// Statements keep their parameters apart from their text; each engine writes its own placeholders.
@Suite("SQL statements")
struct SQLQueryTests {
    @Test("a parameter is ? on SQLite and $n on PostgreSQL; text is never scanned for placeholders")
    func placeholders() {
        let id = "a?b"
        let query: SQLQuery = "SELECT '?', x FROM t WHERE id = \(bind: id) AND n > \(bind: 3)"
        #expect(query.sql(for: .sqlite) == "SELECT '?', x FROM t WHERE id = ? AND n > ?")
        #expect(query.sql(for: .postgres) == "SELECT '?', x FROM t WHERE id = $1 AND n > $2")
        #expect(query.binds == [.text("a?b"), .int(3)])
    }

    @Test("fragments compose: a WHERE clause built from filters is numbered in the whole statement")
    func composition() {
        let conditions: [SQLQuery] = ["actor = \(bind: "alice")", "time >= \(bind: Int64(5))"]
        let whereClause: SQLQuery = "WHERE \(conditions.joined(separator: " AND "))"
        let query: SQLQuery = "SELECT id FROM audit_log \(whereClause) LIMIT \(bind: 50)"
        #expect(query.sql(for: .postgres) == "SELECT id FROM audit_log WHERE actor = $1 AND time >= $2 LIMIT $3")
        #expect(query.sql(for: .sqlite) == "SELECT id FROM audit_log WHERE actor = ? AND time >= ? LIMIT ?")
        #expect(query.binds == [.text("alice"), .int(5), .int(50)])
        let empty: [SQLQuery] = []
        #expect(empty.joined(separator: " AND ").sql(for: .postgres) == "")
    }

    @Test("optional values bind as NULL")
    func optionals() {
        let missing: String? = nil
        let query: SQLQuery = "UPDATE t SET a = \(bind: missing), b = \(bind: Optional(Int64(1)))"
        #expect(query.binds == [.null, .int(1)])
    }
}
