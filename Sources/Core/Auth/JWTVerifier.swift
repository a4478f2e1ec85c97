/// A token whose signature and registered claims have been checked against one issuer.
public struct VerifiedToken: Sendable {
    /// The issuer policy's name (the key of `issuers:`), not the `iss` value.
    public let issuerName: String
    public let subject: String?
    /// `exp`, seconds since the epoch.
    public let expiresAt: Double
    /// Every claim of the payload.
    public let claims: [String: JSONValue]
    /// From the `scope` string and the `scp` array (or string).
    public let scopes: Set<String>

    public init(issuerName: String, subject: String?, expiresAt: Double, claims: [String: JSONValue], scopes: Set<String>) {
        self.issuerName = issuerName
        self.subject = subject
        self.expiresAt = expiresAt
        self.claims = claims
        self.scopes = scopes
    }
}

/// Why a token was refused. `reason` is a stable label (metrics, access log); `detail` is for the
/// caller's `error_description` and never contains the token or a quote.
public struct JWTFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable {
        case missing = "missing_token", malformed, tooLarge = "too_large", algorithm, unknownKey = "unknown_kid"
        case signature, expired, notYetValid = "not_yet_valid", issuedInFuture = "iat_in_future"
        case missingExpiry = "missing_exp", issuer, audience, critical = "crit"
        case keysUnavailable = "keys_unavailable"
    }

    public let reason: Reason
    public let detail: String
    /// For `unknownKey` and `keysUnavailable`: the issuer whose JWKS may be refetched.
    public let issuerName: String?

    public init(_ reason: Reason, _ detail: String, issuerName: String? = nil) {
        self.reason = reason
        self.detail = detail
        self.issuerName = issuerName
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}

/// The keys an issuer verifies with right now. For a `jwks_url` issuer this changes with every
/// refresh; nil from the lookup means its JWKS has not been fetched yet.
public struct IssuerKeys: Sendable {
    public let keys: [VerificationKey]

    public init(keys: [VerificationKey]) {
        self.keys = keys
    }

    /// Keys a token with this `alg` and `kid` may be checked with: those with the token's `kid`;
    /// when none has it (or the token names none), the keys without a `kid` (PEM files, secrets).
    /// A token without `kid` may also meet any JWKS key that fits its algorithm.
    func candidates(for algorithm: JWTAlgorithm, keyID: String?) -> [VerificationKey] {
        let fitting = keys.filter { $0.fits(algorithm) }
        guard let keyID else { return fitting }
        let named = fitting.filter { $0.keyID == keyID }
        return named.isEmpty ? fitting.filter { $0.keyID == nil } : named
    }
}

/// JWS compact tokens (RFC 7515/7519) checked as spec/policy.md says: three base64url parts, an
/// allowed `alg` that fits the key, a good signature, `exp` present and not past, `nbf`/`iat` not in
/// the future (all with the issuer's skew), `iss`, `aud` when audiences are set, and no `crit`.
public enum JWTVerifier {
    public static let maximumTokenBytes = 16 * 1024
    /// A token without `kid` is tried against at most this many fitting keys.
    static let maximumKeyAttempts = 8

    public static func verify(
        _ token: String, issuers: [IssuerPolicy], now: Double, signatures: SignatureVerifier,
        keys: (IssuerPolicy) -> IssuerKeys?
    ) -> Result<VerifiedToken, JWTFailure> {
        let bytes = Array(token.utf8)
        guard bytes.count <= maximumTokenBytes else {
            return .failure(JWTFailure(.tooLarge, "the token is larger than \(maximumTokenBytes) bytes"))
        }
        guard let firstDot = bytes.firstIndex(of: UInt8(ascii: ".")),
              let secondDot = bytes[(firstDot + 1)...].firstIndex(of: UInt8(ascii: ".")),
              !bytes[(secondDot + 1)...].contains(UInt8(ascii: "."))
        else { return .failure(JWTFailure(.malformed, "the token is not three base64url parts")) }
        guard let headerBytes = Base64URL.decode(bytes: bytes[..<firstDot]),
              let payloadBytes = Base64URL.decode(bytes: bytes[(firstDot + 1)..<secondDot]),
              let signature = Base64URL.decode(bytes: bytes[(secondDot + 1)...])
        else { return .failure(JWTFailure(.malformed, "the token is not valid base64url")) }
        guard let header = try? JSONValue.parse(headerBytes).objectValue else {
            return .failure(JWTFailure(.malformed, "the token header is not a JSON object"))
        }
        guard let algorithmName = header["alg"]?.stringValue else {
            return .failure(JWTFailure(.malformed, "the token header has no alg"))
        }
        guard let algorithm = JWTAlgorithm(rawValue: algorithmName) else {
            return .failure(JWTFailure(.algorithm, "alg \(sanitized(algorithmName)) is not accepted"))
        }
        if header["crit"] != nil {
            return .failure(JWTFailure(.critical, "the token header has crit, which is not supported"))
        }
        let keyID: String?
        switch header["kid"] {
        case nil: keyID = nil
        case let .string(value)?: keyID = value
        default: return .failure(JWTFailure(.malformed, "the token header kid is not a string"))
        }
        guard let claims = try? JSONValue.parse(payloadBytes).objectValue else {
            return .failure(JWTFailure(.malformed, "the token payload is not a JSON object"))
        }
        guard let iss = claims["iss"]?.stringValue else {
            return .failure(JWTFailure(.issuer, "the token has no iss"))
        }
        let candidates = issuers.filter { $0.issuer == iss }
        guard !candidates.isEmpty else {
            return .failure(JWTFailure(.issuer, "iss \(sanitized(iss)) is not accepted here"))
        }

        // Signature first: nothing a forger wrote is looked at further than needed to pick the key.
        // The failure is described only when it is known (building messages costs on the good path).
        var failure: JWTFailure?
        var verifiedBy: IssuerPolicy?
        search: for issuer in candidates {
            guard issuer.algorithms.contains(algorithm) else { continue }
            guard let issuerKeys = keys(issuer) else {
                failure = JWTFailure(.keysUnavailable, "the keys of issuer \(issuer.name) are not available yet", issuerName: issuer.name)
                continue
            }
            let usable = issuerKeys.candidates(for: algorithm, keyID: keyID)
            guard !usable.isEmpty else {
                failure = keyID.map {
                    JWTFailure(.unknownKey, "no key \(sanitized($0)) for alg \(algorithm)", issuerName: issuer.name)
                } ?? JWTFailure(.algorithm, "issuer \(issuer.name) has no key for alg \(algorithm)")
                continue
            }
            failure = JWTFailure(.signature, "the signature does not verify")
            let verified = bytes.withUnsafeBytes { raw in
                let signingInput = UnsafeRawBufferPointer(rebasing: raw[..<secondDot])
                return usable.prefix(maximumKeyAttempts).contains {
                    signatures.verify(algorithm, key: $0, signingInput: signingInput, signature: signature)
                }
            }
            if verified {
                verifiedBy = issuer
                break search
            }
        }
        guard let issuer = verifiedBy else {
            return .failure(failure ?? JWTFailure(.algorithm, "alg \(algorithm) is not accepted for iss \(sanitized(iss))"))
        }

        let skew = issuer.clockSkew.secondsDouble
        guard let exp = claims["exp"] else { return .failure(JWTFailure(.missingExpiry, "the token has no exp")) }
        guard let expiresAt = exp.numberValue else { return .failure(JWTFailure(.malformed, "exp is not a number")) }
        // RFC 7519 §4.1.4: valid only while the current time is before `exp` (plus the leeway).
        let leeway = issuer.expiryLeeway?.secondsDouble ?? skew
        guard now < expiresAt + leeway else { return .failure(JWTFailure(.expired, "the token has expired")) }
        for (name, reason) in [("nbf", JWTFailure.Reason.notYetValid), ("iat", .issuedInFuture)] {
            guard let claim = claims[name] else { continue }
            guard let value = claim.numberValue else { return .failure(JWTFailure(.malformed, "\(name) is not a number")) }
            if value > now + skew {
                return .failure(JWTFailure(reason, reason == .notYetValid ? "the token is not valid yet" : "the token was issued in the future"))
            }
        }
        if !issuer.audiences.isEmpty {
            let audiences: [String]
            switch claims["aud"] {
            case let .string(value)?: audiences = [value]
            case let .array(values)?: audiences = values.compactMap(\.stringValue)
            default: audiences = []
            }
            guard audiences.contains(where: issuer.audiences.contains) else {
                return .failure(JWTFailure(.audience, "the token is not meant for this audience"))
            }
        }
        let subject: String?
        switch claims["sub"] {
        case nil: subject = nil
        case let .string(value)?: subject = value
        default: return .failure(JWTFailure(.malformed, "sub is not a string"))
        }
        return .success(VerifiedToken(
            issuerName: issuer.name, subject: subject, expiresAt: expiresAt, claims: claims, scopes: scopes(in: claims)))
    }

    /// `scope` (space-separated string, RFC 8693) and `scp` (array, or string, as Azure AD and Okta send).
    static func scopes(in claims: [String: JSONValue]) -> Set<String> {
        var scopes = Set<String>()
        for name in ["scope", "scp"] {
            switch claims[name] {
            case let .string(value)?: scopes.formUnion(value.split(separator: " ").map(String.init))
            case let .array(values)?: scopes.formUnion(values.compactMap(\.stringValue))
            default: break
            }
        }
        return scopes
    }

    /// A value from the token, shortened and quoted, fit for a challenge parameter or a log line.
    static func sanitized(_ text: String) -> String {
        "'" + HeaderText.quotable(String(decoding: text.utf8.prefix(64), as: UTF8.self)) + "'"
    }
}

extension Duration {
    /// Seconds as a Double (attoseconds included).
    public var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Text for a quoted header parameter (RFC 6750 §3: `%x20-21 / %x23-5B / %x5D-7E`): printable ASCII
/// without `"` or `\`. Everything else is dropped, so a token's bytes can never break out of a
/// `WWW-Authenticate` value or a log line.
public enum HeaderText {
    public static func quotable(_ text: String) -> String {
        var kept: [UInt8] = []
        kept.reserveCapacity(text.utf8.count)
        for byte in text.utf8 where byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
            kept.append(byte)
        }
        return String(decoding: kept, as: UTF8.self)
    }
}
