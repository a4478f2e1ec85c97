import Core
import Foundation

/// A user as the OAuth provider needs one: email (sealed at rest, found by its blind index),
/// password hash, status and roles. Profile management builds on this record.
struct UserRecord: Sendable {
    var id: String
    var email: String
    var displayName: String?
    var attributes: String
    var passwordHash: String?
    var status: String
    var roles: [String]
    var createdAt: Int64
    var updatedAt: Int64
    var lastLogin: Int64?
    var version: Int64

    var isActive: Bool { status == "active" }

    var json: JSONOutput {
        .object([
            ("id", .string(id)), ("email", .string(email)), ("display_name", .optional(displayName)),
            ("attributes", .raw(attributes)), ("roles", .strings(roles)), ("status", .string(status)),
            ("created_at", .string(Timestamp.rfc3339(createdAt))),
            ("last_login", lastLogin.map { .string(Timestamp.rfc3339($0)) } ?? .null),
        ])
    }
}

/// Sealing and indexing of the user columns that hold PII.
struct UserCrypto: Sendable {
    let keys: DataKeyRing
    let index: BlindIndex

    static func normalizedEmail(_ email: String) -> String {
        email.trimmingCharacters(in: .whitespaces).lowercased()
    }

    func emailIndex(_ email: String) -> String {
        index.index(Self.normalizedEmail(email), context: "users.email")
    }
}

enum UserStore {
    private static let columns =
        "id, email, display_name, attributes, password_hash, status, created_at, updated_at, last_login, version"

    static func insert(_ user: UserRecord, crypto: UserCrypto, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "INSERT INTO users (email_index, \(columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [.text(crypto.emailIndex(user.email)), .text(user.id),
             .text(try crypto.keys.seal(user.email, context: "users.email")),
             SQLValue(try user.displayName.map { try crypto.keys.seal($0, context: "users.display_name") }),
             .text(try crypto.keys.seal(user.attributes, context: "users.attributes")),
             SQLValue(user.passwordHash), .text(user.status), .int(user.createdAt), .int(user.updatedAt),
             SQLValue(user.lastLogin), .int(user.version)])
        for role in user.roles {
            try await executor.execute(
                "INSERT INTO user_roles (user_id, role_name, assigned_at) VALUES (?, ?, ?)",
                [.text(user.id), .text(role), .int(user.createdAt)])
        }
    }

    static func find(id: String, crypto: UserCrypto, on executor: any SQLExecutor) async throws -> UserRecord? {
        guard let row = try await executor.first("SELECT \(columns) FROM users WHERE id = ?", [.text(id)]) else { return nil }
        return try await record(row, crypto: crypto, on: executor)
    }

    static func find(email: String, crypto: UserCrypto, on executor: any SQLExecutor) async throws -> UserRecord? {
        guard let row = try await executor.first(
            "SELECT \(columns) FROM users WHERE email_index = ?", [.text(crypto.emailIndex(email))])
        else { return nil }
        return try await record(row, crypto: crypto, on: executor)
    }

    /// Only the status: what introspection needs on every call.
    static func status(id: String, on executor: any SQLExecutor) async throws -> String? {
        try await executor.first("SELECT status FROM users WHERE id = ?", [.text(id)])?.string("status")
    }

    static func setStatus(id: String, status: String, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "UPDATE users SET status = ?, updated_at = ?, version = version + 1 WHERE id = ?", [.text(status), .int(now), .text(id)])
    }

    static func recordLogin(id: String, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute("UPDATE users SET last_login = ? WHERE id = ?", [.int(now), .text(id)])
    }

    /// The scopes the user's roles grant.
    static func grantedScopes(userID: String, on executor: any SQLExecutor) async throws -> Set<String> {
        let rows = try await executor.query(
            "SELECT r.scopes FROM user_roles ur JOIN roles r ON r.name = ur.role_name WHERE ur.user_id = ?", [.text(userID)])
        var scopes = Set<String>()
        for row in rows { scopes.formUnion(try row.string("scopes").split(separator: " ").map(String.init)) }
        return scopes
    }

    private static func record(_ row: SQLRow, crypto: UserCrypto, on executor: any SQLExecutor) async throws -> UserRecord {
        let id = try row.string("id")
        let roles = try await executor.query(
            "SELECT role_name FROM user_roles WHERE user_id = ? ORDER BY role_name", [.text(id)]).map { try $0.string("role_name") }
        return UserRecord(
            id: id, email: try await crypto.keys.open(try row.string("email"), context: "users.email"),
            displayName: try await row.optionalString("display_name").asyncMap { try await crypto.keys.open($0, context: "users.display_name") },
            attributes: try await crypto.keys.open(try row.string("attributes"), context: "users.attributes"),
            passwordHash: try row.optionalString("password_hash"), status: try row.string("status"), roles: roles,
            createdAt: try row.int("created_at"), updatedAt: try row.int("updated_at"), lastLogin: try row.optionalInt("last_login"),
            version: try row.int("version"))
    }
}

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

enum RoleStore {
    static func insert(_ role: RoleRecord, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "INSERT INTO roles (name, description, scopes, created_at) VALUES (?, ?, ?, ?)",
            [.text(role.name), .text(role.description), .text(role.scopes.joined(separator: " ")), .int(role.createdAt)])
    }

    static func list(on executor: any SQLExecutor) async throws -> [RoleRecord] {
        try await executor.query("SELECT name, description, scopes, created_at FROM roles ORDER BY name", []).map { row in
            RoleRecord(
                name: try row.string("name"), description: try row.string("description"),
                scopes: try row.string("scopes").split(separator: " ").map(String.init), createdAt: try row.int("created_at"))
        }
    }

    static func exists(_ name: String, on executor: any SQLExecutor) async throws -> Bool {
        try await executor.first("SELECT name FROM roles WHERE name = ?", [.text(name)]) != nil
    }
}
