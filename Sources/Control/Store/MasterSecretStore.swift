import Core

/// The `master_secrets` table: values sealed directly under the master key (today only the
/// derivation root a `keys rewrap` keeps), by name.
enum MasterSecretStore {
    static func find(_ name: String, on executor: any SQLExecutor) async throws -> AESGCM.Sealed? {
        try await executor.first("SELECT sealed FROM master_secrets WHERE name = \(bind: name)", as: [UInt8].self).map(SealedBytes.unpack)
    }

    static func replace(_ name: String, sealed: AESGCM.Sealed, now: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute("DELETE FROM master_secrets WHERE name = \(bind: name)")
        try await executor.execute(
            "INSERT INTO master_secrets (name, sealed, created_at) VALUES (\(bind: name), \(bind: SealedBytes.pack(sealed)), \(bind: now))")
    }
}
