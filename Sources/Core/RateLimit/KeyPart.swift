/// One part of a token bucket's key. A request that lacks a part (no such claim or header, no
/// subject) is not counted against that limit; the decision is recorded as `skipped`.
public enum KeyPart: Sendable, Hashable, CustomStringConvertible {
    /// The client IP (the socket peer, or X-Forwarded-For from a trusted proxy).
    case ip
    /// The route's name.
    case route
    case method
    /// The token's `sub`.
    case subject
    /// A claim of the verified token.
    case claim(String)
    /// A request header, by lower-cased name.
    case header(String)

    public init?(parsing text: String) {
        switch text {
        case "ip": self = .ip
        case "route": self = .route
        case "method": self = .method
        case "subject": self = .subject
        default:
            if text.hasPrefix("claim:"), text.count > 6 {
                self = .claim(String(text.dropFirst(6)))
            } else if text.hasPrefix("header:"), text.count > 7 {
                self = .header(String(text.dropFirst(7)).lowercased())
            } else {
                return nil
            }
        }
    }

    /// True when the part comes from a verified token, so it never exists on an anonymous request.
    public var needsToken: Bool {
        switch self {
        case .subject, .claim: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .ip: "ip"
        case .route: "route"
        case .method: "method"
        case .subject: "subject"
        case let .claim(name): "claim:\(name)"
        case let .header(name): "header:\(name)"
        }
    }
}
