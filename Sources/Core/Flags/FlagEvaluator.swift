/// Whether a flag admits a subject (spec/policy.md, "flags"): the flag is enabled and the subject's
/// bucket, `murmur3_x86_32("<flag>:<subject>", seed 0) % 100`, is below the rollout percentage.
/// Buckets are fixed per subject, so raising the rollout only ever adds subjects.
public enum FlagEvaluator {
    public static func bucket(flag: String, subject: String) -> Int {
        var key = flag
        key.append(":")
        key.append(subject)
        return Int(Murmur3.x86_32(key) % 100)
    }

    public static func isOn(enabled: Bool, rollout: Int, flag: String, subject: String) -> Bool {
        guard enabled, rollout > 0 else { return false }
        if rollout >= 100 { return true }
        return bucket(flag: flag, subject: subject) < rollout
    }

    public static func isOn(_ flag: FlagDefault, subject: String) -> Bool {
        isOn(enabled: flag.enabled, rollout: flag.rollout, flag: flag.name, subject: subject)
    }
}
