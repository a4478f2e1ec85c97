/// A key that signs (or signed) access tokens, as stored: the private key sealed under a data key
/// (context `signing_keys.private_key`), the public one as its JWK text.
struct SigningKeyRecord: Sendable {
    let kid: String
    let algorithm: String
    let sealedPrivateKey: String
    let publicJWK: String
    let createdAt: Int64
    let retiredAt: Int64?
    let publishedUntil: Int64?
}

extension SigningKeyRecord: SQLRowDecodable {
    /// The select list `init(row:)` reads, in its order.
    static let columns = "kid, alg, private_key, public_jwk, created_at, retired_at, published_until"

    init(row: some SQLRowReader) throws {
        self.init(
            kid: try row.column(0), algorithm: try row.column(1), sealedPrivateKey: try row.column(2), publicJWK: try row.column(3),
            createdAt: try row.column(4), retiredAt: try row.column(5), publishedUntil: try row.column(6))
    }
}

/// The `signing_keys` table. Rotations hold `ReplicaLock.signingKeys` so two replicas cannot each
/// leave an active key.
enum SigningKeyStore {
    /// The keys still in JWKS at `now` (not retired, or retired but inside their window), newest first.
    static func published(at now: Int64, on executor: any SQLExecutor) async throws -> [SigningKeyRecord] {
        try await executor.query("""
            SELECT \(raw: SigningKeyRecord.columns) FROM signing_keys
            WHERE retired_at IS NULL OR published_until > \(bind: now) ORDER BY created_at DESC, kid
            """, as: SigningKeyRecord.self)
    }

    /// Retires the active key(s), published until `publishedUntil`.
    static func retireActive(now: Int64, publishedUntil: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "UPDATE signing_keys SET retired_at = \(bind: now), published_until = \(bind: publishedUntil) WHERE retired_at IS NULL")
    }

    /// Adds a new active key.
    static func insert(_ key: SigningKeyRecord, on executor: any SQLExecutor) async throws {
        try await executor.execute("""
            INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at)
            VALUES (\(bind: key.kid), \(bind: key.algorithm), \(bind: key.sealedPrivateKey), \(bind: key.publicJWK), \(bind: key.createdAt))
            """)
    }
}
