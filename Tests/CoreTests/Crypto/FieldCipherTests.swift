import Core
import Testing

@Suite("Field encryption, key wrapping and blind indexes")
struct FieldCipherTests {
    let master = [UInt8](repeating: 0x42, count: 32)

    @Test("a field round-trips; the stored form carries the key id and not the plaintext")
    func roundTrip() throws {
        let cipher = FieldCipher(current: try FieldCipher.newDataKey())
        let stored = try cipher.seal("alice@example.com", context: "users.email")
        #expect(stored.hasPrefix("v1.\(cipher.current.id)."))
        #expect(!stored.contains("alice") && !stored.contains("example"))
        #expect(try cipher.open(stored, context: "users.email") == "alice@example.com")
        #expect(try cipher.seal("alice@example.com", context: "users.email") != stored, "a fresh nonce each time")
    }

    @Test("another column, another key id, a tampered byte or garbage does not open")
    func refusals() throws {
        let cipher = FieldCipher(current: try FieldCipher.newDataKey())
        let other = FieldCipher(current: try FieldCipher.newDataKey())
        let stored = try cipher.seal("alice", context: "users.email")
        #expect(throws: CryptoError.self) { try cipher.open(stored, context: "users.display_name") }
        #expect(throws: CryptoError.self) { try other.open(stored, context: "users.email") }
        let relabelled = stored.replacingOccurrences(of: cipher.current.id, with: other.current.id)
        let both = FieldCipher(current: other.current, older: [cipher.current])
        #expect(throws: CryptoError.self) { try both.open(relabelled, context: "users.email") }
        var bytes = Array(stored.utf8)
        bytes[bytes.count - 3] = bytes[bytes.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: CryptoError.self) { try cipher.open(String(decoding: bytes, as: UTF8.self), context: "users.email") }
        for garbage in ["", "v1", "v1.x", "v2.\(cipher.current.id).AAAA", "v1.\(cipher.current.id).***"] {
            #expect(throws: CryptoError.self) { try cipher.open(garbage, context: "users.email") }
        }
    }

    @Test("rotation: old values still open, new ones use the new key, and needsRewrap says which")
    func rotation() throws {
        let first = FieldCipher(current: try FieldCipher.newDataKey())
        let old = try first.seal("bob", context: "users.email")
        let second = try first.rotated()
        #expect(second.current.id != first.current.id)
        #expect(second.keyIDs.count == 2)
        #expect(try second.open(old, context: "users.email") == "bob")
        #expect(second.needsRewrap(old))
        let new = try second.seal("bob", context: "users.email")
        #expect(!second.needsRewrap(new))
        #expect(throws: CryptoError.self) { try first.open(new, context: "users.email") }
    }

    @Test("data keys wrap under the master key and unwrap only with it, under their own id")
    func wrapping() throws {
        let key = try FieldCipher.newDataKey()
        let wrapped = try FieldCipher.wrap(key, masterKey: master)
        #expect(try FieldCipher.unwrap(wrapped, masterKey: master) == key)
        var otherMaster = master
        otherMaster[0] ^= 1
        #expect(throws: CryptoError.self) { try FieldCipher.unwrap(wrapped, masterKey: otherMaster) }
        let relabelled = FieldCipher.WrappedKey(id: "dk-0000000000000000", sealed: wrapped.sealed)
        #expect(throws: CryptoError.self) { try FieldCipher.unwrap(relabelled, masterKey: master) }
    }

    @Test("blind index: deterministic per key and column, different across keys and columns")
    func blindIndex() {
        let index = BlindIndex(masterKey: master)
        var otherMaster = master
        otherMaster[31] ^= 1
        let a = index.index("alice@example.com", context: "users.email")
        #expect(a.count == 64)
        #expect(a == BlindIndex(masterKey: master).index("alice@example.com", context: "users.email"))
        #expect(a != BlindIndex(masterKey: otherMaster).index("alice@example.com", context: "users.email"))
        #expect(a != index.index("alice@example.com", context: "clients.contact"))
        #expect(a != index.index("bob@example.com", context: "users.email"))
    }
}
