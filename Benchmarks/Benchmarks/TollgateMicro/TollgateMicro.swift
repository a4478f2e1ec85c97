// Micro-benchmarks of the request path's CPU-bound pieces (docs/benchmarks.md, "JWT verification and
// route matching (micro)"):
//
//   sig <ALG>           SignatureVerifier.verify alone: digest + public-key operation (or HMAC), with
//                       the verifier's per-key OpenSSL context reused, as on an event loop.
//   sig-cold <ALG>      the same with a new SignatureVerifier per call: context creation included.
//   token <ALG>         JWTVerifier.verify of a whole token, token cache not consulted (a miss).
//   cache hit …         TokenCache.lookup of a 586-byte token in a cache of 10 000 entries.
//   route …             PolicySnapshot.route(for:) over the example policy set (policies/, 7 routes).
//
// Inputs are the repository's fixtures (Tests/Fixtures/jwt: tokens, keys, the HMAC secret), found
// from this file's path or from $TOLLGATE_ROOT. Every setup checks the results first (a valid
// signature verifies, a tampered one does not, also after the context was reused), and every
// measured loop counts wrong answers: a benchmark of a verifier that says "false" would be a lie.

import Benchmark
import Core
import Foundation

// MARK: Fixtures

enum Fixtures {
    static let root: String = {
        if let root = ProcessInfo.processInfo.environment["TOLLGATE_ROOT"], !root.isEmpty { return root }
        // …/Benchmarks/Benchmarks/TollgateMicro/TollgateMicro.swift → the repository root.
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let jwtDirectory = root + "/Tests/Fixtures/jwt"

    static func bytes(_ path: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            fatalError("cannot read \(path) (set TOLLGATE_ROOT to the repository root)")
        }
        return Array(data)
    }

    /// cases.json: `env` (the HMAC secret) and `cases` (name → token without "Bearer ").
    static let cases: (env: [String: String], tokens: [String: String]) = {
        let object = try! JSONSerialization.jsonObject(with: Data(bytes(jwtDirectory + "/cases.json"))) as! [String: Any]
        let env = object["env"] as! [String: String]
        var tokens: [String: String] = [:]
        for case let entry as [String: Any] in object["cases"] as! [Any] {
            guard let name = entry["name"] as? String, let authorization = entry["authorization"] as? String,
                  let space = authorization.firstIndex(of: " ")
            else { continue }
            tokens[name] = String(authorization[authorization.index(after: space)...])
        }
        return (env, tokens)
    }()

    static func token(_ name: String) -> String {
        guard let token = cases.tokens[name] else { fatalError("no case \(name) in cases.json") }
        return token
    }

    static let snapshot: PolicySnapshot = {
        do {
            return try PolicyLoader.load(directory: jwtDirectory + "/policies")
        } catch {
            fatalError("fixture policies: \(error)")
        }
    }()

    static let issuerKeys: [String: IssuerKeys] = {
        var keys: [String: IssuerKeys] = [:]
        for (name, issuer) in snapshot.issuers {
            do {
                keys[name] = try IssuerKeys.load(issuer, environment: cases.env)
            } catch {
                fatalError("keys of issuer \(name): \(error)")
            }
        }
        return keys
    }()

    // The keys as an application would import them, one per algorithm family.
    static let rsaKey = try! VerificationKey.pem(bytes(jwtDirectory + "/policies/keys/rsa.pem"))
    static let ed25519Key = try! VerificationKey.pem(bytes(jwtDirectory + "/policies/keys/ed25519.pem"))
    static let ecKeys = try! JWKS.parse(bytes(jwtDirectory + "/policies/keys/ec-jwks.json")).keys
    static let hmacKey = VerificationKey(hmacSecret: Array(cases.env["TOLLGATE_CONFORMANCE_SECRET"]!.utf8))

    /// The fixture issuer (policy name) for an algorithm, as in the case names "<alg>-valid-on-<issuer>".
    static func issuerName(_ algorithm: JWTAlgorithm) -> String {
        switch algorithm.keyKind {
        case .rsa: "rsa"
        case .ec: "ec"
        case .ed25519: "ed"
        case .hmacSecret: "hmac"
        }
    }

    static func key(_ algorithm: JWTAlgorithm) -> VerificationKey {
        switch algorithm {
        case .es256: ecKeys.first { $0.keyID == "p256" }!
        case .es384: ecKeys.first { $0.keyID == "p384" }!
        case .es512: ecKeys.first { $0.keyID == "p521" }!
        default:
            switch algorithm.keyKind {
            case .rsa: rsaKey
            case .ed25519: ed25519Key
            case .hmacSecret: hmacKey
            case .ec: fatalError("unreachable")
            }
        }
    }

    /// The valid token of the conformance cases for this algorithm.
    static func validToken(_ algorithm: JWTAlgorithm) -> String {
        token("\(algorithm.rawValue.lowercased())-valid-on-\(issuerName(algorithm))")
    }
}

/// A token's JWS signing input (`header.payload` as bytes) and decoded signature.
struct SignedParts {
    let signingInput: [UInt8]
    let signature: [UInt8]

    init(_ token: String) {
        let bytes = Array(token.utf8)
        let dots = bytes.indices.filter { bytes[$0] == UInt8(ascii: ".") }
        precondition(dots.count == 2, "not a JWS compact token")
        signingInput = Array(bytes[..<dots[1]])
        guard let signature = Base64URL.decode(bytes: bytes[(dots[1] + 1)...]) else { fatalError("bad base64url signature") }
        self.signature = signature
    }
}

/// Owns per-benchmark mutable state (the closures are @Sendable; each benchmark runs on one thread).
final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// A request as route matching sees it.
struct BenchRequest: RoutableRequest {
    let method: String
    let host: String?
    let path: String
    let headers: [String: String]

    func headerValue(_ lowercasedName: String) -> String? { headers[lowercasedName] }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("TollgateMicro: \(message)\n".utf8))
    fatalError(message)
}

/// Reports wrong answers seen inside a measured loop (none expected).
func checkNoFailures(_ name: String, _ failures: Int) {
    if failures > 0 { fail("\(name): \(failures) verifications gave the wrong answer inside the measured loop") }
}

// MARK: Benchmarks

/// A fixed "now" between the fixtures' iat (1 700 000 000) and exp (4 102 444 800).
let now: Double = 1_800_000_000

let algorithms: [JWTAlgorithm] = [
    .rs256, .rs384, .rs512, .ps256, .ps384, .ps512, .es256, .es384, .es512, .edDSA, .hs256, .hs384, .hs512,
]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 200,
        maxDuration: .seconds(2),
        maxIterations: 10_000_000)

    // 1. Signature only, context reused (a long-lived verifier, as each event loop has).
    for algorithm in algorithms {
        let name = "sig \(algorithm)"
        let key = Fixtures.key(algorithm)
        let parts = SignedParts(Fixtures.validToken(algorithm))
        var tampered = parts.signature
        tampered[tampered.count / 2] ^= 0x01
        let verifier = Box(SignatureVerifier())
        // Good, bad, good on the same (reused) context, then the measured loop.
        let answers = [parts.signature, tampered, parts.signature, parts.signature].map {
            verifier.value.verify(algorithm, key: key, signingInput: parts.signingInput, signature: $0)
        }
        if answers != [true, false, true, true] { fail("\(name): answers with a reused context were \(answers), expected [true, false, true, true]") }

        Benchmark(name) { benchmark in
            let verifier = verifier.value
            var failures = 0
            for _ in benchmark.scaledIterations {
                let ok = verifier.verify(algorithm, key: key, signingInput: parts.signingInput, signature: parts.signature)
                if !ok { failures += 1 }
                blackHole(ok)
            }
            checkNoFailures(name, failures)
        }
    }

    // 1b. Signature only with a new verifier per call: what context reuse saves.
    for algorithm in [JWTAlgorithm.rs256, .ps256, .es256, .edDSA, .hs256] {
        let name = "sig-cold \(algorithm)"
        let key = Fixtures.key(algorithm)
        let parts = SignedParts(Fixtures.validToken(algorithm))
        Benchmark(name) { benchmark in
            var failures = 0
            for _ in benchmark.scaledIterations {
                let ok = SignatureVerifier().verify(algorithm, key: key, signingInput: parts.signingInput, signature: parts.signature)
                if !ok { failures += 1 }
                blackHole(ok)
            }
            checkNoFailures(name, failures)
        }
    }

    // 2. Whole token, uncached: parse, base64url, JSON, key choice, signature, claims.
    for algorithm in algorithms {
        let name = "token \(algorithm)"
        let token = Fixtures.validToken(algorithm)
        let issuers = [Fixtures.snapshot.issuers[Fixtures.issuerName(algorithm)]!]
        let keys = Fixtures.issuerKeys
        let verifier = Box(SignatureVerifier())
        switch JWTVerifier.verify(token, issuers: issuers, now: now, signatures: verifier.value, keys: { keys[$0.name] }) {
        case .success: break
        case let .failure(failure): fail("\(name): the fixture token does not verify: \(failure)")
        }

        Benchmark(name) { benchmark in
            let verifier = verifier.value
            var failures = 0
            for _ in benchmark.scaledIterations {
                let result = JWTVerifier.verify(token, issuers: issuers, now: now, signatures: verifier, keys: { keys[$0.name] })
                if case .failure = result { failures += 1 }
                blackHole(result)
            }
            checkNoFailures(name, failures)
        }
    }

    // 3. The cached path: a hit in a full cache (10 000 entries), as AuthenticatePhase does it.
    do {
        let token = Fixtures.token("scoped-tier-array-containing-gold") // 586 bytes, RS256
        let verifier = SignatureVerifier()
        let keys = Fixtures.issuerKeys
        guard case let .success(verified) = JWTVerifier.verify(
            token, issuers: [Fixtures.snapshot.issuers["rsa"]!], now: now, signatures: verifier, keys: { keys[$0.name] })
        else { fail("cache: the fixture token does not verify") }
        var cache = TokenCache()
        // 9 999 other tokens of the same length and issuer (their last 8 characters differ), then ours.
        let prefix = String(token.dropLast(8))
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for index in 0..<(TokenCache.defaultCapacity - 1) {
            var n = index, suffix = ""
            for _ in 0..<8 { suffix.append(alphabet[n % 64]); n /= 64 }
            cache.insert(prefix + suffix, verified: verified, validUntil: verified.expiresAt, now: now)
        }
        cache.insert(token, verified: verified, validUntil: verified.expiresAt, now: now)
        if cache.count != TokenCache.defaultCapacity || cache.lookup(token, now: now)?.subject != "alice" {
            fail("cache: expected \(TokenCache.defaultCapacity) entries and a hit, got \(cache.count)")
        }
        let box = Box(cache)
        let header = "Bearer " + token

        Benchmark("cache hit 586B in 10k", configuration: .init(scalingFactor: .kilo)) { benchmark in
            var misses = 0
            for _ in benchmark.scaledIterations {
                let hit = box.value.lookup(token, now: now)
                if hit == nil { misses += 1 }
                blackHole(hit)
            }
            checkNoFailures("cache hit", misses)
        }

        // What the proxy does per request: String(Substring of the header) (a copy), then the lookup.
        Benchmark("cache hit 586B in 10k, from header Substring", configuration: .init(scalingFactor: .kilo)) { benchmark in
            var misses = 0
            for _ in benchmark.scaledIterations {
                let substring = header.dropFirst(7)
                let hit = box.value.lookup(String(substring), now: now)
                if hit == nil { misses += 1 }
                blackHole(hit)
            }
            checkNoFailures("cache hit from Substring", misses)
        }
    }

    // 4. Route matching over the example policy set (policies/: 2 files, 7 routes).
    do {
        let snapshot: PolicySnapshot
        do {
            snapshot = try PolicyLoader.load(directory: Fixtures.root + "/policies")
        } catch {
            fail("example policies: \(error)")
        }
        let shapes: [(name: String, request: BenchRequest, expected: String?)] = [
            ("route exact hit, 1st of 7 (GET /healthz)",
             BenchRequest(method: "GET", host: "orders.example.com", path: "/healthz", headers: [:]), "health"),
            ("route prefix hit, 4th of 7 (GET /v1/orders/12345)",
             BenchRequest(method: "GET", host: "orders.example.com", path: "/v1/orders/12345", headers: [:]), "orders-read"),
            ("route regex+header hit, 3rd of 7 (POST /v1/orders/<uuid>)",
             BenchRequest(method: "POST", host: "orders.example.com", path: "/v1/orders/0b6d8a2e-5c1f-4e5a-9d2b-7f3c1a9e4b60",
                          headers: ["x-tenant": "acme"]), "orders-write"),
            ("route host-wildcard hit, 6th of 7 (GET /partner/catalog/items)",
             BenchRequest(method: "GET", host: "api.partners.example.com", path: "/partner/catalog/items", headers: [:]), "partner-catalog"),
            ("route miss, all 7 (GET /nothing/here)",
             BenchRequest(method: "GET", host: "orders.example.com", path: "/nothing/here", headers: [:]), nil),
        ]
        for shape in shapes {
            let got = snapshot.route(for: shape.request)?.name
            if got != shape.expected { fail("\(shape.name): matched \(got ?? "nothing"), expected \(shape.expected ?? "nothing")") }
            let request = shape.request, expected = shape.expected
            Benchmark(shape.name, configuration: .init(scalingFactor: .kilo)) { benchmark in
                var wrong = 0
                for _ in benchmark.scaledIterations {
                    let route = snapshot.route(for: request)
                    if route?.name != expected { wrong += 1 }
                    blackHole(route)
                }
                checkNoFailures(shape.name, wrong)
            }
        }
    }
}
