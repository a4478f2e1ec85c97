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
// Inputs: BenchSupport's Fixtures (Tests/Fixtures/jwt and policies/). Every setup checks the answers
// first (a valid signature verifies, a tampered one does not, also on a reused context), and every
// measured loop counts wrong answers: a benchmark of a verifier that says "false" would be a lie.
// Operations under ~2 µs run 1000 times per sample (scalingFactor .kilo; the reported time is per
// operation), so the two clock reads per sample do not weigh on them.

import Benchmark
import BenchSupport
import Core
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Owns per-benchmark mutable state (the closures are @Sendable; each benchmark runs on one thread).
final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Stops the run on wrong answers seen inside a measured loop (none expected).
func checkNoFailures(_ name: String, _ failures: Int) {
    if failures > 0 { fail("\(name): \(failures) wrong answers inside the measured loop") }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 200,
        maxDuration: .seconds(2),
        maxIterations: 10_000_000)
    let now = Fixtures.now
    let fast = Benchmark.Configuration(scalingFactor: .kilo)

    // 1. Signature only, context reused (a long-lived verifier, as each event loop has).
    for algorithm in Fixtures.algorithms {
        let name = "sig \(algorithm)"
        let key = Fixtures.key(algorithm)
        let parts = SignedParts(Fixtures.validToken(algorithm))
        let verifier = Box(SignatureVerifier())
        if let problem = reuseProblem(algorithm, verifier: verifier.value) { fail("\(name): \(problem)") }

        Benchmark(name, configuration: algorithm.isSymmetric ? fast : Benchmark.defaultConfiguration) { benchmark in
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

    // 2. Whole token, uncached: split, base64url, JSON, key choice, signature, claims.
    for algorithm in Fixtures.algorithms {
        let name = "token \(algorithm)"
        let token = Fixtures.validToken(algorithm)
        let issuers = [Fixtures.issuer(algorithm)]
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
        let keys = Fixtures.issuerKeys
        guard case let .success(verified) = JWTVerifier.verify(
            token, issuers: [Fixtures.issuer(.rs256)], now: now, signatures: SignatureVerifier(), keys: { keys[$0.name] })
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
            fail("cache: expected \(TokenCache.defaultCapacity) entries and a hit, got \(cache.count) entries")
        }
        let box = Box(cache)
        let header = "Bearer " + token

        Benchmark("cache hit 586B in 10k", configuration: fast) { benchmark in
            var misses = 0
            for _ in benchmark.scaledIterations {
                let hit = box.value.lookup(token, now: now)
                if hit == nil { misses += 1 }
                blackHole(hit)
            }
            checkNoFailures("cache hit", misses)
        }

        // What the proxy does per request: String(Substring of the header) (a copy), then the lookup.
        Benchmark("cache hit 586B in 10k, from header Substring", configuration: fast) { benchmark in
            var misses = 0
            for _ in benchmark.scaledIterations {
                let hit = box.value.lookup(String(header.dropFirst(7)), now: now)
                if hit == nil { misses += 1 }
                blackHole(hit)
            }
            checkNoFailures("cache hit from Substring", misses)
        }
    }

    // 4. Route matching over the example policy set (policies/: 2 files, 7 routes).
    let snapshot = Fixtures.examplePolicies
    for shape in routeShapes {
        let got = snapshot.route(for: shape.request)?.name
        if got != shape.expected { fail("\(shape.name): matched \(got ?? "nothing"), expected \(shape.expected ?? "nothing")") }
        let request = shape.request, expected = shape.expected, name = shape.name
        Benchmark(name, configuration: fast) { benchmark in
            var wrong = 0
            for _ in benchmark.scaledIterations {
                let route = snapshot.route(for: request)
                if route?.name != expected { wrong += 1 }
                blackHole(route)
            }
            checkNoFailures(name, wrong)
        }
    }

    // 5. Head parsing: the plain route's ~200-byte GET, Tollgate's HTTPHeadParser against NIO's
    //    HTTPRequestDecoder (llhttp + Strings for the URI and every field, through a
    //    ByteToMessageHandler in an EmbeddedChannel, as in the proxy's pipeline today).
    let plainHead = HeadParseBench.plainGet
    if let problem = HeadParseBench.check() { fail("head parse: \(problem)") }
    Benchmark("head parse 200B GET (HTTPHeadParser)", configuration: fast) { benchmark in
        var parser = HTTPHeadParser(.request)
        let buffer = ByteBuffer(string: plainHead)
        var wrong = 0
        for _ in benchmark.scaledIterations {
            let head = try? parser.parseRequest(buffer)
            if head?.length != buffer.readableBytes { wrong += 1 }
            blackHole(head)
        }
        checkNoFailures("head parse (HTTPHeadParser)", wrong)
    }
    Benchmark("head parse 200B GET (NIO HTTPRequestDecoder)", configuration: fast) { benchmark in
        let channel = HeadParseBench.nioChannel()
        let buffer = channel.allocator.buffer(string: plainHead)
        var wrong = 0
        for _ in benchmark.scaledIterations {
            try? channel.writeInbound(buffer)
            guard case .head(let head)? = try? channel.readInbound(as: HTTPServerRequestPart.self),
                case .end? = try? channel.readInbound(as: HTTPServerRequestPart.self)
            else { wrong += 1; continue }
            blackHole(head)
        }
        checkNoFailures("head parse (NIO)", wrong)
    }
}

/// The head of the plain route's request as wrk sends it in bench/run-proxy-bench.sh (~200 bytes).
enum HeadParseBench {
    static let plainGet =
        "GET /plain/items?id=7 HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: wrk/4.2 (bench)\r\n"
        + "Accept: */*\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\nX-Trace: 0af7651916cd43dd8448eb211c80319c\r\n\r\n"

    static func nioChannel() -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try! channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
        return channel
    }

    /// Both parsers read the same head before either is timed.
    static func check() -> String? {
        var parser = HTTPHeadParser(.request)
        let buffer = ByteBuffer(string: plainGet)
        guard let head = try? parser.parseRequest(buffer), head.length == buffer.readableBytes, head.fields.count == 6 else {
            return "HTTPHeadParser did not parse the head"
        }
        let channel = nioChannel()
        try? channel.writeInbound(buffer)
        guard case .head(let nio)? = try? channel.readInbound(as: HTTPServerRequestPart.self), nio.headers.count == 6,
            nio.uri == buffer.string(of: head.target)
        else { return "NIO did not parse the head alike" }
        return nil
    }
}
