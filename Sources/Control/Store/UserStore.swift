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

/// A user row as stored: PII still sealed, roles apart (`user_roles`).
struct StoredUser: SQLRowDecodable {
    /// The select list `init(row:)` reads, in its order.
    static let columns = "id, email, display_name, attributes, password_hash, status, created_at, updated_at, last_login, version"

    let id: String
    let sealedEmail: String
    let sealedDisplayName: String?
    let sealedAttributes: String
    let passwordHash: String?
    let status: String
    let createdAt: Int64
    let updatedAt: Int64
    let lastLogin: Int64?
    let version: Int64

    init(row: some SQLRowReader) throws {
        id = try row.column(0)
        sealedEmail = try row.column(1)
        sealedDisplayName = try row.column(2)
        sealedAttributes = try row.column(3)
        passwordHash = try row.column(4)
        status = try row.column(5)
        createdAt = try row.column(6)
        updatedAt = try row.column(7)
        lastLogin = try row.column(8)
        version = try row.column(9)
    }
}

enum UserStore {
    static func insert(_ user: UserRecord, crypto: UserCrypto, on executor: any SQLExecutor) async throws {
        let email = try crypto.keys.seal(user.email, context: "users.email")
        let displayName = try user.displayName.map { try crypto.keys.seal($0, context: "users.display_name") }
        let attributes = try crypto.keys.seal(user.attributes, context: "users.attributes")
        try await executor.execute("""
            INSERT INTO users (email_index, \(raw: StoredUser.columns)) VALUES (\(bind: crypto.emailIndex(user.email)), \(bind: user.id),
            \(bind: email), \(bind: displayName), \(bind: attributes), \(bind: user.passwordHash), \(bind: user.status), \(bind: user.createdAt),
            \(bind: user.updatedAt), \(bind: user.lastLogin), \(bind: user.version))
            """)
        for role in user.roles {
            try await executor.execute(
                "INSERT INTO user_roles (user_id, role_name, assigned_at) VALUES (\(bind: user.id), \(bind: role), \(bind: user.createdAt))")
        }
    }

    static func find(id: String, crypto: UserCrypto, on executor: any SQLExecutor) async throws -> UserRecord? {
        guard let stored = try await executor.first(
            "SELECT \(raw: StoredUser.columns) FROM users WHERE id = \(bind: id)", as: StoredUser.self)
        else { return nil }
        return try await record(stored, crypto: crypto, on: executor)
    }

    static func find(email: String, crypto: UserCrypto, on executor: any SQLExecutor) async throws -> UserRecord? {
        guard let stored = try await executor.first(
            "SELECT \(raw: StoredUser.columns) FROM users WHERE email_index = \(bind: crypto.emailIndex(email))", as: StoredUser.self)
        else { return nil }
        return try await record(stored, crypto: crypto, on: executor)
    }

    /// Only the status: what introspection needs on every call.
    static func status(id: String, on executor: any SQLExecutor) async throws -> String? {
        try await executor.first("SELECT status FROM users WHERE id = \(bind: id)", as: String.self)
    }

    static func setStatus(id: String, status: String, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "UPDATE users SET status = \(bind: status), updated_at = \(bind: now), version = version + 1 WHERE id = \(bind: id)")
    }

    static func recordLogin(id: String, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute("UPDATE users SET last_login = \(bind: now) WHERE id = \(bind: id)")
    }

    /// The scopes the user's roles grant.
    static func grantedScopes(userID: String, on executor: any SQLExecutor) async throws -> Set<String> {
        let lists = try await executor.query(
            "SELECT r.scopes FROM user_roles ur JOIN roles r ON r.name = ur.role_name WHERE ur.user_id = \(bind: userID)", as: String.self)
        var scopes = Set<String>()
        for list in lists { scopes.formUnion(list.split(separator: " ").map(String.init)) }
        return scopes
    }

    private static func record(_ stored: StoredUser, crypto: UserCrypto, on executor: any SQLExecutor) async throws -> UserRecord {
        let roles = try await executor.query(
            "SELECT role_name FROM user_roles WHERE user_id = \(bind: stored.id) ORDER BY role_name", as: String.self)
        return UserRecord(
            id: stored.id, email: try await crypto.keys.open(stored.sealedEmail, context: "users.email"),
            displayName: try await stored.sealedDisplayName.asyncMap { try await crypto.keys.open($0, context: "users.display_name") },
            attributes: try await crypto.keys.open(stored.sealedAttributes, context: "users.attributes"),
            passwordHash: stored.passwordHash, status: stored.status, roles: roles, createdAt: stored.createdAt,
            updatedAt: stored.updatedAt, lastLogin: stored.lastLogin, version: stored.version)
    }
}
