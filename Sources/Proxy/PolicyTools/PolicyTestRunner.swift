import Core
import NIOHTTP1

/// Runs the cases of policy test files through `OfflinePhaseChain`: each case starts with empty
/// buckets at time 0, its file's flag states, and the file's tokens; `repeat`/`every` step the clock.
struct PolicyTestRunner {
    /// One request of a case and what the phases decided.
    struct Step {
        let time: Double
        let request: PolicyTestFile.Request
        let outcome: OfflinePhaseChain.Outcome
    }

    struct CaseResult {
        let file: String
        let name: String
        let location: SourceLocation
        /// `expected …, got …`, one per check that failed (request number first when repeated).
        let failures: [String]
        let steps: [Step]

        var passed: Bool { failures.isEmpty }
    }

    let chain: OfflinePhaseChain
    let tokens: [String: [String: String]]

    /// Prepares a key for every issuer the files' tokens name, and signs the tokens.
    init(snapshot: PolicySnapshot, files: [PolicyTestFile]) throws {
        var mint = TestTokenMint()
        for file in files {
            for token in file.tokens.values.sorted(by: { $0.name < $1.name }) {
                do {
                    try mint.prepare(token.issuer)
                } catch {
                    throw TestTokenMint.Failure(description: "\(token.location): tokens.\(token.name): \(error)")
                }
            }
        }
        var tokens: [String: [String: String]] = [:]
        for file in files {
            tokens[file.path] = try file.tokens.mapValues { try mint.token($0) }
        }
        self.tokens = tokens
        self.chain = OfflinePhaseChain(policy: ActivePolicy(snapshot: snapshot, staticKeys: mint.keys))
    }

    func run(_ file: PolicyTestFile) -> [CaseResult] {
        file.cases.map { run($0, in: file) }
    }

    private func run(_ testCase: PolicyTestFile.Case, in file: PolicyTestFile) -> CaseResult {
        chain.reset(time: 0, flags: file.flags)
        let request = testCase.request
        var offline = OfflinePhaseChain.Request(method: request.method, target: request.target, host: request.host, clientIP: request.clientIP)
        offline.headers = request.headers
        if let name = request.token, let token = tokens[file.path]?[name] {
            offline.headers.append(("authorization", "Bearer " + token))
        }
        var steps: [Step] = []
        var failures: [String] = []
        let every = request.every.secondsDouble
        for index in 0..<request.repeatCount {
            chain.time = Double(index) * every
            let outcome = chain.send(offline)
            steps.append(Step(time: chain.time, request: request, outcome: outcome))
            let prefix = request.repeatCount > 1 ? "request \(index + 1) of \(request.repeatCount): " : ""
            failures += Self.check(testCase.each, outcome).map { prefix + $0 }
        }
        if let last = testCase.last, let outcome = steps.last?.outcome {
            failures += Self.check(last, outcome).map { "last request: " + $0 }
        }
        return CaseResult(file: file.path, name: testCase.name, location: testCase.location, failures: failures, steps: steps)
    }

    /// Every way `outcome` differs from `expected`, as `expected X, got Y`.
    static func check(_ expected: PolicyTestFile.Expectation, _ outcome: OfflinePhaseChain.Outcome) -> [String] {
        var failures: [String] = []
        let summary = "\(outcome.status) (\(outcome.decision))"
        if let status = expected.status, status.description != outcome.status {
            failures.append("expected status \(status), got \(summary)")
        }
        if let route = expected.route, route != outcome.route?.name {
            failures.append("expected route \(route ?? "none"), got \(outcome.route?.name ?? "none")")
        }
        if let reason = expected.reason, !matches(reason: reason, decision: outcome.decision) {
            failures.append("expected reason \(reason), got \(outcome.decision)")
        }
        if let limit = expected.limit, limit != outcome.limit {
            failures.append("expected limit \(limit), got \(outcome.limit.map { "limit \($0)" } ?? summary)")
        }
        if !expected.upstreamHeaders.isEmpty {
            if let head = outcome.upstreamHead {
                for (name, value) in expected.upstreamHeaders {
                    let got = head.headers[name].isEmpty ? nil : head.headers[name].joined(separator: ", ")
                    if got != value { failures.append("expected upstream header \(name): \(value ?? "(absent)"), got \(got ?? "(absent)")") }
                }
            } else {
                failures.append("expected upstream headers, but the request was not forwarded: \(summary)")
            }
        }
        for (name, value) in expected.responseHeaders {
            let values = outcome.responseHeaders.filter { $0.0.lowercased() == name }.map(\.1)
            let got = values.isEmpty ? nil : values.joined(separator: ", ")
            if got != value { failures.append("expected header \(name): \(value ?? "(absent)"), got \(got ?? "(absent)")") }
        }
        return failures
    }

    /// `reason` names the whole decision (`invalid-token:expired`) or one of its `:`-separated ends
    /// (`invalid-token`, `expired`; `shadow:…` for shadow mode).
    static func matches(reason: String, decision: String) -> Bool {
        decision == reason || decision.hasPrefix(reason + ":") || decision.hasSuffix(":" + reason)
    }
}

@available(*, unavailable)
extension PolicyTestRunner: Sendable {}
