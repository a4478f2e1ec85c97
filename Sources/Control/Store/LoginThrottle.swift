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
        guard let row = try await executor.first("SELECT locked_until FROM login_failures WHERE email_index = ?", [.text(index)]) else {
            return nil
        }
        let until = try row.int("locked_until")
        return until > now ? until : nil
    }

    /// Counts a failure; returns the lock it earned, if any. One transaction, so concurrent
    /// failures on several replicas each count.
    @discardableResult
    static func recordFailure(_ index: String, now: Int64, policy: Policy, on database: any Database) async throws -> Int64? {
        guard policy.maxFailures > 0 else { return nil }
        return try await database.transaction { executor in
            try await executor.execute(
                "INSERT INTO login_failures (email_index, failures, locked_until, last_failure) VALUES (?, 0, 0, ?) ON CONFLICT (email_index) DO NOTHING",
                [.text(index), .int(now)])
            let row = try await executor.first(
                """
                UPDATE login_failures SET failures = CASE WHEN last_failure < ? THEN 1 ELSE failures + 1 END, last_failure = ?
                WHERE email_index = ? RETURNING failures
                """, [.int(now - forgetAfter), .int(now), .text(index)])
            let failures = try row?.int("failures") ?? 1
            guard failures >= Int64(policy.maxFailures) else { return nil }
            let doublings = min(failures - Int64(policy.maxFailures), 20)
            let lock = min(policy.lockout << doublings, max(maximumLockout, policy.lockout))
            try await executor.execute(
                "UPDATE login_failures SET locked_until = ? WHERE email_index = ?", [.int(now + lock), .text(index)])
            // Rows of addresses nobody has tried for a long time go.
            try await executor.execute("DELETE FROM login_failures WHERE last_failure < ?", [.int(now - forgetAfter)])
            return now + lock
        }
    }

    static func clear(_ index: String, on executor: any SQLExecutor) async throws {
        try await executor.execute("DELETE FROM login_failures WHERE email_index = ?", [.text(index)])
    }
}
