// `openssl speed`, the same way for Tollgate's verifier: one thread runs one operation over and over
// for a fixed time and reports time / count (no per-operation clock reads, no malloc interposer),
// so its µs/op compares directly with `openssl speed`'s verify/s. See Benchmarks/run.sh.
//
//   speed-loop [--seconds N] [--sig] [--direct] [--token] [ALG ...]
//
// --sig: SignatureVerifier.verify alone (context reused); --direct: the OpenSSL calls it makes, made
// directly (Direct.swift); --token: JWTVerifier.verify of the whole token. --sig and --token when
// none is given; every algorithm when none is named. Measurements run algorithm by algorithm (all
// modes of one algorithm back to back). Prints a table, and for scripts one line per measurement:
// `+SPEED:<mode>:<ALG>:<µs/op wall>:<µs/op CPU>:<ops>:<bytes>` (bytes: the JWS signing input's
// length, for `openssl speed -bytes` with HMAC).

import BenchSupport
import Core
import Foundation
#if canImport(Glibc)
import Glibc
#endif

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

struct Measurement {
    let operations: Int
    let wall: Double
    let cpu: Double
}

/// Runs `operation` in batches until `seconds` have passed; a batch is sized to take about 10 ms so
/// that reading the clock costs nothing measurable. Returns false from `operation` = wrong answer.
func measure(seconds: Double, _ operation: () -> Bool) -> Measurement {
    // Warm up (and size the batch) on about 50 ms.
    var batch = 1
    var warmStart = monotonicSeconds()
    while true {
        for _ in 0..<batch where !operation() { fail("wrong answer during warm-up") }
        let elapsed = monotonicSeconds() - warmStart
        if elapsed >= 0.05 {
            batch = max(1, Int(Double(batch) * 0.01 / elapsed))
            break
        }
        batch *= 2
        warmStart = monotonicSeconds()
    }
    var operations = 0
    var wrong = 0
    let cpuStart = threadCPUSeconds()
    let start = monotonicSeconds()
    var now = start
    repeat {
        for _ in 0..<batch where !operation() { wrong += 1 }
        operations += batch
        now = monotonicSeconds()
    } while now - start < seconds
    let cpu = threadCPUSeconds() - cpuStart
    if wrong > 0 { fail("\(wrong) wrong answers in the measured loop") }
    return Measurement(operations: operations, wall: now - start, cpu: cpu)
}

// MARK: Arguments

var seconds = 3.0
var modes: [String] = []
var selected: [JWTAlgorithm] = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--seconds":
        guard let value = arguments.popFirst().flatMap(Double.init), value > 0 else { fail("--seconds needs a positive number") }
        seconds = value
    case "--sig": modes.append("sig")
    case "--token": modes.append("token")
    case "--direct": modes.append("direct")
    case "-h", "--help":
        print("usage: speed-loop [--seconds N] [--sig] [--direct] [--token] [ALG ...]   (ALG: \(Fixtures.algorithms.map(\.rawValue).joined(separator: " ")))")
        exit(0)
    default:
        guard let algorithm = Fixtures.algorithms.first(where: { $0.rawValue.lowercased() == argument.lowercased() }) else {
            fail("unknown argument \(argument)")
        }
        selected.append(algorithm)
    }
}
if modes.isEmpty { modes = ["sig", "token"] }
if selected.isEmpty { selected = Fixtures.algorithms }

// MARK: Run

func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + fill : fill + text
}

print([pad("what", 6, left: true), pad("alg", 6, left: true), pad("ops", 10), pad("seconds", 9), pad("µs/op wall", 12),
       pad("µs/op CPU", 12), pad("ops/s wall", 12)].joined(separator: " "))
for algorithm in selected {
    for mode in modes {
        let token = Fixtures.validToken(algorithm)
        let parts = SignedParts(token)
        let key = Fixtures.key(algorithm)
        let verifier = SignatureVerifier()
        if let problem = reuseProblem(algorithm, verifier: verifier) { fail(problem) }
        let result: Measurement
        if mode == "sig" {
            let input = parts.signingInput, signature = parts.signature
            result = measure(seconds: seconds) {
                verifier.verify(algorithm, key: key, signingInput: input, signature: signature)
            }
        } else if mode == "direct" {
            let direct = DirectVerifier(algorithm)
            result = measure(seconds: seconds) { direct.verify() }
        } else {
            let issuers = [Fixtures.issuer(algorithm)]
            let keys = Fixtures.issuerKeys
            let now = Fixtures.now
            result = measure(seconds: seconds) {
                if case .success = JWTVerifier.verify(token, issuers: issuers, now: now, signatures: verifier, keys: { keys[$0.name] }) {
                    return true
                }
                return false
            }
        }
        let wallMicros = result.wall / Double(result.operations) * 1e6
        let cpuMicros = result.cpu / Double(result.operations) * 1e6
        print([pad(mode, 6, left: true), pad(algorithm.rawValue, 6, left: true), pad("\(result.operations)", 10),
               pad(String(format: "%.2f", result.wall), 9), pad(String(format: "%.3f", wallMicros), 12),
               pad(String(format: "%.3f", cpuMicros), 12), pad(String(format: "%.0f", Double(result.operations) / result.wall), 12)]
            .joined(separator: " "))
        print("+SPEED:\(mode):\(algorithm.rawValue):\(String(format: "%.4f", wallMicros)):\(String(format: "%.4f", cpuMicros)):\(result.operations):\(parts.signingInput.count)")
        fflush(nil)
    }
}
