import Core

/// Refresh tokens and revocations. A refresh token is stored only as its SHA-256 (it is 256 random
/// bits), with its family: every token a password login led to. Using one marks it used and
/// issues the next; using a used one again revokes the whole family (RFC 9700 §4.14.2).
struct RefreshTokenRecord: Sendable {
    let tokenHash: String
    let familyID: String
    let clientID: String
    let userID: String
    let scope: String
    let audience: String
    let expiresAt: Int64
    let usedAt: Int64?
    let familyRevokedAt: Int64?
}

extension RefreshTokenRecord: SQLRowDecodable {
    /// The select list `init(row:)` reads, in its order (`t` the token, `f` its family).
    static let columns = "t.token_hash, t.family_id, f.client_id, f.user_id, t.scope, t.audience, t.expires_at, t.used_at, f.revoked_at"

    init(row: some SQLRowReader) throws {
        self.init(
            tokenHash: try row.column(0), familyID: try row.column(1), clientID: try row.column(2), userID: try row.column(3),
            scope: try row.column(4), audience: try row.column(5), expiresAt: try row.column(6), usedAt: try row.column(7),
            familyRevokedAt: try row.column(8))
    }
}

enum TokenStore {
    static func hash(_ refreshToken: String) -> String { Hex.encode(Digest.sha256(refreshToken)) }

    static func createFamily(id: String, clientID: String, userID: String, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "INSERT INTO token_families (id, client_id, user_id, created_at) VALUES (\(bind: id), \(bind: clientID), \(bind: userID), \(bind: now))")
    }

    static func insertRefresh(
        token: String, familyID: String, scope: String, audience: String, now: Int64, expiresAt: Int64, on executor: any SQLExecutor
    ) async throws {
        try await executor.execute("""
            INSERT INTO refresh_tokens (token_hash, family_id, scope, audience, created_at, expires_at)
            VALUES (\(bind: hash(token)), \(bind: familyID), \(bind: scope), \(bind: audience), \(bind: now), \(bind: expiresAt))
            """)
    }

    static func findRefresh(_ token: String, on executor: any SQLExecutor) async throws -> RefreshTokenRecord? {
        try await executor.first(
            """
            SELECT \(raw: RefreshTokenRecord.columns)
            FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.token_hash = \(bind: hash(token))
            """, as: RefreshTokenRecord.self)
    }

    /// Marks the token used; false when another request used it first (the loser is a reuse).
    static func markUsed(tokenHash: String, now: Int64, on executor: any SQLExecutor) async throws -> Bool {
        let marked = try await executor.query(
            "UPDATE refresh_tokens SET used_at = \(bind: now) WHERE token_hash = \(bind: tokenHash) AND used_at IS NULL RETURNING token_hash",
            as: String.self)
        return !marked.isEmpty
    }

    static func revokeFamily(_ familyID: String, reason: String, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute("""
            UPDATE token_families SET revoked_at = \(bind: now), revoked_reason = \(bind: reason) WHERE id = \(bind: familyID) AND revoked_at IS NULL
            """)
    }

    static func familyRevoked(_ familyID: String, on executor: any SQLExecutor) async throws -> Bool {
        guard let revokedAt = try await executor.first("SELECT revoked_at FROM token_families WHERE id = \(bind: familyID)", as: Int64?.self) else {
            return true
        }
        return revokedAt != nil
    }

    static func revokeAccessToken(jti: String, expiresAt: Int64, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute("""
            INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (\(bind: jti), \(bind: expiresAt), \(bind: now)) ON CONFLICT (jti) DO NOTHING
            """)
    }

    static func isRevoked(jti: String, on executor: any SQLExecutor) async throws -> Bool {
        try await executor.first("SELECT jti FROM revoked_tokens WHERE jti = \(bind: jti)", as: String.self) != nil
    }
}
