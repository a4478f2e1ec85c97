/// Brute-force protection for the password grant. Failures are counted per username, keyed by the
/// email's blind index, so an address that has no account is throttled exactly like one that has
/// (the answers do not tell them apart). After `maxFailures` failures in a row each further failure
/// locks the username for `lockout`, doubling per failure up to 15 minutes (or `lockout` when that is
/// longer); a locked username is refused before its password is even hashed; a successful login
/// clears the count, and so does 12 hours without a failure. Kept in the database, so every replica
/// sees the same count.
enum LoginThrottle {
    static let maximumLockout: Int64 = 15 * 60_000
    static let forgetAfter: Int64 = 12 * 3_600_000

    struct Policy: Sendable {
        /// 0 turns the throttle off.
        var maxFailures: Int
        /// Milliseconds.
        var lockout: Int64

        static let standard = Policy(maxFailures: 5, lockout: 60_000)
    }

    /// When the username is locked now, the time it opens again (Unix milliseconds).
    static func lockedUntil(_ index: String, now: Int64, on executor: any SQLExecutor) async throws -> Int64? {
        guard let until = try await executor.first(
            "SELECT locked_until FROM login_failures WHERE email_index = \(bind: index)", as: Int64.self)
        else { return nil }
        return until > now ? until : nil
    }

    /// Counts a failure; returns the lock it earned, if any. One transaction, so concurrent
    /// failures on several replicas each count.
    @discardableResult
    static func recordFailure(_ index: String, now: Int64, policy: Policy, on database: any Database) async throws -> Int64? {
        guard policy.maxFailures > 0 else { return nil }
        return try await database.transaction { executor in
            try await executor.execute("""
                INSERT INTO login_failures (email_index, failures, locked_until, last_failure) VALUES (\(bind: index), 0, 0, \(bind: now))
                ON CONFLICT (email_index) DO NOTHING
                """)
            let failures = try await executor.first("""
                UPDATE login_failures SET failures = CASE WHEN last_failure < \(bind: now - forgetAfter) THEN 1 ELSE failures + 1 END,
                last_failure = \(bind: now) WHERE email_index = \(bind: index) RETURNING failures
                """, as: Int64.self) ?? 1
            guard failures >= Int64(policy.maxFailures) else { return nil }
            let doublings = min(failures - Int64(policy.maxFailures), 20)
            let lock = min(policy.lockout << doublings, max(maximumLockout, policy.lockout))
            try await executor.execute(
                "UPDATE login_failures SET locked_until = \(bind: now + lock) WHERE email_index = \(bind: index)")
            // Rows of addresses nobody has tried for a long time go.
            try await executor.execute("DELETE FROM login_failures WHERE last_failure < \(bind: now - forgetAfter)")
            return now + lock
        }
    }

    static func clear(_ index: String, on executor: any SQLExecutor) async throws {
        try await executor.execute("DELETE FROM login_failures WHERE email_index = \(bind: index)")
    }
}
