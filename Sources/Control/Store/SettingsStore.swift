/// The `settings` table: numbers every replica must agree on, by name.
enum SettingsStore {
    /// The longest access-token lifetime any server has issued with (milliseconds), so a key
    /// rotation from any process keeps the old key in JWKS long enough.
    static func maxTokenLifetime(on executor: any SQLExecutor) async throws -> Int64 {
        try await executor.first("SELECT value FROM settings WHERE name = 'max_token_ttl_ms'", as: Int64.self) ?? 0
    }

    /// Raises the shared maximum to `lifetime` when it is lower.
    static func recordTokenLifetime(_ lifetime: Int64, on executor: any SQLExecutor) async throws {
        try await executor.execute(
            "UPDATE settings SET value = \(bind: lifetime) WHERE name = 'max_token_ttl_ms' AND value < \(bind: lifetime)")
    }
}
