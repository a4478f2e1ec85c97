import Core
import Foundation
import Testing

@Suite("Signing keys, JSON output, base64url")
struct SigningKeyTests {
    @Test("ES256 and RS256 keys sign what their public JWK verifies; PEM round-trips; JOSE signature sizes", arguments: SigningKey.supported)
    func signAndVerify(algorithm: JWTAlgorithm) throws {
        let key = try SigningKey.generate(algorithm)
        let reloaded = try SigningKey.pem(try key.privateKeyPEM(), algorithm: algorithm)
        let members = try key.publicJWKMembers()
        #expect(try reloaded.publicJWKMembers().map(\.1) == members.map(\.1))
        let jwk = "{\"keys\":[{" + (members + [("kid", "k1")]).map { "\"\($0.0)\":\"\($0.1)\"" }.joined(separator: ",") + "}]}"
        let verification = try #require(try JWKS.parse(Array(jwk.utf8)).keys.first)
        let message = Array("header.payload".utf8)
        let verifier = SignatureVerifier()
        for signer in [key, reloaded] {
            let signature = try signer.sign(message)
            #expect(signature.count == (algorithm == .es256 ? 64 : 256))
            #expect(verifier.verify(algorithm, key: verification, signingInput: message, signature: signature))
            #expect(!verifier.verify(algorithm, key: verification, signingInput: message + [0x2E], signature: signature))
        }
        #expect(throws: CryptoError.self) { try SigningKey.pem(try key.privateKeyPEM(), algorithm: algorithm == .es256 ? .rs256 : .es256) }
        #expect(throws: CryptoError.self) { try SigningKey.generate(.hs256) }
    }

    @Test("JSON output escapes what JSON needs and nothing else; both parsers read it back")
    func jsonEscaping() throws {
        let tricky = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} é 😀 \u{2028} </script>"
        let document = JSONOutput.object([("s", .string(tricky)), ("n", .int(-42)), ("d", .double(1.5)), ("whole", .double(3)),
                                          ("list", [true, nil, "x"]), ("raw", .raw("{\"a\":1}"))])
        let text = document.serialized()
        #expect(text.contains("\\u0000") && text.contains("\\u0007") && text.contains("\\n") && text.contains("\"whole\":3,"))
        let ours = try JSONValue.parse(Array(text.utf8))
        #expect(ours["s"]?.stringValue == tricky)
        let foundation = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(foundation["s"] as? String == tricky)
        #expect((foundation["raw"] as? [String: Any])?["a"] as? Int == 1)
        #expect(text.hasPrefix("{\"s\":"), "members keep their order")
    }

    @Test("base64url of an array equals the generic path for every length")
    func base64Paths() throws {
        for length in 0..<70 {
            let bytes = try SecureRandom.bytes(length)
            let viaArray = Base64URL.encode(bytes)
            #expect(viaArray == Base64URL.encode(bytes[...]))
            #expect(Base64URL.decode(viaArray) == bytes)
        }
    }
}
