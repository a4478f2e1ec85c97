import Foundation
import Testing

@testable import Core

@Suite("OpenSSL digests, HMAC, random and comparison")
struct CryptoTests {
    @Test("SHA-2 matches the FIPS 180-4 example vectors")
    func digests() {
        #expect(Hex.encode(Digest.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(Digest.sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Hex.encode(Digest.hash(.sha384, Array("abc".utf8)))
            == "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
        #expect(Hex.encode(Digest.hash(.sha512, Array("abc".utf8)))
            == "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    }

    @Test("incremental SHA-256 equals the one-shot digest")
    func incremental() {
        var hasher = SHA256Hasher()
        hasher.update("ab")
        hasher.update([UInt8]())
        hasher.update("c")
        #expect(hasher.finalize() == Digest.sha256("abc"))
    }

    @Test("HMAC matches RFC 4231 test cases 1 and 2")
    func hmac() {
        let key1 = [UInt8](repeating: 0x0b, count: 20), data1 = Array("Hi There".utf8)
        #expect(Hex.encode(HMAC.authenticationCode(.sha256, key: key1, message: data1))
            == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(Hex.encode(HMAC.authenticationCode(.sha384, key: key1, message: data1))
            == "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6")
        #expect(Hex.encode(HMAC.authenticationCode(.sha512, key: key1, message: data1))
            == "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854")
        let key2 = Array("Jefe".utf8), data2 = Array("what do ya want for nothing?".utf8)
        #expect(Hex.encode(HMAC.authenticationCode(.sha256, key: key2, message: data2))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("HMAC with an empty key and an empty message is defined")
    func hmacEmpty() {
        #expect(Hex.encode(HMAC.authenticationCode(.sha256, key: [UInt8](), message: [UInt8]()))
            == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test("MAC verification accepts the right MAC and rejects a changed or truncated one")
    func macVerification() {
        let key = Array("secret".utf8), message = Array("payload".utf8)
        var mac = HMAC.authenticationCode(.sha256, key: key, message: message)
        #expect(HMAC.isValid(mac, for: message, key: key, algorithm: .sha256))
        #expect(!HMAC.isValid(Array(mac.dropLast()), for: message, key: key, algorithm: .sha256))
        mac[31] ^= 1
        #expect(!HMAC.isValid(mac, for: message, key: key, algorithm: .sha256))
    }

    @Test("constant-time comparison")
    func constantTime() {
        #expect(constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(!constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
        #expect(!constantTimeEquals([1, 2, 3] as [UInt8], [1, 2] as [UInt8]))
        #expect(constantTimeEquals([UInt8](), [UInt8]()))
    }

    @Test("secure random bytes have the asked length and differ between calls")
    func random() throws {
        let a = try SecureRandom.bytes(32), b = try SecureRandom.bytes(32)
        #expect(a.count == 32 && b.count == 32)
        #expect(a != b)
        #expect(try SecureRandom.bytes(0).isEmpty)
    }

    @Test("hex round-trips and refuses malformed input")
    func hex() {
        #expect(Hex.encode([0x00, 0xAB, 0xFF]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xAB, 0xFF])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }

    @Test("base64url matches RFC 4648 vectors and has one spelling per value")
    func base64url() {
        let vectors: [(String, String)] = [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("Zg==") == nil, "padding is refused")
        #expect(Base64URL.decode("Zh") == nil, "non-zero leftover bits are refused")
        #expect(Base64URL.decode("Z") == nil)
        #expect(Base64URL.decode("+/8") == nil, "the standard alphabet is refused")
        #expect(Base64URL.decode("Zm9v YmFy") == nil)
    }

    @Test("PEM inspection tells key kinds apart and spots private keys")
    func pemInspection() throws {
        #expect(PublicKeyPEM.inspect(try Fixtures.key("rsa2048.pem")) == .publicKey(.rsa(bits: 2048)))
        #expect(PublicKeyPEM.inspect(try Fixtures.key("p256.pem")) == .publicKey(.ec(curve: "P-256")))
        #expect(PublicKeyPEM.inspect(try Fixtures.key("p384.pem")) == .publicKey(.ec(curve: "P-384")))
        #expect(PublicKeyPEM.inspect(try Fixtures.key("ed25519.pem")) == .publicKey(.ed25519))
        #expect(PublicKeyPEM.inspect(try Fixtures.key("p256-private.pem")) == .privateKey)
        #expect(PublicKeyPEM.inspect(try Fixtures.key("not-a-key.pem")) == .notAPublicKey)
        #expect(PublicKeyPEM.inspect([]) == .notAPublicKey)
    }
}
