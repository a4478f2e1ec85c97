import Foundation
import Yams

/// One `tollgate-proxy test` file (spec/policy.md "Policy tests"): test tokens, flag states, and
/// cases, each a request (maybe repeated on the runner's clock) and the decision the policy must reach.
/// Decoded against the policy set it tests, so a case naming an unknown token, route, limit or flag
/// is a file error (`FILE:LINE:COL: PATH: message`), not a failing case.
public struct PolicyTestFile: Sendable {
    /// A test token: the issuer by its policy name, and the claims. The runner signs it with a key of
    /// its own that it gives that issuer; every other check of the sidecar applies.
    public struct Token: Sendable {
        public let name: String
        public let issuer: IssuerPolicy
        /// As written; the runner adds `iss`, `exp` (one hour after time 0) and `aud` (the issuer's
        /// first audience) when they are absent.
        public let claims: [String: JSONValue]
        public let location: SourceLocation

        public init(name: String, issuer: IssuerPolicy, claims: [String: JSONValue], location: SourceLocation) {
            self.name = name
            self.issuer = issuer
            self.claims = claims
            self.location = location
        }
    }

    public struct Request: Sendable {
        public let method: String
        /// Path and query, as on the request line.
        public let target: String
        public let host: String
        /// In order, names as written.
        public let headers: [(name: String, value: String)]
        /// The token's name in `tokens`.
        public let token: String?
        /// The client address the limits and flags see.
        public let clientIP: String
        /// How many times the request is sent (default 1), `every` apart on the runner's clock.
        public let repeatCount: Int
        public let every: Duration
    }

    public enum Status: Sendable, Hashable, CustomStringConvertible {
        /// The phases let the request through to the upstream.
        case forward
        case code(Int)

        public var description: String {
            switch self {
            case .forward: "forward"
            case let .code(code): String(code)
            }
        }
    }

    /// What a response must show; nil fields are not checked.
    public struct Expectation: Sendable {
        public let status: Status?
        /// `.some(nil)`: no route may match.
        public let route: String??
        /// The access log's decision (`invalid-token:expired`), or one of its `:`-separated ends
        /// (`invalid-token`, `expired`).
        public let reason: String?
        /// The limit that refused (429).
        public let limit: String?
        /// Headers the upstream must receive (nil value: must not receive).
        public let upstreamHeaders: [(name: String, value: String?)]
        /// Headers of the sidecar's own answer, or added to the upstream's (`ratelimit`).
        public let responseHeaders: [(name: String, value: String?)]

        public var isEmpty: Bool {
            status == nil && route == nil && reason == nil && limit == nil && upstreamHeaders.isEmpty && responseHeaders.isEmpty
        }
    }

    public struct Case: Sendable {
        public let name: String
        public let request: Request
        /// Checked on every response of the case.
        public let each: Expectation
        /// Checked on the last response only.
        public let last: Expectation?
        public let location: SourceLocation
    }

    public let path: String
    public let tokens: [String: Token]
    /// Flag states for this file; they replace the policy's static defaults of the same name.
    public let flags: [String: FlagDefault]
    public let cases: [Case]

    /// Reads and checks one test file against `snapshot`; every problem is reported at once.
    public static func load(path: String, snapshot: PolicySnapshot) -> Result<PolicyTestFile, PolicyValidationError> {
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(PolicyValidationError([PolicyDiagnostic(.unreadable, file: path, "cannot read the test file")]))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(PolicyValidationError([PolicyDiagnostic(.unreadable, file: path, "file is not valid UTF-8")]))
        }
        return decode(yaml: text, path: path, snapshot: snapshot)
    }

    public static func decode(yaml text: String, path: String, snapshot: PolicySnapshot) -> Result<PolicyTestFile, PolicyValidationError> {
        var decoder = PolicyTestFileDecoder(snapshot: snapshot)
        let file = decoder.decode(text, path: path)
        if let file, decoder.log.isEmpty { return .success(file) }
        return .failure(PolicyValidationError(decoder.log.items))
    }
}

/// Reads a test file's YAML with the same node reader, typing rules and messages as policy files.
struct PolicyTestFileDecoder {
    let snapshot: PolicySnapshot
    var log = DiagnosticLog()

    static let topLevelKeys = ["version", "tokens", "flags", "cases"]
    static let tokenKeys = ["issuer", "claims"]
    static let caseKeys = ["name", "request", "expect"]
    static let requestKeys = ["method", "path", "host", "headers", "token", "ip", "repeat", "every"]
    static let expectKeys = ["status", "route", "reason", "limit", "upstream_headers", "headers", "last"]

    mutating func decode(_ text: String, path: String) -> PolicyTestFile? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            log.append(PolicyFileDecoder.diagnostic(for: error, file: path, text: text))
            return nil
        }
        guard let root else {
            log.error(.missingKey, at: SourceLocation(file: path, line: 1, column: 1), path: "", "empty test file: expected \"version: 1\" and cases")
            return nil
        }
        let document = YAMLNode(node: root, file: path, path: "")
        guard let top = document.fields(&log, allowed: Self.topLevelKeys) else { return nil }
        if let version = top.required("version", &log), let number = version.integer(&log), number != 1 {
            log.error(.unsupportedVersion, at: version, "unsupported version \(number) (this runner reads version 1)")
        }
        var tokens: [String: PolicyTestFile.Token] = [:]
        var tokenNames: Set<String> = []
        for entry in top["tokens"]?.namedEntries(&log) ?? [] {
            tokenNames.insert(entry.name)
            if let token = token(entry.name, entry.value) { tokens[entry.name] = token }
        }
        var flags: [String: FlagDefault] = [:]
        for entry in top["flags"]?.namedEntries(&log) ?? [] {
            if snapshot.flags[entry.name] == nil {
                let hint = DidYouMean.hint(for: entry.name, among: snapshot.flags.keys.sorted())
                log.error(.unknownReference, at: entry.key, "unknown flag \"\(entry.name)\"\(hint)")
            }
            if let fields = entry.value.fields(&log, allowed: PolicyFileDecoder.flagKeys),
               let enabled = fields.required("enabled", &log).flatMap({ $0.boolean(&log) }) {
                let rollout = fields["rollout"].map { $0.integer(in: 0...100, &log) } ?? 100
                if let rollout {
                    flags[entry.name] = FlagDefault(name: entry.name, enabled: enabled, rollout: rollout, location: entry.value.location)
                }
            }
        }
        var cases: [PolicyTestFile.Case] = []
        if let list = top.required("cases", &log)?.sequence(&log) {
            if list.isEmpty, let node = top["cases"] { log.error(.invalidValue, at: node, "cases must list at least one case") }
            for item in list {
                if let testCase = testCase(item, tokenNames: tokenNames) { cases.append(testCase) }
            }
        }
        return PolicyTestFile(path: path, tokens: tokens, flags: flags, cases: cases)
    }

    private mutating func token(_ name: String, _ node: YAMLNode) -> PolicyTestFile.Token? {
        guard let fields = node.fields(&log, allowed: Self.tokenKeys) else { return nil }
        var issuer: IssuerPolicy?
        if let issuerNode = fields.required("issuer", &log), let issuerName = issuerNode.nonEmptyString(&log) {
            issuer = snapshot.issuers[issuerName]
            if issuer == nil {
                let hint = DidYouMean.hint(for: issuerName, among: snapshot.issuers.keys.sorted())
                log.error(.unknownReference, at: issuerNode, "unknown issuer \"\(issuerName)\"\(hint)")
            }
        }
        var claims: [String: JSONValue] = [:]
        if let claimsNode = fields["claims"] {
            guard case let .object(members)? = json(claimsNode) else {
                log.error(.wrongType, at: claimsNode, "expected a mapping of claims, got \(claimsNode.kindDescription)")
                return nil
            }
            claims = members
        }
        guard let issuer else { return nil }
        return PolicyTestFile.Token(name: name, issuer: issuer, claims: claims, location: node.location)
    }

    /// A YAML value as JSON (claims): YAML 1.2 core-schema scalars, sequences, mappings.
    private mutating func json(_ node: YAMLNode) -> JSONValue? {
        switch node.node {
        case let .scalar(scalar):
            switch node.scalarKind {
            case .integer, .float: return .number(scalar.string, Double(scalar.string) ?? 0)
            case .boolean: return .bool(scalar.string.lowercased() == "true")
            case .null: return .null
            case .string, .none: return .string(scalar.string)
            }
        case .sequence:
            guard let items = node.sequence(&log) else { return nil }
            var values: [JSONValue] = []
            for item in items {
                guard let value = json(item) else { return nil }
                values.append(value)
            }
            return .array(values)
        case .mapping:
            guard let entries = node.namedEntries(&log) else { return nil }
            var members: [String: JSONValue] = [:]
            for entry in entries {
                guard let value = json(entry.value) else { return nil }
                members[entry.name] = value
            }
            return .object(members)
        case .alias:
            log.error(.wrongType, at: node, "aliases are not supported")
            return nil
        }
    }

    private mutating func testCase(_ node: YAMLNode, tokenNames: Set<String>) -> PolicyTestFile.Case? {
        guard let fields = node.fields(&log, allowed: Self.caseKeys) else { return nil }
        let name = fields.required("name", &log).flatMap { $0.nonEmptyString(&log) }
        let parsedRequest = fields.required("request", &log).flatMap { self.request($0, tokenNames: tokenNames) }
        var each: PolicyTestFile.Expectation?
        var last: PolicyTestFile.Expectation?
        if let expectNode = fields.required("expect", &log), let expectFields = expectNode.fields(&log, allowed: Self.expectKeys) {
            each = expectation(expectFields)
            if let lastNode = expectFields["last"], let lastFields = lastNode.fields(&log, allowed: Self.expectKeys.filter { $0 != "last" }) {
                last = expectation(lastFields)
            }
            if let each, each.isEmpty, last == nil || last?.isEmpty == true {
                log.error(.missingKey, at: expectNode, "expect must check something: status, route, reason, limit, upstream_headers, headers or last")
            }
        }
        guard let name, let parsedRequest, let each else { return nil }
        return PolicyTestFile.Case(name: name, request: parsedRequest, each: each, last: last, location: node.location)
    }

    private mutating func request(_ node: YAMLNode, tokenNames: Set<String>) -> PolicyTestFile.Request? {
        guard let fields = node.fields(&log, allowed: Self.requestKeys) else { return nil }
        var method: String? = "GET"
        if let methodNode = fields["method"], let text = methodNode.nonEmptyString(&log) {
            method = text
            if !HTTPToken.isValid(text) {
                log.error(.invalidValue, at: methodNode, "invalid method \"\(text)\"")
                method = nil
            }
        }
        var target: String?
        if let pathNode = fields.required("path", &log), let text = pathNode.nonEmptyString(&log) {
            target = text
            if !text.hasPrefix("/") || text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                log.error(.invalidValue, at: pathNode, "path must start with \"/\" and hold no spaces or control characters")
                target = nil
            }
        }
        let host = fields["host"].flatMap { $0.nonEmptyString(&log) } ?? "localhost"
        var headers: [(name: String, value: String)] = []
        for entry in fields["headers"]?.namedEntries(&log) ?? [] {
            guard let value = entry.value.string(&log) else { continue }
            if !HTTPToken.isValid(entry.name) {
                log.error(.invalidValue, at: entry.key, "\"\(entry.name)\" is not a valid header name")
            } else if value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
                log.error(.invalidValue, at: entry.value, "a header value must not hold control characters")
            } else {
                headers.append((entry.name, value))
            }
        }
        var token: String?
        if let tokenNode = fields["token"], let name = tokenNode.nonEmptyString(&log) {
            token = name
            if !tokenNames.contains(name) {
                log.error(.unknownReference, at: tokenNode, "unknown token \"\(name)\"\(DidYouMean.hint(for: name, among: tokenNames.sorted()))")
            }
        }
        let clientIP = fields["ip"].flatMap { $0.nonEmptyString(&log) } ?? "192.0.2.10"
        let repeatCount = fields["repeat"].map { $0.integer(in: 1...100_000, &log) } ?? 1
        var every: Duration? = .zero
        if let everyNode = fields["every"], let text = everyNode.string(&log) {
            every = PolicyDuration.parse(text)
            if every == nil {
                log.error(.badDuration, at: everyNode, "invalid duration \"\(text)\": use a whole number and ms, s, m or h (e.g. 250ms, 30s, 5m, 1h)")
            }
        }
        guard let method, let target, let repeatCount, let every else { return nil }
        return PolicyTestFile.Request(
            method: method, target: target, host: host, headers: headers, token: token, clientIP: clientIP,
            repeatCount: repeatCount, every: every)
    }

    private mutating func expectation(_ fields: YAMLFields) -> PolicyTestFile.Expectation {
        var status: PolicyTestFile.Status?
        if let node = fields["status"] {
            if node.scalarKind == .integer {
                status = node.integer(in: 100...599, &log).map { .code($0) }
            } else if let text = node.string(&log) {
                if text == "forward" { status = .forward } else {
                    log.error(.invalidValue, at: node, "status must be a number (e.g. 429) or forward, got \"\(text)\"")
                }
            }
        }
        var route: String??
        if let node = fields["route"] {
            if node.scalarKind == .null {
                route = .some(nil)
            } else if let name = node.nonEmptyString(&log) {
                route = .some(name)
                if !snapshot.routes.contains(where: { $0.name == name }) {
                    log.error(.unknownReference, at: node, "unknown route \"\(name)\"\(DidYouMean.hint(for: name, among: snapshot.routes.map(\.name)))")
                }
            }
        }
        let reason = fields["reason"].flatMap { $0.nonEmptyString(&log) }
        var limit: String?
        if let node = fields["limit"], let name = node.nonEmptyString(&log) {
            limit = name
            if snapshot.limits[name] == nil {
                log.error(.unknownReference, at: node, "unknown limit \"\(name)\"\(DidYouMean.hint(for: name, among: snapshot.limits.keys.sorted()))")
            }
        }
        return PolicyTestFile.Expectation(
            status: status, route: route, reason: reason, limit: limit,
            upstreamHeaders: headerExpectations(fields["upstream_headers"]), responseHeaders: headerExpectations(fields["headers"]))
    }

    /// `{ name: value }`; a null value means the header must be absent.
    private mutating func headerExpectations(_ node: YAMLNode?) -> [(name: String, value: String?)] {
        guard let node else { return [] }
        var expected: [(name: String, value: String?)] = []
        for entry in node.namedEntries(&log) ?? [] {
            if entry.value.scalarKind == .null {
                expected.append((entry.name.lowercased(), nil))
            } else if let value = entry.value.string(&log) {
                expected.append((entry.name.lowercased(), value))
            }
        }
        return expected
    }
}
