// Inputs shared by the micro-benchmarks (Benchmarks/TollgateMicro) and speed-loop: the repository's
// JWT fixtures (Tests/Fixtures/jwt: tokens, keys, the HMAC secret) and the example policy set
// (policies/). Found from this file's path, or from $TOLLGATE_ROOT.

import Core
import Foundation

public enum Fixtures {
    public static let root: String = {
        if let root = ProcessInfo.processInfo.environment["TOLLGATE_ROOT"], !root.isEmpty { return root }
        // …/Benchmarks/Sources/BenchSupport/Fixtures.swift → the repository root.
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static let jwtDirectory = root + "/Tests/Fixtures/jwt"

    /// A fixed "now" between the fixtures' iat (1 700 000 000) and exp (4 102 444 800).
    public static let now: Double = 1_800_000_000

    /// Every algorithm JWTAlgorithm has, in the order the reports use.
    public static let algorithms: [JWTAlgorithm] = [
        .rs256, .rs384, .rs512, .ps256, .ps384, .ps512, .es256, .es384, .es512, .edDSA, .hs256, .hs384, .hs512,
    ]

    static func bytes(_ path: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            fail("cannot read \(path) (set TOLLGATE_ROOT to the repository root)")
        }
        return Array(data)
    }

    /// cases.json: `env` (the HMAC secret) and `cases` (name → token without "Bearer ").
    static let cases: (env: [String: String], tokens: [String: String]) = {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes(jwtDirectory + "/cases.json"))) as? [String: Any],
              let env = object["env"] as? [String: String], let cases = object["cases"] as? [Any]
        else { fail("cases.json: unexpected layout") }
        var tokens: [String: String] = [:]
        for case let entry as [String: Any] in cases {
            guard let name = entry["name"] as? String, let authorization = entry["authorization"] as? String,
                  let space = authorization.firstIndex(of: " ")
            else { continue }
            tokens[name] = String(authorization[authorization.index(after: space)...])
        }
        return (env, tokens)
    }()

    public static var environment: [String: String] { cases.env }

    public static func token(_ name: String) -> String {
        guard let token = cases.tokens[name] else { fail("no case \(name) in cases.json") }
        return token
    }

    /// The JWT conformance policy set: issuers rsa, ec, ed, okp, hmac.
    public static let snapshot: PolicySnapshot = loadPolicies(jwtDirectory + "/policies")

    /// The example policy set of the repository (policies/: 7 routes).
    public static let examplePolicies: PolicySnapshot = loadPolicies(root + "/policies")

    static func loadPolicies(_ directory: String) -> PolicySnapshot {
        do {
            return try PolicyLoader.load(directory: directory)
        } catch {
            fail("policies in \(directory): \(error)")
        }
    }

    /// The keys of the fixture issuers, loaded as the proxy loads them.
    public static let issuerKeys: [String: IssuerKeys] = {
        var keys: [String: IssuerKeys] = [:]
        for (name, issuer) in snapshot.issuers {
            do {
                keys[name] = try IssuerKeys.load(issuer, environment: cases.env)
            } catch {
                fail("keys of issuer \(name): \(error)")
            }
        }
        return keys
    }()

    // The keys as an application would import them, one per algorithm family.
    static let rsaKey = pem("rsa.pem")
    static let ed25519Key = pem("ed25519.pem")
    static let ecKeys: [VerificationKey] = {
        do {
            return try JWKS.parse(bytes(jwtDirectory + "/policies/keys/ec-jwks.json")).keys
        } catch {
            fail("ec-jwks.json: \(error)")
        }
    }()
    static let hmacKey = VerificationKey(hmacSecret: Array(cases.env["TOLLGATE_CONFORMANCE_SECRET", default: ""].utf8))

    static func pem(_ name: String) -> VerificationKey {
        do {
            return try VerificationKey.pem(bytes(jwtDirectory + "/policies/keys/" + name))
        } catch {
            fail("\(name): \(error)")
        }
    }

    /// The fixture issuer (policy name) for an algorithm, as in the case names "<alg>-valid-on-<issuer>".
    public static func issuerName(_ algorithm: JWTAlgorithm) -> String {
        switch algorithm.keyKind {
        case .rsa: "rsa"
        case .ec: "ec"
        case .ed25519: "ed"
        case .hmacSecret: "hmac"
        }
    }

    public static func issuer(_ algorithm: JWTAlgorithm) -> IssuerPolicy {
        guard let issuer = snapshot.issuers[issuerName(algorithm)] else { fail("no issuer \(issuerName(algorithm))") }
        return issuer
    }

    /// The fixture key for an algorithm (RSA 2048, P-256/384/521 by kid, Ed25519, the HMAC secret).
    public static func key(_ algorithm: JWTAlgorithm) -> VerificationKey {
        let key: VerificationKey? = switch algorithm {
        case .es256: ecKeys.first { $0.keyID == "p256" }
        case .es384: ecKeys.first { $0.keyID == "p384" }
        case .es512: ecKeys.first { $0.keyID == "p521" }
        default:
            switch algorithm.keyKind {
            case .rsa: rsaKey
            case .ed25519: ed25519Key
            case .hmacSecret: hmacKey
            case .ec: nil
            }
        }
        guard let key else { fail("no fixture key for \(algorithm)") }
        return key
    }

    /// The valid token of the conformance cases for this algorithm.
    public static func validToken(_ algorithm: JWTAlgorithm) -> String {
        token("\(algorithm.rawValue.lowercased())-valid-on-\(issuerName(algorithm))")
    }
}

/// A token's JWS signing input (`header.payload` as bytes) and decoded signature.
public struct SignedParts: Sendable {
    public let signingInput: [UInt8]
    public let signature: [UInt8]

    public init(_ token: String) {
        let bytes = Array(token.utf8)
        let dots = bytes.indices.filter { bytes[$0] == UInt8(ascii: ".") }
        guard dots.count == 2 else { fail("not a JWS compact token") }
        signingInput = Array(bytes[..<dots[1]])
        guard let signature = Base64URL.decode(bytes: bytes[(dots[1] + 1)...]) else { fail("bad base64url signature") }
        self.signature = signature
    }

    /// The signature with one bit flipped in the middle.
    public var tampered: [UInt8] {
        var signature = signature
        signature[signature.count / 2] ^= 0x01
        return signature
    }
}

/// Checks that a verifier gives the right answers when its context is reused: good, bad, good, good.
/// Returns nil when it does, else a description of what it answered.
public func reuseProblem(_ algorithm: JWTAlgorithm, verifier: SignatureVerifier) -> String? {
    let key = Fixtures.key(algorithm)
    let parts = SignedParts(Fixtures.validToken(algorithm))
    let answers = [parts.signature, parts.tampered, parts.signature, parts.signature].map {
        verifier.verify(algorithm, key: key, signingInput: parts.signingInput, signature: $0)
    }
    return answers == [true, false, true, true] ? nil : "\(algorithm): answers with one reused context were \(answers), expected [true, false, true, true]"
}

/// A request as route matching sees it.
public struct BenchRequest: RoutableRequest, Sendable {
    public let method: String
    public let host: String?
    public let path: String
    public let headers: [String: String]

    public init(method: String, host: String?, path: String, headers: [String: String] = [:]) {
        self.method = method
        self.host = host
        self.path = path
        self.headers = headers
    }

    public func headerValue(_ lowercasedName: String) -> String? { headers[lowercasedName] }
}

/// The request shapes of the route-matching benchmarks, over `Fixtures.examplePolicies`, with the
/// route each must match (nil: none, a 404).
public let routeShapes: [(name: String, request: BenchRequest, expected: String?)] = [
    ("route exact hit, 1st of 7 (GET /healthz)",
     BenchRequest(method: "GET", host: "orders.example.com", path: "/healthz"), "health"),
    ("route regex+header hit, 3rd of 7 (POST /v1/orders/<uuid>)",
     BenchRequest(method: "POST", host: "orders.example.com", path: "/v1/orders/0b6d8a2e-5c1f-4e5a-9d2b-7f3c1a9e4b60",
                  headers: ["x-tenant": "acme"]), "orders-write"),
    ("route prefix hit, 4th of 7 (GET /v1/orders/12345)",
     BenchRequest(method: "GET", host: "orders.example.com", path: "/v1/orders/12345"), "orders-read"),
    ("route host-wildcard hit, 6th of 7 (GET /partner/catalog/items)",
     BenchRequest(method: "GET", host: "api.partners.example.com", path: "/partner/catalog/items"), "partner-catalog"),
    ("route miss, all 7 (GET /nothing/here)",
     BenchRequest(method: "GET", host: "orders.example.com", path: "/nothing/here"), nil),
]

public func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("tollgate benchmarks: \(message)\n".utf8))
    exit(70)
}
