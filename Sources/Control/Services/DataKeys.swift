import Core
import Synchronization

/// The data keys that seal stored fields, loaded from `data_keys` and unwrapped with the master
/// key. The first start creates one; `rotate` adds a new current key (older ones still open what
/// they sealed).
enum DataKeys {
    static func load(_ database: any Database, masterKey: MasterKey) async throws -> FieldCipher {
        let stored = try await database.transaction { transaction -> [DataKeyRecord] in
            try await transaction.takeTurn(.dataKeys)
            let stored = try await DataKeyStore.all(on: transaction)
            guard stored.isEmpty else { return stored }
            let key = try FieldCipher.newDataKey()
            try await DataKeyStore.insertCurrent(
                try FieldCipher.wrap(key, masterKey: masterKey.bytes), now: Clock.nowMilliseconds(), on: transaction)
            return try await DataKeyStore.all(on: transaction)
        }
        var current: FieldCipher.DataKey?
        var older: [FieldCipher.DataKey] = []
        for record in stored {
            let wrapped = record.key
            let key: FieldCipher.DataKey
            do {
                key = try FieldCipher.unwrap(wrapped, masterKey: masterKey.bytes)
            } catch {
                throw StartupError("data key \(wrapped.id) does not open with this master key: is --master-key-file the one this database was created with?")
            }
            if record.isCurrent { current = key } else { older.append(key) }
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
            try await executor.takeTurn(.dataKeys)
            try await DataKeyStore.clearCurrent(on: executor)
            try await DataKeyStore.insertCurrent(wrapped, now: Clock.nowMilliseconds(), on: executor)
            var resealed = 0
            for column in SealedFieldStore.columns {
                for field in try await SealedFieldStore.fields(in: column, on: executor) {
                    guard rotated.needsRewrap(field.sealed) else { continue }
                    let fresh = try rotated.seal(try rotated.open(field.sealed, context: column.context), context: column.context)
                    try await SealedFieldStore.replace(field, in: column, with: fresh, on: executor)
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
        guard let sealedRoot = try await MasterSecretStore.find(rootName, on: database) else {
            return masterKey
        }
        do {
            return MasterKey(bytes: masterKey.bytes, derivationRoot: try AESGCM.open(sealedRoot, key: masterKey.bytes, aad: rootAAD))
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
            try await executor.takeTurn(.dataKeys)
            let wrappedKeys = try await DataKeyStore.all(on: executor).map(\.key)
            guard !wrappedKeys.isEmpty else { throw StartupError("the database has no data keys yet: start the service once (or run bootstrap) first") }
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
                try await DataKeyStore.replaceWrapping(try FieldCipher.wrap(key, masterKey: newKey.bytes), on: executor)
            }
            try await MasterSecretStore.replace(
                rootName, sealed: try AESGCM.seal(root, key: newKey.bytes, aad: rootAAD), now: Clock.nowMilliseconds(), on: executor)
            try await audit(executor, unwrapped.count)
            return .rewrapped(unwrapped.count)
        }
    }
}
