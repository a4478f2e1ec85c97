import Core
import Synchronization

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
                [.text(wrapped.id), .blob(pack(wrapped.sealed)), .int(Clock.nowMilliseconds())])
            return try await transaction.query("SELECT id, sealed, is_current FROM data_keys", [])
        }
        var current: FieldCipher.DataKey?
        var older: [FieldCipher.DataKey] = []
        for row in rows {
            let wrapped = FieldCipher.WrappedKey(id: try row.string("id"), sealed: try unpack(try row.blob("sealed")))
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

/// The data keys a running service seals and opens fields with. A field sealed under a key this
/// copy does not know (another process rotated) reloads the keys once, so `keys rotate-data-key`
/// needs no restart.
final class DataKeyRing: Sendable {
    private let state: Mutex<FieldCipher>
    private let database: any Database
    private let masterKey: MasterKey

    init(_ cipher: FieldCipher, database: any Database, masterKey: MasterKey) {
        state = Mutex(cipher)
        self.database = database
        self.masterKey = masterKey
    }

    var cipher: FieldCipher { state.withLock { $0 } }

    func seal(_ plaintext: String, context: String) throws -> String {
        try cipher.seal(plaintext, context: context)
    }

    func open(_ stored: String, context: String) async throws -> String {
        let known = cipher
        let keyID = stored.split(separator: ".", maxSplits: 2).dropFirst().first.map(String.init) ?? ""
        if known.keyIDs.contains(keyID) { return try known.open(stored, context: context) }
        let reloaded = try await DataKeys.load(database, masterKey: masterKey)
        state.withLock { $0 = reloaded }
        return try reloaded.open(stored, context: context)
    }
}

extension DataKeys {
    /// The sealed columns: `(table, key column, sealed column)`; the context is `table.column`.
    static let sealedColumns = [
        ("users", "id", "email"), ("users", "id", "display_name"), ("users", "id", "attributes"),
        ("signing_keys", "kid", "private_key"),
    ]

    /// Makes a new data key current and re-seals every stored field under it, in one transaction.
    /// Older keys stay (wrapped) so a value read by a process that has not reloaded still opens.
    /// `audit` writes the audit row in the same transaction.
    static func rotate(
        _ database: any Database, masterKey: MasterKey,
        audit: @escaping @Sendable (any SQLExecutor, _ keyID: String, _ resealed: Int) async throws -> Void = { _, _, _ in }
    ) async throws -> (keyID: String, resealed: Int) {
        let current = try await load(database, masterKey: masterKey)
        let rotated = try current.rotated()
        let wrapped = try FieldCipher.wrap(rotated.current, masterKey: masterKey.bytes)
        return try await database.transaction { executor in
            if executor.engine == .postgres {
                try await executor.execute("SELECT pg_advisory_xact_lock(72532)")
            }
            try await executor.execute("UPDATE data_keys SET is_current = 0")
            try await executor.execute(
                "INSERT INTO data_keys (id, sealed, created_at, is_current) VALUES (?, ?, ?, 1)",
                [.text(wrapped.id), .blob(pack(wrapped.sealed)), .int(Clock.nowMilliseconds())])
            var resealed = 0
            for (table, key, column) in sealedColumns {
                let context = "\(table).\(column)"
                for row in try await executor.query("SELECT \(key) AS k, \(column) AS v FROM \(table) WHERE \(column) IS NOT NULL", []) {
                    let value = try row.string("v")
                    guard rotated.needsRewrap(value) else { continue }
                    let fresh = try rotated.seal(try rotated.open(value, context: context), context: context)
                    try await executor.execute("UPDATE \(table) SET \(column) = ? WHERE \(key) = ?", [.text(fresh), .text(try row.string("k"))])
                    resealed += 1
                }
            }
            try await audit(executor, wrapped.id, resealed)
            return (wrapped.id, resealed)
        }
    }
}

extension DataKeys {
    private static let rootName = "derivation_root"
    private static let rootAAD = Array("tollgate derivation root".utf8)

    /// `masterKey` with the derivation root this database uses: the one a `keys rewrap` stored, or
    /// the master key itself when it never was re-wrapped.
    static func withDerivationRoot(_ masterKey: MasterKey, database: any SQLExecutor) async throws -> MasterKey {
        guard let row = try await database.first("SELECT sealed FROM master_secrets WHERE name = ?", [.text(rootName)]) else {
            return masterKey
        }
        do {
            return MasterKey(bytes: masterKey.bytes, derivationRoot: try AESGCM.open(try unpack(try row.blob("sealed")), key: masterKey.bytes, aad: rootAAD))
        } catch {
            throw StartupError("the stored derivation root does not open with this master key: is --master-key-file the one the last `keys rewrap` wrote?")
        }
    }

    enum RewrapResult: Equatable {
        case rewrapped(Int)
        /// Everything already opens with the new key: an earlier run finished.
        case alreadyDone
    }

    /// Re-wraps every data key (and the derivation root) under `newKey`, in one transaction: a
    /// crash leaves either the old wrapping or the new, never a mix. Nothing sealed with a data key
    /// changes, and neither do blind indexes or secret hashes: the old derivation root is kept,
    /// wrapped under the new key.
    /// `audit` writes the audit row in the same transaction (only when something was re-wrapped).
    static func rewrap(
        _ database: any Database, from oldKey: MasterKey, to newKey: MasterKey,
        audit: @escaping @Sendable (any SQLExecutor, _ count: Int) async throws -> Void = { _, _ in }
    ) async throws -> RewrapResult {
        try await database.transaction { executor in
            if executor.engine == .postgres {
                try await executor.execute("SELECT pg_advisory_xact_lock(72532)")
            }
            let rows = try await executor.query("SELECT id, sealed FROM data_keys", [])
            guard !rows.isEmpty else { throw StartupError("the database has no data keys yet: start the service once (or run bootstrap) first") }
            let wrappedKeys = try rows.map { FieldCipher.WrappedKey(id: try $0.string("id"), sealed: try unpack(try $0.blob("sealed"))) }
            let unwrapped = wrappedKeys.compactMap { try? FieldCipher.unwrap($0, masterKey: oldKey.bytes) }
            if unwrapped.count != wrappedKeys.count {
                if unwrapped.isEmpty, wrappedKeys.allSatisfy({ (try? FieldCipher.unwrap($0, masterKey: newKey.bytes)) != nil }) {
                    _ = try await withDerivationRoot(newKey, database: executor)
                    return .alreadyDone
                }
                throw StartupError("the data keys do not open with --master-key-file: is it the key this database was created with?")
            }
            let root = try await withDerivationRoot(oldKey, database: executor).derivationRoot
            for key in unwrapped {
                let wrapped = try FieldCipher.wrap(key, masterKey: newKey.bytes)
                try await executor.execute("UPDATE data_keys SET sealed = ? WHERE id = ?", [.blob(pack(wrapped.sealed)), .text(key.id)])
            }
            let sealedRoot = pack(try AESGCM.seal(root, key: newKey.bytes, aad: rootAAD))
            try await executor.execute("DELETE FROM master_secrets WHERE name = ?", [.text(rootName)])
            try await executor.execute(
                "INSERT INTO master_secrets (name, sealed, created_at) VALUES (?, ?, ?)",
                [.text(rootName), .blob(sealedRoot), .int(Clock.nowMilliseconds())])
            try await audit(executor, unwrapped.count)
            return .rewrapped(unwrapped.count)
        }
    }

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
