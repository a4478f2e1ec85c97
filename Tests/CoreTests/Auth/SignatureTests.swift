import Core
import Foundation
import TestSupport
import Testing

@Suite("Signature verification")
struct SignatureTests {
    static let jwks = try! JWKS.parse([UInt8](Data(contentsOf: JWTConformance.policyDirectory.appendingPathComponent("keys/ec-jwks.json"))))

    /// The signing input and signature of a fixture case's token.
    static func parts(_ name: String) throws -> (input: [UInt8], signature: [UInt8]) {
        let testCase = try #require(JWTConformance.cases.first { $0.name == name })
        let token = try #require(testCase.bearerToken)
        let dot = try #require(token.lastIndex(of: "."))
        return (Array(token[..<dot].utf8), try #require(Base64URL.decode(token[token.index(after: dot)...])))
    }

    @Test("one verifier reuses its contexts: the same key verifies many times, and a bad signature between good ones fails")
    func reuse() throws {
        let (input, signature) = try Self.parts("es256-valid-on-ec")
        let key = try #require(Self.jwks.keys.first { $0.keyID == "p256" })
        let verifier = SignatureVerifier()
        var tampered = signature
        tampered[10] ^= 1
        for _ in 0..<3 {
            #expect(verifier.verify(.es256, key: key, signingInput: input, signature: signature))
            #expect(!verifier.verify(.es256, key: key, signingInput: input, signature: tampered))
            #expect(!verifier.verify(.es256, key: key, signingInput: input + [0x41], signature: signature))
        }
    }

    @Test("a key never verifies an algorithm of another kind or curve")
    func keyFits() throws {
        let p256 = try #require(Self.jwks.keys.first { $0.keyID == "p256" })
        #expect(p256.fits(.es256))
        #expect(!p256.fits(.es384) && !p256.fits(.hs256) && !p256.fits(.rs256) && !p256.fits(.edDSA))
        let secret = VerificationKey(hmacSecret: Array(repeating: 7, count: 32))
        #expect(secret.fits(.hs256) && !secret.fits(.rs256) && !secret.fits(.es256))
        let (input, signature) = try Self.parts("es256-valid-on-ec")
        #expect(!SignatureVerifier().verify(.es384, key: p256, signingInput: input, signature: signature))
    }

    @Test("JWK import refuses what is not a usable public key")
    func jwkImport() throws {
        let parsed = try JWKS.parse(Array(#"""
            {"keys": [
              {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "short"},
              {"kty": "EC", "crv": "P-256", "kid": "off-curve",
               "x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "y": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
              {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "tiny"},
              {"kty": "oct", "k": "c2VjcmV0", "kid": "secret"},
              {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "kid": "enc"},
              {"kty": "OKP", "crv": "X25519", "x": "AAAA", "kid": "x25519"}
            ]}
            """#.utf8))
        #expect(parsed.keys.isEmpty)
        #expect(parsed.skipped.count == 6, "\(parsed.skipped)")
        #expect(throws: JWKS.Failure.self) { try JWKS.parse(Array("[]".utf8)) }
    }

    @Test("secret_env: unset or shorter than 32 bytes is a start-up error")
    func secrets() throws {
        let snapshot = try PolicyLoader.load(directory: JWTConformance.policyDirectory.path)
        let issuer = try #require(snapshot.issuers["hmac"])
        #expect(throws: IssuerKeys.LoadFailure.self) { try IssuerKeys.load(issuer, environment: [:]) }
        #expect(throws: IssuerKeys.LoadFailure.self) {
            try IssuerKeys.load(issuer, environment: ["TOLLGATE_CONFORMANCE_SECRET": "short"])
        }
        #expect(try IssuerKeys.load(issuer, environment: JWTConformance.environment)?.keys.count == 1)
    }

    @Test("clock skew: exp up to skew in the past passes, beyond it fails; nbf likewise in the future")
    func skew() throws {
        let snapshot = try PolicyLoader.load(directory: JWTConformance.policyDirectory.path)
        let issuer = try #require(snapshot.issuers["hmac"])
        let keys = try #require(try IssuerKeys.load(issuer, environment: JWTConformance.environment))
        let secret = Array(JWTConformance.environment["TOLLGATE_CONFORMANCE_SECRET"]!.utf8)
        func token(_ claims: String) -> String {
            let input = Base64URL.encode(Array(#"{"alg":"HS256"}"#.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
            return input + "." + Base64URL.encode(HMAC.authenticationCode(.sha256, key: secret, message: Array(input.utf8)))
        }
        func verify(_ claims: String, now: Double) -> JWTFailure.Reason? {
            switch JWTVerifier.verify(token(claims), issuers: [issuer], now: now, signatures: SignatureVerifier(), keys: { _ in keys }) {
            case .success: nil
            case let .failure(failure): failure.reason
            }
        }
        let base = #""iss":"https://hmac.test","aud":"conformance""#
        #expect(verify("{\(base),\"exp\":1000}", now: 1029) == nil)
        #expect(verify("{\(base),\"exp\":1000}", now: 1031) == .expired)
        #expect(verify("{\(base),\"exp\":1000}", now: 1030) == .expired, "valid only before exp + skew")
        // The control plane's own tokens: no leeway after exp, the skew still for nbf.
        let own = IssuerPolicy.signedHere(issuer: "https://hmac.test", algorithms: [.hs256])
        func verifyOwn(_ claims: String, now: Double) -> JWTFailure.Reason? {
            switch JWTVerifier.verify(token(claims), issuers: [own], now: now, signatures: SignatureVerifier(), keys: { _ in keys }) {
            case .success: nil
            case let .failure(failure): failure.reason
            }
        }
        #expect(verifyOwn("{\"iss\":\"https://hmac.test\",\"exp\":1000}", now: 999.5) == nil)
        #expect(verifyOwn("{\"iss\":\"https://hmac.test\",\"exp\":1000}", now: 1000) == .expired)
        #expect(verifyOwn("{\"iss\":\"https://hmac.test\",\"exp\":5000,\"nbf\":1029}", now: 1000) == nil)
        #expect(verify("{\(base),\"exp\":5000,\"nbf\":1029}", now: 1000) == nil)
        #expect(verify("{\(base),\"exp\":5000,\"nbf\":1031}", now: 1000) == .notYetValid)
        #expect(verify("{\(base),\"exp\":5000,\"iat\":1031}", now: 1000) == .issuedInFuture)
        #expect(verify("{\(base)}", now: 1000) == .missingExpiry)
        #expect(verify("{\(base),\"exp\":5000,\"sub\":7}", now: 1000) == .malformed)
    }
}
