/// The stored fields sealed under a data key, in whichever table they live: what a data-key
/// rotation reads and re-seals. A field's sealing context is `table.column`.
enum SealedFieldStore {
    struct Column: Sendable {
        let table: String
        let key: String
        let column: String

        var context: String { "\(table).\(column)" }
    }

    /// Every sealed column (`UserStore` and `SigningKeyStore` seal with these contexts).
    static let columns = [
        Column(table: "users", key: "id", column: "email"), Column(table: "users", key: "id", column: "display_name"),
        Column(table: "users", key: "id", column: "attributes"), Column(table: "signing_keys", key: "kid", column: "private_key"),
    ]

    /// One stored value and the key of its row.
    struct Field: SQLRowDecodable {
        let key: String
        let sealed: String

        init(row: some SQLRowReader) throws {
            key = try row.column(0)
            sealed = try row.column(1)
        }
    }

    static func fields(in column: Column, on executor: any SQLExecutor) async throws -> [Field] {
        try await executor.query(
            "SELECT \(raw: column.key), \(raw: column.column) FROM \(raw: column.table) WHERE \(raw: column.column) IS NOT NULL", as: Field.self)
    }

    static func replace(_ field: Field, in column: Column, with sealed: String, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "UPDATE \(raw: column.table) SET \(raw: column.column) = \(bind: sealed) WHERE \(raw: column.key) = \(bind: field.key)")
    }
}
