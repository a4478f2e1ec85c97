/// One entry of `routes:`: what requests it matches and what they must pass. References to issuers,
/// limits and flags are resolved when the set is loaded, so the request path never looks a name up.
///
/// A class, not a struct: every phase of every request reads the matched route, and a copy of a
/// struct this size is a retain and a release of each of its dozen or so references, on objects
/// all event loops share (the snapshot's), where one reference is one.
public final class Route: Sendable {
    public let name: String
    public let match: RouteMatch
    public let auth: RouteAuth
    public let flag: FlagGate?
    /// In the order the policy lists them.
    public let limits: [RateLimitPolicy]
    public let forward: ForwardPolicy
    /// `shadow`: every gate of the route decides and is counted, but none refuses.
    public let mode: PolicyMode
    public let location: SourceLocation

    init(
        name: String, match: RouteMatch, auth: RouteAuth, flag: FlagGate?, limits: [RateLimitPolicy], forward: ForwardPolicy,
        mode: PolicyMode = .enforce, location: SourceLocation
    ) {
        self.name = name
        self.match = match
        self.auth = auth
        self.flag = flag
        self.limits = limits
        self.forward = forward
        self.mode = mode
        self.location = location
    }
}

/// `mode:` of a route or a limit (spec/policy.md "Shadow mode"): try a policy before enforcing it.
public enum PolicyMode: String, Sendable, Hashable {
    /// Refusals are answered (the default).
    case enforce
    /// The gate decides, counts and logs `shadow:<reason>`, and the request goes on as if allowed.
    case shadow
}

/// `match:`: one of path / prefix / regex, plus optional methods, host and header patterns.
public struct RouteMatch: Sendable {
    public enum PathMatch: Sendable {
        /// The whole normalized path equals this.
        case exact(String)
        /// Segment-aware: `/v1/orders` matches `/v1/orders` and `/v1/orders/…`, not `/v1/ordersx`.
        /// A prefix ending in `/` matches any path that starts with it.
        case prefix(String)
        /// PCRE2, searched in the normalized path; anchor it with `^…$` to match the whole path.
        case regex(PCRE2Regex)
    }

    /// Compared with the request's Host without its port, case-insensitively.
    public enum HostMatch: Sendable, Hashable {
        case exact(String)
        /// `*.example.com`: any host ending in `.example.com` (not `example.com` itself).
        case wildcardSuffix(String)
    }

    public struct HeaderMatch: Sendable {
        /// Lower-cased.
        public let name: String
        /// Searched in the header's value; a request without the header does not match.
        public let pattern: PCRE2Regex
    }

    public let path: PathMatch
    /// Nil matches every method. Methods are case-sensitive, as in HTTP.
    public let methods: Set<String>?
    public let host: HostMatch?
    public let headers: [HeaderMatch]
}

/// `auth:` of a route.
public enum RouteAuth: Sendable {
    /// `auth: none`: no token is read; an `Authorization` header passes untouched.
    case none
    case required(TokenRequirement)
}

public struct TokenRequirement: Sendable {
    /// Any of these may have signed the token.
    public let issuers: [IssuerPolicy]
    /// All are required, from the `scope` string or the `scp` array.
    public let scopes: [String]
    /// Each claim must equal one of its values, or (for an array claim) contain one.
    public let claims: [ClaimRule]
    /// A request without a token passes as anonymous; a bad token still fails.
    public let optional: Bool
}

public struct ClaimRule: Sendable, Hashable {
    public enum Value: Sendable, Hashable, CustomStringConvertible {
        case string(String)
        case integer(Int)
        case boolean(Bool)

        public var description: String {
            switch self {
            case let .string(value): "\"\(value)\""
            case let .integer(value): String(value)
            case let .boolean(value): String(value)
            }
        }
    }

    public let claim: String
    public let allowed: [Value]
}

/// `flag:` of a route.
public struct FlagGate: Sendable, Hashable {
    public let flag: FlagDefault
    /// Status of the refusal when the flag is off for the subject (default 404).
    public let denyStatus: Int
}

/// `forward:` of a route.
public struct ForwardPolicy: Sendable, Hashable {
    public struct ClaimHeader: Sendable, Hashable {
        public let claim: String
        /// Lower-cased. Any incoming header of this name is always removed first.
        public let header: String
    }

    public let claims: [ClaimHeader]
    /// Remove `Authorization` before forwarding once the token is verified (default true, as Envoy's
    /// jwt_authn does): the upstream gets identity headers, not a replayable credential.
    public let stripAuthorization: Bool

    public static let `default` = ForwardPolicy(claims: [], stripAuthorization: true)
}
