import Core

/// A data key as stored: wrapped under the master key; one is current (it seals new values).
struct DataKeyRecord: Sendable {
    let key: FieldCipher.WrappedKey
    let isCurrent: Bool
}

extension DataKeyRecord: SQLRowDecodable {
    /// The select list `init(row:)` reads, in its order.
    static let columns = "id, sealed, is_current"

    init(row: some SQLRowReader) throws {
        self.init(
            key: FieldCipher.WrappedKey(id: try row.column(0), sealed: try SealedBytes.unpack(try row.column(1))),
            isCurrent: try row.column(2))
    }
}

/// The `data_keys` table. Callers that change it hold `ReplicaLock.dataKeys` first.
enum DataKeyStore {
    /// Every key, oldest first.
    static func all(on executor: any SQLExecutor) async throws -> [DataKeyRecord] {
        try await executor.query("SELECT \(raw: DataKeyRecord.columns) FROM data_keys ORDER BY created_at", as: DataKeyRecord.self)
    }

    /// Adds `key` as the current key (the caller clears the previous one's flag in the same transaction).
    static func insertCurrent(_ key: FieldCipher.WrappedKey, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute("""
            INSERT INTO data_keys (id, sealed, created_at, is_current) VALUES (\(bind: key.id), \(bind: SealedBytes.pack(key.sealed)), \(bind: now), 1)
            """)
    }

    static func clearCurrent(on executor: any SQLExecutor) async throws {
        try await executor.execute("UPDATE data_keys SET is_current = 0")
    }

    /// Stores `key` wrapped anew (under another master key); its id is unchanged.
    static func replaceWrapping(_ key: FieldCipher.WrappedKey, on executor: any SQLExecutor) async throws {
        try await executor.execute("UPDATE data_keys SET sealed = \(bind: SealedBytes.pack(key.sealed)) WHERE id = \(bind: key.id)")
    }
}

/// How an AES-GCM sealed value is kept in a BLOB/BYTEA column: nonce, ciphertext, tag.
enum SealedBytes {
    static func pack(_ sealed: AESGCM.Sealed) -> [UInt8] {
        sealed.nonce + sealed.ciphertext + sealed.tag
    }

    static func unpack(_ bytes: [UInt8]) throws -> AESGCM.Sealed {
        guard bytes.count > AESGCM.nonceBytes + AESGCM.tagBytes else { throw DatabaseError.column("sealed", "a sealed value") }
        return AESGCM.Sealed(
            nonce: Array(bytes.prefix(AESGCM.nonceBytes)),
            ciphertext: Array(bytes[AESGCM.nonceBytes..<(bytes.count - AESGCM.tagBytes)]),
            tag: Array(bytes.suffix(AESGCM.tagBytes)))
    }
}
