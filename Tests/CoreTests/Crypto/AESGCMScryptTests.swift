import Core
import Foundation
import Testing

/// AES-256-GCM and scrypt against vectors made by pyca/cryptography and hashlib
/// (Tests/Fixtures/generate_crypto_vectors.py).
@Suite("AES-256-GCM and scrypt")
struct AESGCMScryptTests {
    static var vectors: [String: Any] {
        let url = Fixtures.root.appendingPathComponent("crypto-vectors.json")
        return (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any] ?? [:]
    }

    static func bytes(_ entry: [String: Any], _ name: String) -> [UInt8] {
        Hex.decode(entry[name] as? String ?? "") ?? []
    }

    static var aes: [[String: Any]] { vectors["aes256gcm"] as? [[String: Any]] ?? [] }
    static var scrypt: [[String: Any]] { vectors["scrypt"] as? [[String: Any]] ?? [] }

    @Test("the independent vectors open, and sealing with their nonce gives their bytes")
    func aesVectors() throws {
        #expect(Self.aes.count == 4)
        for entry in Self.aes {
            let key = Self.bytes(entry, "key"), aad = Self.bytes(entry, "aad")
            let sealed = AESGCM.Sealed(nonce: Self.bytes(entry, "nonce"), ciphertext: Self.bytes(entry, "ciphertext"), tag: Self.bytes(entry, "tag"))
            #expect(try AESGCM.open(sealed, key: key, aad: aad) == Self.bytes(entry, "plaintext"))
            #expect(try AESGCM.seal(Self.bytes(entry, "plaintext"), key: key, aad: aad, nonce: sealed.nonce) == sealed)
        }
    }

    @Test("a wrong key, tampered byte, other AAD or truncated tag does not open")
    func aesRefusals() throws {
        let entry = try #require(Self.aes.dropFirst().first)
        let key = Self.bytes(entry, "key"), aad = Self.bytes(entry, "aad")
        let sealed = AESGCM.Sealed(nonce: Self.bytes(entry, "nonce"), ciphertext: Self.bytes(entry, "ciphertext"), tag: Self.bytes(entry, "tag"))
        var otherKey = key
        otherKey[0] ^= 1
        var tampered = sealed.ciphertext
        tampered[0] ^= 1
        #expect(throws: CryptoError.self) { try AESGCM.open(sealed, key: otherKey, aad: aad) }
        #expect(throws: CryptoError.self) {
            try AESGCM.open(AESGCM.Sealed(nonce: sealed.nonce, ciphertext: tampered, tag: sealed.tag), key: key, aad: aad)
        }
        #expect(throws: CryptoError.self) { try AESGCM.open(sealed, key: key, aad: Array("other".utf8)) }
        #expect(throws: CryptoError.self) {
            try AESGCM.open(AESGCM.Sealed(nonce: sealed.nonce, ciphertext: sealed.ciphertext, tag: Array(sealed.tag.prefix(12))), key: key, aad: aad)
        }
        #expect(throws: CryptoError.self) { try AESGCM.seal([1], key: Array(key.prefix(16))) }
    }

    @Test("fresh nonces: sealing the same value twice gives different bytes that both open")
    func freshNonces() throws {
        let key = [UInt8](repeating: 7, count: 32)
        let a = try AESGCM.seal(Array("same".utf8), key: key)
        let b = try AESGCM.seal(Array("same".utf8), key: key)
        #expect(a.nonce != b.nonce && a.ciphertext != b.ciphertext)
        #expect(try AESGCM.open(a, key: key) == Array("same".utf8))
    }

    @Test("scrypt derives what hashlib derives, OWASP parameters included")
    func scryptVectors() throws {
        #expect(Self.scrypt.count == 4)
        for entry in Self.scrypt {
            let parameters = Scrypt.Parameters(logN: entry["ln"] as? Int ?? 0, r: entry["r"] as? Int ?? 0, p: entry["p"] as? Int ?? 0)
            let derived = try Scrypt.derive(password: Self.bytes(entry, "password"), salt: Self.bytes(entry, "salt"), parameters: parameters)
            #expect(derived == Self.bytes(entry, "derived"), "ln=\(parameters.logN)")
        }
    }

    @Test("PHC strings: a hash verifies its password only; malformed strings are false, never a crash")
    func phc() throws {
        let fast = Scrypt.Parameters(logN: 10, r: 8, p: 1)
        let encoded = try Scrypt.hash("s3cret pässword", parameters: fast)
        #expect(encoded.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
        #expect(Scrypt.verify("s3cret pässword", encoded: encoded))
        #expect(!Scrypt.verify("s3cret password", encoded: encoded))
        #expect(try Scrypt.hash("x", parameters: fast) != Scrypt.hash("x", parameters: fast), "salted")
        for bad in ["", "$scrypt$", "$scrypt$ln=10,r=8$AAAA$AAAA", "$bcrypt$ln=10,r=8,p=1$AAAA$AAAA",
                    "$scrypt$ln=99,r=8,p=1$AAAA$AAAA", "$scrypt$ln=10,r=8,p=1$***$AAAA", "$scrypt$ln=10,r=8,p=1$AAAA$"] {
            #expect(!Scrypt.verify("x", encoded: bad), "\(bad)")
        }
    }
}
