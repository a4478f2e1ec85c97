/// Who may sign the tokens a route accepts (`issuers:` in policy files).
public struct IssuerPolicy: Sendable, Hashable {
    /// Where the verification keys come from: exactly one source per issuer.
    public enum KeySource: Sendable, Hashable {
        /// Fetched at start and every `refresh`; early on an unknown `kid`.
        case jwksURL(String)
        /// PEM public keys or JWKS files, read when the policy set is loaded so that a reload swaps
        /// keys and routes together.
        case keyFiles([KeyFile])
        /// An HMAC secret read from this environment variable when the sidecar starts.
        case secretEnvironment(String)
    }

    public struct KeyFile: Sendable, Hashable {
        /// As written in the policy (relative to the policy directory, or absolute).
        public let path: String
        public let contents: [UInt8]
    }

    public let name: String
    /// Must equal the token's `iss` exactly.
    public let issuer: String
    public let keySource: KeySource
    /// The token's `aud` must contain one of these; empty means no audience check.
    public let audiences: [String]
    public let algorithms: [JWTAlgorithm]
    public let clockSkew: Duration
    public let refresh: Duration
    public let location: SourceLocation
    /// How long after `exp` a token still passes; nil: `clockSkew`, as for `nbf`/`iat`.
    public var expiryLeeway: Duration? = nil
}

extension IssuerPolicy {
    /// An issuer that is not read from a policy file: the control plane checking its own tokens
    /// with its key ring (the keys are handed to `JWTVerifier` directly). Its own tokens get no grace
    /// after `exp` (RFC 7519: the current time must be before it); `clockSkew` still applies to
    /// `nbf`/`iat`, for replicas whose clocks differ slightly.
    public static func signedHere(issuer: String, algorithms: [JWTAlgorithm], clockSkew: Duration = .seconds(30)) -> IssuerPolicy {
        IssuerPolicy(
            name: "tollgate-control", issuer: issuer, keySource: .keyFiles([]), audiences: [], algorithms: algorithms,
            clockSkew: clockSkew, refresh: .seconds(300), location: SourceLocation(file: "tollgate-control", line: 0, column: 0),
            expiryLeeway: .zero)
    }
}
