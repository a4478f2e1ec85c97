import Core
import Synchronization

/// The keys that sign access tokens. One is active (the newest not retired); a rotated-out key
/// stays published in JWKS until `published_until` (its last token's expiry plus a margin), so
/// tokens it signed keep verifying everywhere. Private keys are stored sealed under a data key.
///
/// Several replicas share the table: each reloads it every `reloadInterval` and when a token
/// names a `kid` it does not know, so a rotation on one replica reaches the others within that
/// interval; the margin covers it.
final class KeyRing: Sendable {
    struct Published: Sendable {
        let kid: String
        let algorithm: JWTAlgorithm
        let jwk: JSONOutput
        let verificationKey: VerificationKey
        let createdAt: Int64
        let retiredAt: Int64?
        let publishedUntil: Int64?
    }

    struct State: Sendable {
        /// The active key and its JWS header, already base64url-encoded.
        var active: (kid: String, key: SigningKey, encodedHeader: String)?
        var published: [Published] = []
        var loadedAt: Int64 = 0
    }

    static let reloadInterval: Int64 = 10_000
    /// How long past the longest token lifetime a retired key stays in JWKS.
    static let retirementMargin: Int64 = 5 * 60_000

    private let state = Mutex(State())
    private let database: any Database
    private let cipher: DataKeyRing
    let issuer: String
    let algorithm: JWTAlgorithm
    let tokenLifetime: Int64

    init(database: any Database, cipher: DataKeyRing, issuer: String, algorithm: JWTAlgorithm, tokenLifetime: Int64) {
        self.database = database
        self.cipher = cipher
        self.issuer = issuer
        self.algorithm = algorithm
        self.tokenLifetime = tokenLifetime
    }

    static let privateKeyContext = "signing_keys.private_key"

    /// Loads the ring, creating the first key when there is none, and records this process's
    /// token lifetime as the shared maximum when it is longer (the retirement window of every later
    /// rotation, whoever runs it, covers it).
    func start() async throws {
        try await SettingsStore.recordTokenLifetime(tokenLifetime, on: database)
        try await reload()
        if state.withLock({ $0.active == nil }) {
            _ = try await rotate()
        }
    }

    func reload() async throws {
        let now = Clock.nowMilliseconds()
        var next = State(loadedAt: now)
        for stored in try await SigningKeyStore.published(at: now, on: database) {
            let kid = stored.kid
            guard let algorithm = JWTAlgorithm(rawValue: stored.algorithm) else { continue }
            let parsed = try JSONValue.parse(Array(stored.publicJWK.utf8))
            let key = try JWKS.parse(Array("{\"keys\":[\(stored.publicJWK)]}".utf8)).keys.first
            guard let key else { throw StartupError("signing key \(kid) has an unusable public JWK") }
            next.published.append(Published(
                kid: kid, algorithm: algorithm, jwk: JSONOutput(parsed), verificationKey: key,
                createdAt: stored.createdAt, retiredAt: stored.retiredAt, publishedUntil: stored.publishedUntil))
            if stored.retiredAt == nil, next.active == nil {
                let pem = try await cipher.open(stored.sealedPrivateKey, context: Self.privateKeyContext)
                let header = JSONOutput.object([("alg", .string(algorithm.rawValue)), ("typ", "at+jwt"), ("kid", .string(kid))])
                next.active = (kid, try SigningKey.pem(Array(pem.utf8), algorithm: algorithm), Base64URL.encode(header.utf8()))
            }
        }
        state.withLock { $0 = next }
    }

    /// Reloads when the copy is older than `reloadInterval` (cheap to call on every request).
    func refreshIfStale() async {
        let loadedAt = state.withLock { $0.loadedAt }
        if Clock.nowMilliseconds() - loadedAt > Self.reloadInterval {
            try? await reload()
        }
    }

    /// A new active key; the previous one is retired but stays published until its tokens expire.
    /// `audit` writes the audit row in the same transaction.
    @discardableResult
    func rotate(audit: @escaping @Sendable (any SQLExecutor, _ kid: String) async throws -> Void = { _, _ in }) async throws -> String {
        let key = try SigningKey.generate(algorithm)
        let kid = "k-" + Hex.encode(try SecureRandom.bytes(8))
        let members = try key.publicJWKMembers().map { ($0.0, JSONOutput.string($0.1)) }
        let jwk = JSONOutput.object(members + [("kid", .string(kid)), ("use", "sig"), ("alg", .string(algorithm.rawValue))])
        let sealed = try cipher.seal(String(decoding: try key.privateKeyPEM(), as: UTF8.self), context: Self.privateKeyContext)
        let now = Clock.nowMilliseconds()
        try await database.transaction { [tokenLifetime, algorithm] executor in
            // One rotation at a time across replicas (SQLite's write transactions already are):
            // two at once on PostgreSQL would each retire only what they saw and leave two active keys.
            try await executor.takeTurn(.signingKeys)
            let lifetime = max(tokenLifetime, try await SettingsStore.maxTokenLifetime(on: executor))
            try await SigningKeyStore.retireActive(now: now, publishedUntil: now + lifetime + Self.retirementMargin, on: executor)
            try await SigningKeyStore.insert(
                SigningKeyRecord(
                    kid: kid, algorithm: algorithm.rawValue, sealedPrivateKey: sealed, publicJWK: jwk.serialized(), createdAt: now,
                    retiredAt: nil, publishedUntil: nil),
                on: executor)
            try await audit(executor, kid)
        }
        try await reload()
        return kid
    }

    var published: [Published] { state.withLock { $0.published } }

    /// `{"keys": [...]}`: the active key and every retired key still within its publication window.
    func jwksDocument() -> String {
        JSONOutput.object([("keys", .array(published.map(\.jwk)))]).serialized()
    }

    /// A compact JWS of `claims` signed by the active key, typed `at+jwt` (RFC 9068).
    func sign(_ claims: JSONOutput) throws -> String {
        guard let active = state.withLock({ $0.active }) else { throw StartupError("no active signing key") }
        let signingInput = active.encodedHeader + "." + Base64URL.encode(claims.utf8())
        let signature = try active.key.sign(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// Checks a token this service signed: signature by a published key, `iss`, `exp`/`nbf`/`iat`.
    /// An unknown `kid` reloads the ring once (another replica may have rotated).
    func verify(_ token: String) async -> Result<VerifiedToken, JWTFailure> {
        let result = verifyNow(token)
        if case let .failure(failure) = result, failure.reason == .unknownKey {
            try? await reload()
            return verifyNow(token)
        }
        return result
    }

    /// Our own tokens introspect inactive the second they expire (`signedHere` has no leeway after
    /// `exp`).
    private func verifyNow(_ token: String) -> Result<VerifiedToken, JWTFailure> {
        let keys = IssuerKeys(keys: published.map(\.verificationKey))
        let policy = IssuerPolicy.signedHere(issuer: issuer, algorithms: SigningKey.supported)
        return JWTVerifier.verify(
            token, issuers: [policy], now: Double(Clock.nowMilliseconds()) / 1000, signatures: SignatureVerifier(),
            keys: { _ in keys })
    }
}
