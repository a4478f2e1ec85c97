import Foundation

/// Versioned schema migrations. Each runs once, in its own transaction, and is recorded in
/// `schema_migrations`; running them again does nothing. On PostgreSQL an advisory lock makes
/// replicas starting together take turns; on SQLite `BEGIN IMMEDIATE` does the same.
///
/// Portable SQL: `{blob}` is BLOB or BYTEA, `{id}` an auto-numbered primary key.
enum Migrations {
    struct Migration {
        let version: Int
        let name: String
        let statements: [String]
    }

    static let all: [Migration] = [
        Migration(version: 1, name: "oauth foundation", statements: [
            """
            CREATE TABLE data_keys (
                id TEXT PRIMARY KEY, sealed {blob} NOT NULL, created_at BIGINT NOT NULL, is_current INTEGER NOT NULL)
            """,
            """
            CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY, alg TEXT NOT NULL, private_key TEXT NOT NULL, public_jwk TEXT NOT NULL,
                created_at BIGINT NOT NULL, retired_at BIGINT, published_until BIGINT)
            """,
            """
            CREATE TABLE clients (
                client_id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT NOT NULL, scopes TEXT NOT NULL,
                grant_types TEXT NOT NULL, audiences TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                version BIGINT NOT NULL)
            """,
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY, email_index TEXT NOT NULL UNIQUE, email TEXT NOT NULL, display_name TEXT,
                attributes TEXT NOT NULL, password_hash TEXT, status TEXT NOT NULL, created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL, last_login BIGINT, version BIGINT NOT NULL)
            """,
            """
            CREATE TABLE roles (
                name TEXT PRIMARY KEY, description TEXT NOT NULL, scopes TEXT NOT NULL, created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE user_roles (
                user_id TEXT NOT NULL REFERENCES users(id), role_name TEXT NOT NULL REFERENCES roles(name),
                assigned_at BIGINT NOT NULL, PRIMARY KEY (user_id, role_name))
            """,
            """
            CREATE TABLE token_families (
                id TEXT PRIMARY KEY, client_id TEXT NOT NULL, user_id TEXT NOT NULL, created_at BIGINT NOT NULL,
                revoked_at BIGINT, revoked_reason TEXT)
            """,
            """
            CREATE TABLE refresh_tokens (
                token_hash TEXT PRIMARY KEY, family_id TEXT NOT NULL REFERENCES token_families(id),
                scope TEXT NOT NULL, audience TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
                used_at BIGINT)
            """,
            "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
            "CREATE TABLE revoked_tokens (jti TEXT PRIMARY KEY, expires_at BIGINT NOT NULL, revoked_at BIGINT NOT NULL)",
            """
            CREATE TABLE audit_log (
                id {id}, time BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL,
                before TEXT, after TEXT, request_id TEXT NOT NULL)
            """,
            "CREATE INDEX audit_log_resource ON audit_log (resource, id)",
            "CREATE INDEX audit_log_time ON audit_log (time)",
        ]),
        Migration(version: 2, name: "master key rewrap", statements: [
            "CREATE TABLE master_secrets (name TEXT PRIMARY KEY, sealed {blob} NOT NULL, created_at BIGINT NOT NULL)",
        ]),
        Migration(version: 3, name: "login throttle", statements: [
            """
            CREATE TABLE login_failures (
                email_index TEXT PRIMARY KEY, failures BIGINT NOT NULL, locked_until BIGINT NOT NULL, last_failure BIGINT NOT NULL)
            """,
        ]),
        // Numbers every replica must agree on. `max_token_ttl_ms`: the longest access-token lifetime
        // any server has issued with, so a key rotation (from any process) keeps the old key in
        // JWKS long enough.
        Migration(version: 4, name: "shared settings", statements: [
            "CREATE TABLE settings (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
            "INSERT INTO settings (name, value) VALUES ('max_token_ttl_ms', 0)",
        ]),
    ]

    static var latest: Int { all.map(\.version).max() ?? 0 }

    /// Applies what is missing; returns the versions applied now.
    @discardableResult
    static func run(on database: any Database) async throws -> [Int] {
        var applied: [Int] = []
        for migration in all {
            let ran = try await database.transaction { transaction -> Bool in
                try await transaction.takeTurn(.migrations)
                try await transaction.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
                let done = try await transaction.first(
                    "SELECT version FROM schema_migrations WHERE version = \(bind: migration.version)", as: Int64.self)
                guard done == nil else { return false }
                for statement in migration.statements {
                    try await transaction.execute("\(raw: portable(statement, for: transaction.engine))")
                }
                try await transaction.execute("""
                    INSERT INTO schema_migrations (version, name, applied_at)
                    VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: Clock.nowMilliseconds()))
                    """)
                return true
            }
            if ran { applied.append(migration.version) }
        }
        return applied
    }

    static func currentVersion(of database: any Database) async throws -> Int {
        let version = try await database.first("SELECT MAX(version) AS version FROM schema_migrations", as: Int64?.self)
        return Int(version.flatMap { $0 } ?? 0)
    }

    static func portable(_ statement: String, for engine: DatabaseEngine) -> String {
        switch engine {
        case .sqlite:
            statement.replacingOccurrences(of: "{blob}", with: "BLOB")
                .replacingOccurrences(of: "{id}", with: "INTEGER PRIMARY KEY AUTOINCREMENT")
        case .postgres:
            statement.replacingOccurrences(of: "{blob}", with: "BYTEA")
                .replacingOccurrences(of: "{id}", with: "BIGSERIAL PRIMARY KEY")
        }
    }
}
