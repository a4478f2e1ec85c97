/// Envelope encryption for stored fields (spec/control.md: PII at rest under AES-256-GCM data keys
/// wrapped by the master key, with key ids so keys can rotate; lookups by a keyed blind index).
///
/// - A **data key** is 32 random bytes with an id (`dk-` + 16 hex digits). It is stored only wrapped:
///   sealed with the master key, the data key's id as AAD, so a wrapped key cannot be passed off as
///   another.
/// - A **field** is stored as `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`, sealed with its data
///   key and AAD = `<context>|<key id>` (context names the column, e.g. `users.email`), so a value
///   copied into another column or relabelled with another key id does not open.
/// - Rotation: `rotated()` adds a new current data key; values sealed under older keys still open,
///   and `needsRewrap` tells which ones to re-seal.
public struct FieldCipher: Sendable {
    public struct DataKey: Sendable, Hashable {
        public let id: String
        let bytes: [UInt8]
    }

    /// What storage keeps: the id and the sealed bytes.
    public struct WrappedKey: Sendable, Hashable {
        public let id: String
        public let sealed: AESGCM.Sealed

        public init(id: String, sealed: AESGCM.Sealed) {
            self.id = id
            self.sealed = sealed
        }
    }

    public let current: DataKey
    private let keys: [String: DataKey]

    public init(current: DataKey, older: [DataKey] = []) {
        self.current = current
        var keys = Dictionary(uniqueKeysWithValues: older.map { ($0.id, $0) })
        keys[current.id] = current
        self.keys = keys
    }

    public var keyIDs: [String] { keys.keys.sorted() }

    public static func newDataKey() throws(CryptoError) -> DataKey {
        DataKey(id: "dk-" + Hex.encode(try SecureRandom.bytes(8)), bytes: try SecureRandom.bytes(AESGCM.keyBytes))
    }

    /// A cipher whose current key is new; the old ones stay for reading.
    public func rotated() throws(CryptoError) -> FieldCipher {
        FieldCipher(current: try Self.newDataKey(), older: Array(keys.values))
    }

    // MARK: Wrapping under the master key

    public static func wrap(_ key: DataKey, masterKey: [UInt8]) throws(CryptoError) -> WrappedKey {
        WrappedKey(id: key.id, sealed: try AESGCM.seal(key.bytes, key: masterKey, aad: Array("tollgate data key|\(key.id)".utf8)))
    }

    public static func unwrap(_ wrapped: WrappedKey, masterKey: [UInt8]) throws(CryptoError) -> DataKey {
        let bytes = try AESGCM.open(wrapped.sealed, key: masterKey, aad: Array("tollgate data key|\(wrapped.id)".utf8))
        guard bytes.count == AESGCM.keyBytes else { throw CryptoError(.invalidKey, "a wrapped data key is not 32 bytes") }
        return DataKey(id: wrapped.id, bytes: bytes)
    }

    // MARK: Fields

    public func seal(_ plaintext: String, context: String) throws(CryptoError) -> String {
        let sealed = try AESGCM.seal(Array(plaintext.utf8), key: current.bytes, aad: Self.aad(context, current.id))
        return "v1.\(current.id).\(Base64URL.encode(sealed.nonce + sealed.ciphertext + sealed.tag))"
    }

    public func open(_ stored: String, context: String) throws(CryptoError) -> String {
        let (keyID, sealed) = try Self.parse(stored)
        guard let key = keys[keyID] else { throw CryptoError(.invalidKey, "unknown data key \(keyID)") }
        let bytes = try AESGCM.open(sealed, key: key.bytes, aad: Self.aad(context, keyID))
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CryptoError(.authenticationFailed, "the field is not UTF-8")
        }
        return text
    }

    /// True when `stored` was sealed under a key other than the current one.
    public func needsRewrap(_ stored: String) -> Bool {
        (try? Self.parse(stored).0) != current.id
    }

    private static func aad(_ context: String, _ keyID: String) -> [UInt8] {
        Array("\(context)|\(keyID)".utf8)
    }

    private static func parse(_ stored: String) throws(CryptoError) -> (String, AESGCM.Sealed) {
        let parts = stored.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", let raw = Base64URL.decode(parts[2]),
              raw.count >= AESGCM.nonceBytes + AESGCM.tagBytes
        else { throw CryptoError(.authenticationFailed, "not a sealed field") }
        let nonce = Array(raw.prefix(AESGCM.nonceBytes))
        let tag = Array(raw.suffix(AESGCM.tagBytes))
        let ciphertext = Array(raw[AESGCM.nonceBytes..<(raw.count - AESGCM.tagBytes)])
        return (String(parts[1]), AESGCM.Sealed(nonce: nonce, ciphertext: ciphertext, tag: tag))
    }
}

/// A keyed blind index: `HMAC-SHA256(index key, normalized value)`, hex. Equal inputs give equal
/// indexes (so an encrypted email can be looked up), but without the key the index reveals nothing
/// and cannot be brute-forced offline. The index key is derived from the master key, separate from
/// every data key.
public struct BlindIndex: Sendable {
    private let key: [UInt8]

    public init(masterKey: [UInt8]) {
        key = HMAC.authenticationCode(.sha256, key: masterKey, message: Array("tollgate blind index v1".utf8))
    }

    /// `context` keeps indexes of different columns apart; values are compared as given, so
    /// callers normalize first (e.g. lower-cased, trimmed email).
    public func index(_ value: String, context: String) -> String {
        Hex.encode(HMAC.authenticationCode(.sha256, key: key, message: Array("\(context)|\(value)".utf8)))
    }
}
