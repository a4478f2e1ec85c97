import Core

/// The data keys that seal stored fields, loaded from `data_keys` and unwrapped with the master
/// key. The first start creates one; `rotate` adds a new current key (older ones still open what
/// they sealed).
enum DataKeys {
    static func load(_ database: any Database, masterKey: MasterKey) async throws -> FieldCipher {
        let rows = try await database.transaction { transaction -> [SQLRow] in
            if transaction.engine == .postgres {
                try await transaction.execute("SELECT pg_advisory_xact_lock(72532)")
            }
            let rows = try await transaction.query("SELECT id, sealed, is_current FROM data_keys ORDER BY created_at", [])
            guard rows.isEmpty else { return rows }
            let key = try FieldCipher.newDataKey()
            let wrapped = try FieldCipher.wrap(key, masterKey: masterKey.bytes)
            try await transaction.execute(
                "INSERT INTO data_keys (id, sealed, created_at, is_current) VALUES (?, ?, ?, 1)",
                [.text(wrapped.id), .blob(wrapped.sealed.nonce + wrapped.sealed.ciphertext + wrapped.sealed.tag),
                 .int(Clock.nowMilliseconds())])
            return try await transaction.query("SELECT id, sealed, is_current FROM data_keys", [])
        }
        var current: FieldCipher.DataKey?
        var older: [FieldCipher.DataKey] = []
        for row in rows {
            let sealed = try row.blob("sealed")
            guard sealed.count > AESGCM.nonceBytes + AESGCM.tagBytes else { throw DatabaseError.column("data_keys.sealed", "a sealed key") }
            let wrapped = FieldCipher.WrappedKey(
                id: try row.string("id"),
                sealed: AESGCM.Sealed(
                    nonce: Array(sealed.prefix(AESGCM.nonceBytes)),
                    ciphertext: Array(sealed[AESGCM.nonceBytes..<(sealed.count - AESGCM.tagBytes)]),
                    tag: Array(sealed.suffix(AESGCM.tagBytes))))
            let key: FieldCipher.DataKey
            do {
                key = try FieldCipher.unwrap(wrapped, masterKey: masterKey.bytes)
            } catch {
                throw StartupError("data key \(wrapped.id) does not open with this master key: is --master-key-file the one this database was created with?")
            }
            if try row.bool("is_current") { current = key } else { older.append(key) }
        }
        guard let current else { throw StartupError("data_keys has no current key") }
        return FieldCipher(current: current, older: older)
    }
}

/// A start-up problem explained in one line (exit status 1).
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
