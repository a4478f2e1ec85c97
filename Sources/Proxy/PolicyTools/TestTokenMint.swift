import Core

/// Signs the test tokens of policy test files. Each issuer a test token names gets a key made for
/// the run (ES256 or RS256 when the issuer allows one, else an HMAC secret for HS256/384/512), and the
/// runner installs that key as the issuer's only key. The token then goes through the sidecar's real
/// verifier: the signature is the runner's own (a test tests the policy, not the issuer's keys), and
/// every other check applies: allowed algorithm, `iss`, `exp`/`nbf`/`iat` on the runner's clock,
/// `aud`, scopes and claims.
struct TestTokenMint {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private struct Signer {
        let algorithm: JWTAlgorithm
        let keys: IssuerKeys
        let sign: ([UInt8]) throws -> [UInt8]
    }

    /// When a token leaves `exp` out: ten years after time 0, so no `repeat` outlives it by accident.
    static let defaultExpiry: Double = 10 * 365 * 86_400

    private var signers: [String: Signer] = [:]

    /// The keys to install, by issuer name.
    var keys: [String: IssuerKeys] { signers.mapValues(\.keys) }

    /// Makes a signer for `issuer` unless there is one.
    mutating func prepare(_ issuer: IssuerPolicy) throws {
        guard signers[issuer.name] == nil else { return }
        signers[issuer.name] = try Self.signer(for: issuer)
    }

    private static func signer(for issuer: IssuerPolicy) throws -> Signer {
        for algorithm in [JWTAlgorithm.es256, .rs256] where issuer.algorithms.contains(algorithm) {
            let key = try SigningKey.generate(algorithm)
            let members = try key.publicJWKMembers().map { ($0.0, JSONOutput.string($0.1)) }
            let document = JSONOutput.object([("keys", .array([.object(members)]))]).utf8()
            return Signer(algorithm: algorithm, keys: IssuerKeys(keys: try JWKS.parse(document).keys), sign: { try key.sign($0) })
        }
        let hmac: [(JWTAlgorithm, DigestAlgorithm)] = [(.hs256, .sha256), (.hs384, .sha384), (.hs512, .sha512)]
        if let (algorithm, digest) = hmac.first(where: { issuer.algorithms.contains($0.0) }) {
            let secret = try SecureRandom.bytes(32)
            return Signer(
                algorithm: algorithm, keys: IssuerKeys(keys: [VerificationKey(hmacSecret: secret)]),
                sign: { HMAC.authenticationCode(digest, key: secret, message: $0) })
        }
        let allowed = issuer.algorithms.map(\.rawValue).joined(separator: ", ")
        throw Failure(description: "issuer \(issuer.name) accepts only \(allowed); test tokens are signed with ES256, RS256 or HS256/384/512")
    }

    /// The compact JWS of a test token, with `iss`, `exp` and `aud` filled in when the file leaves them out.
    func token(_ token: PolicyTestFile.Token) throws -> String {
        guard let signer = signers[token.issuer.name] else {
            throw Failure(description: "no key was prepared for issuer \(token.issuer.name)")
        }
        var claims = token.claims
        if claims["iss"] == nil { claims["iss"] = .string(token.issuer.issuer) }
        if claims["exp"] == nil { claims["exp"] = .number(String(Int(Self.defaultExpiry)), Self.defaultExpiry) }
        if claims["aud"] == nil, let audience = token.issuer.audiences.first { claims["aud"] = .string(audience) }
        let header = JSONOutput.object([("alg", .string(signer.algorithm.rawValue)), ("typ", "JWT")]).utf8()
        let signingInput = Base64URL.encode(header) + "." + Base64URL.encode(JSONOutput(JSONValue.object(claims)).utf8())
        return signingInput + "." + Base64URL.encode(try signer.sign(Array(signingInput.utf8)))
    }
}
