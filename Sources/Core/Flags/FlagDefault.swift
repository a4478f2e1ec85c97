/// A feature flag's static default from the policy files (`flags:`); the control plane's flag of the
/// same name replaces it while the sidecar is linked.
public struct FlagDefault: Sendable, Hashable {
    public let name: String
    public let enabled: Bool
    /// Percentage of subjects (0...100) whose bucket admits them.
    public let rollout: Int
    public let location: SourceLocation

    public init(name: String, enabled: Bool, rollout: Int, location: SourceLocation) {
        self.name = name
        self.enabled = enabled
        self.rollout = rollout
        self.location = location
    }
}
