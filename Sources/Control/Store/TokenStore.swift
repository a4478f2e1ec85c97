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

enum TokenStore {
    static func hash(_ refreshToken: String) -> String { Hex.encode(Digest.sha256(refreshToken)) }

    static func createFamily(id: String, clientID: String, userID: String, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "INSERT INTO token_families (id, client_id, user_id, created_at) VALUES (?, ?, ?, ?)",
            [.text(id), .text(clientID), .text(userID), .int(now)])
    }

    static func insertRefresh(
        token: String, familyID: String, scope: String, audience: String, now: Int64, expiresAt: Int64, on executor: any SQLExecutor
    ) async throws {
        try await executor.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, scope, audience, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            [.text(hash(token)), .text(familyID), .text(scope), .text(audience), .int(now), .int(expiresAt)])
    }

    static func findRefresh(_ token: String, on executor: any SQLExecutor) async throws -> RefreshTokenRecord? {
        guard let row = try await executor.first(
            """
            SELECT t.token_hash, t.family_id, f.client_id, f.user_id, t.scope, t.audience, t.expires_at, t.used_at, f.revoked_at
            FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.token_hash = ?
            """, [.text(hash(token))])
        else { return nil }
        return RefreshTokenRecord(
            tokenHash: try row.string("token_hash"), familyID: try row.string("family_id"), clientID: try row.string("client_id"),
            userID: try row.string("user_id"), scope: try row.string("scope"), audience: try row.string("audience"),
            expiresAt: try row.int("expires_at"), usedAt: try row.optionalInt("used_at"), familyRevokedAt: try row.optionalInt("revoked_at"))
    }

    /// Marks the token used; false when another request used it first (the loser is a reuse).
    static func markUsed(tokenHash: String, now: Int64, on executor: any SQLExecutor) async throws -> Bool {
        let rows = try await executor.query(
            "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL RETURNING token_hash",
            [.int(now), .text(tokenHash)])
        return !rows.isEmpty
    }

    static func revokeFamily(_ familyID: String, reason: String, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "UPDATE token_families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
            [.int(now), .text(reason), .text(familyID)])
    }

    static func familyRevoked(_ familyID: String, on executor: any SQLExecutor) async throws -> Bool {
        guard let row = try await executor.first("SELECT revoked_at FROM token_families WHERE id = ?", [.text(familyID)]) else {
            return true
        }
        return try row.optionalInt("revoked_at") != nil
    }

    static func revokeAccessToken(jti: String, expiresAt: Int64, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING",
            [.text(jti), .int(expiresAt), .int(now)])
    }

    static func isRevoked(jti: String, on executor: any SQLExecutor) async throws -> Bool {
        try await executor.first("SELECT jti FROM revoked_tokens WHERE jti = ?", [.text(jti)]) != nil
    }
}
