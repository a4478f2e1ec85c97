/// The JWS algorithms a policy may allow (RFC 7518, RFC 8037). `none` is not one of them and never
/// will be: there is no case for it, so no code path can accept an unsigned token.
public enum JWTAlgorithm: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"
    case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
    case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
    case es256 = "ES256", es384 = "ES384", es512 = "ES512"
    case edDSA = "EdDSA"

    /// The kind of key an algorithm needs. Checking a token's `alg` against its key's kind is what
    /// stops algorithm confusion (an HS256 token "signed" with an RSA public key as the secret).
    public enum KeyKind: String, Sendable, Hashable {
        case hmacSecret = "HMAC secret", rsa = "RSA", ec = "EC", ed25519 = "Ed25519"
    }

    public var keyKind: KeyKind {
        switch self {
        case .hs256, .hs384, .hs512: .hmacSecret
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512: .rsa
        case .es256, .es384, .es512: .ec
        case .edDSA: .ed25519
        }
    }

    /// The curve an ES algorithm is defined on (JWK `crv`).
    public var curve: String? {
        switch self {
        case .es256: "P-256"
        case .es384: "P-384"
        case .es512: "P-521"
        case .edDSA: "Ed25519"
        default: nil
        }
    }

    public var isSymmetric: Bool { keyKind == .hmacSecret }

    /// What an issuer with public keys allows when its policy names no algorithms.
    public static let asymmetricDefaults: [JWTAlgorithm] = allCases.filter { !$0.isSymmetric }

    public var description: String { rawValue }
}
