/// One result row as an engine hands it over, read by column position: the order of the statement's
/// select list, which each record's store writes beside the record's `init(row:)`.
protocol SQLRowReader {
    var columnCount: Int { get }
    /// The column's name, for errors.
    func name(at index: Int) -> String
    func value(at index: Int) throws -> SQLValue
}

extension SQLRowReader {
    /// The column at `index` as `Value`; a column of another type (or a missing one) is an error
    /// that names it.
    func column<Value: SQLColumnValue>(_ index: Int, as type: Value.Type = Value.self) throws -> Value {
        guard index < columnCount else { throw DatabaseError.column("#\(index)", "in the select list") }
        guard let value = Value(sqlValue: try self.value(at: index)) else {
            throw DatabaseError.column(name(at: index), Value.sqlTypeDescription)
        }
        return value
    }
}

/// A typed record one row decodes into.
protocol SQLRowDecodable: Sendable {
    init(row: some SQLRowReader) throws
}

/// A type one column decodes into. Each is also a one-column row (`SELECT COUNT(*)`,
/// `RETURNING id`).
protocol SQLColumnValue: SQLRowDecodable {
    /// What the column must hold, for the error when it does not.
    static var sqlTypeDescription: String { get }
    /// nil when `sqlValue` is not of this type.
    init?(sqlValue: SQLValue)
}

extension SQLColumnValue {
    init(row: some SQLRowReader) throws {
        self = try row.column(0)
    }
}

extension Int64: SQLColumnValue {
    static var sqlTypeDescription: String { "integer" }

    init?(sqlValue: SQLValue) {
        guard case let .int(value) = sqlValue else { return nil }
        self = value
    }
}

/// 0 or 1 in an INTEGER column.
extension Bool: SQLColumnValue {
    static var sqlTypeDescription: String { "integer" }

    init?(sqlValue: SQLValue) {
        guard case let .int(value) = sqlValue else { return nil }
        self = value != 0
    }
}

extension String: SQLColumnValue {
    static var sqlTypeDescription: String { "text" }

    init?(sqlValue: SQLValue) {
        guard case let .text(value) = sqlValue else { return nil }
        self = value
    }
}

extension Array: SQLRowDecodable, SQLColumnValue where Element == UInt8 {
    static var sqlTypeDescription: String { "blob" }

    init?(sqlValue: SQLValue) {
        guard case let .blob(value) = sqlValue else { return nil }
        self = value
    }
}

extension Optional: SQLRowDecodable, SQLColumnValue where Wrapped: SQLColumnValue {
    static var sqlTypeDescription: String { "\(Wrapped.sqlTypeDescription) or null" }

    init?(sqlValue: SQLValue) {
        if case .null = sqlValue {
            self = .none
        } else if let value = Wrapped(sqlValue: sqlValue) {
            self = .some(value)
        } else {
            return nil
        }
    }
}

/// A statement's rows when nobody reads them (`execute`).
struct SQLNoColumns: SQLRowDecodable {
    init(row: some SQLRowReader) {}
}
