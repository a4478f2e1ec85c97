/// A value bound to a statement parameter. Columns are INTEGER/BIGINT (times are Unix milliseconds,
/// booleans 0/1), TEXT and BLOB/BYTEA only, so both engines bind and read back the same values.
enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case text(String)
    case blob([UInt8])
}

/// A statement with its parameters kept apart from its text. Stores write it as a string with
/// `\(bind: value)` where a parameter goes; each engine writes its own placeholder there when it
/// runs the statement (`?` for SQLite, `$1`, `$2`… for PostgreSQL). Nothing scans SQL text for
/// placeholders, so a `?` in a literal or a PostgreSQL `?` operator is only text. A plain string
/// cannot be interpolated: a value goes in as `\(bind:)`, and text the code itself chose (a column
/// list, a table name) as `\(raw:)`, which says so where it is written.
struct SQLQuery: Sendable, Hashable, ExpressibleByStringInterpolation {
    /// The text around the parameters: `fragments.count == binds.count + 1`.
    private(set) var fragments: [String]
    private(set) var binds: [SQLValue]

    init(stringLiteral text: String) {
        fragments = [text]
        binds = []
    }

    init(stringInterpolation: Interpolation) {
        self = stringInterpolation.query
    }

    /// Appends `other` (text and parameters) after this statement's text.
    mutating func append(_ other: SQLQuery) {
        fragments[fragments.count - 1] += other.fragments[0]
        fragments += other.fragments.dropFirst()
        binds += other.binds
    }

    static func + (lhs: SQLQuery, rhs: SQLQuery) -> SQLQuery {
        var joined = lhs
        joined.append(rhs)
        return joined
    }

    /// The statement's text with `engine`'s placeholders.
    func sql(for engine: DatabaseEngine) -> String {
        guard !binds.isEmpty else { return fragments[0] }
        var text = fragments[0]
        for (number, fragment) in fragments.dropFirst().enumerated() {
            switch engine {
            case .sqlite: text += "?"
            case .postgres: text += "$\(number + 1)"
            }
            text += fragment
        }
        return text
    }

    struct Interpolation: StringInterpolationProtocol {
        fileprivate var query = SQLQuery(stringLiteral: "")

        init(literalCapacity: Int, interpolationCount: Int) {}

        mutating func appendLiteral(_ literal: String) {
            query.fragments[query.fragments.count - 1] += literal
        }

        /// A parameter.
        mutating func appendInterpolation(bind value: some SQLBindable) {
            query.binds.append(value.sqlValue)
            query.fragments.append("")
        }

        /// A parameter that may be NULL (spelled out so the compiler does not warn about
        /// interpolating an optional).
        mutating func appendInterpolation<Value: SQLBindable>(bind value: Value?) {
            appendInterpolation(bind: value.sqlValue)
        }

        /// Text the code itself chose (a column list, a table name from the schema), never a value.
        mutating func appendInterpolation(raw text: String) {
            appendLiteral(text)
        }

        /// A fragment with its own parameters (a WHERE clause built from filters).
        mutating func appendInterpolation(_ fragment: SQLQuery) {
            query.append(fragment)
        }
    }
}

extension Array where Element == SQLQuery {
    /// The fragments with `separator` between them (`AND`, `, `).
    func joined(separator: String) -> SQLQuery {
        guard var joined = first else { return "" }
        for fragment in dropFirst() {
            joined.append(SQLQuery(stringLiteral: separator))
            joined.append(fragment)
        }
        return joined
    }
}

/// What `\(bind:)` takes.
protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension SQLValue: SQLBindable {
    var sqlValue: SQLValue { self }
}

extension String: SQLBindable {
    var sqlValue: SQLValue { .text(self) }
}

extension Int64: SQLBindable {
    var sqlValue: SQLValue { .int(self) }
}

extension Int: SQLBindable {
    var sqlValue: SQLValue { .int(Int64(self)) }
}

extension Bool: SQLBindable {
    var sqlValue: SQLValue { .int(self ? 1 : 0) }
}

extension Array: SQLBindable where Element == UInt8 {
    var sqlValue: SQLValue { .blob(self) }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    var sqlValue: SQLValue { self?.sqlValue ?? .null }
}
