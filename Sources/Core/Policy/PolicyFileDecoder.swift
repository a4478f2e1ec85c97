import Foundation
import Yams

/// What one policy file declares, checked on its own. References to names that may live in other
/// files (issuers, limits, flags) stay unresolved until `PolicySetBuilder` sees the whole set.
struct PolicyFileDraft {
    let path: String
    /// False when the YAML did not parse: the set-level checks cannot know what such a file declares.
    var parsed = true
    var service: (value: String, node: YAMLNode)?
    var issuers: [(name: String, key: YAMLNode, policy: IssuerPolicy?)] = []
    var limits: [(name: String, key: YAMLNode, policy: RateLimitPolicy?)] = []
    var flags: [(name: String, key: YAMLNode, policy: FlagDefault?)] = []
    var routes: [RouteDraft] = []
}

struct NameReference {
    let name: String
    let node: YAMLNode
}

struct RouteDraft {
    enum Auth {
        case none
        case required(issuers: [NameReference], scopes: [String], claims: [ClaimRule], optional: Bool)
    }

    let node: YAMLNode
    let name: String?
    let nameNode: YAMLNode?
    let match: RouteMatch?
    let auth: Auth?
    let flag: (reference: NameReference, denyStatus: Int)?
    let limits: [NameReference]
    let forward: ForwardPolicy?
    var mode: PolicyMode? = .enforce
}

/// Reads one policy file's YAML into a draft, reporting every problem the file has on its own:
/// YAML syntax, unknown keys, wrong types, durations, rates, match shapes, patterns, algorithms,
/// issuer key sources and key files.
final class PolicyFileDecoder {
    /// Resolves key file paths (relative ones against the policy directory) and remembers what was read.
    let keyFiles: KeyFileReader
    var log = DiagnosticLog()

    init(keyFiles: KeyFileReader) {
        self.keyFiles = keyFiles
    }

    static let topLevelKeys = ["version", "service", "issuers", "limits", "flags", "routes"]
    static let supportedVersion = 1

    func decode(yaml text: String, path: String, displayPath: String) -> PolicyFileDraft {
        var draft = PolicyFileDraft(path: path)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            log.append(Self.diagnostic(for: error, file: displayPath, text: text))
            draft.parsed = false
            return draft
        }
        guard let root else {
            log.error(.missingKey, at: SourceLocation(file: displayPath, line: 1, column: 1), path: "",
                      "empty policy file: expected a mapping with \"version: \(Self.supportedVersion)\"")
            return draft
        }
        let document = YAMLNode(node: root, file: displayPath, path: "")
        guard let top = document.fields(&log, allowed: Self.topLevelKeys) else { return draft }

        if let version = top.required("version", &log), let number = version.integer(&log),
           number != Self.supportedVersion {
            log.error(.unsupportedVersion, at: version,
                      "unsupported version \(number) (this sidecar reads version \(Self.supportedVersion))")
        }
        if let service = top["service"], let value = name(service) {
            draft.service = (value, service)
        }
        if let issuers = top["issuers"]?.namedEntries(&log) {
            draft.issuers = issuers.map { entry in
                (entry.name, entry.key, validName(entry.name, at: entry.key) ? issuer(entry.name, entry.value) : nil)
            }
        }
        if let limits = top["limits"]?.namedEntries(&log) {
            draft.limits = limits.map { entry in
                (entry.name, entry.key, validName(entry.name, at: entry.key) ? limit(entry.name, entry.value) : nil)
            }
        }
        if let flags = top["flags"]?.namedEntries(&log) {
            draft.flags = flags.map { entry in
                (entry.name, entry.key, validName(entry.name, at: entry.key) ? flag(entry.name, entry.value) : nil)
            }
        }
        if let routes = top["routes"]?.sequence(&log) {
            draft.routes = routes.map(route)
        }
        return draft
    }

    // MARK: Names

    /// Names appear in metrics labels, Redis keys and RateLimit header fields: keep them plain.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 128, isAlphanumeric(first) else { return false }
        return name.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    private func validName(_ name: String, at node: YAMLNode) -> Bool {
        guard Self.isValidName(name) else {
            log.error(.invalidValue, at: node,
                      "invalid name \"\(name)\": use letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit (at most 128)")
            return false
        }
        return true
    }

    private func name(_ node: YAMLNode) -> String? {
        guard let value = node.nonEmptyString(&log) else { return nil }
        return validName(value, at: node) ? value : nil
    }

    // MARK: Issuers

    static let issuerKeys = ["issuer", "jwks_url", "keys", "secret_env", "audiences", "algorithms", "clock_skew", "refresh"]
    static let keySourceKeys = ["jwks_url", "keys", "secret_env"]

    private func issuer(_ name: String, _ node: YAMLNode) -> IssuerPolicy? {
        guard let fields = node.fields(&log, allowed: Self.issuerKeys) else { return nil }
        let issuer = fields.required("issuer", &log).flatMap { $0.nonEmptyString(&log) }

        let sources = Self.keySourceKeys.filter { fields[$0] != nil }
        if sources.count != 1 {
            let found = sources.isEmpty ? "none is set" : "it sets " + sources.joined(separator: " and ")
            log.error(.issuerKeySource, at: node, "needs exactly one of jwks_url, keys or secret_env; \(found)")
        }
        let symmetric = sources == ["secret_env"]
        var algorithms = symmetric ? [JWTAlgorithm.hs256] : JWTAlgorithm.asymmetricDefaults
        var algorithmsValid = true
        if let list = fields["algorithms"] {
            let parsed = self.algorithms(list, symmetric: sources.count == 1 ? symmetric : nil)
            algorithmsValid = parsed != nil
            algorithms = parsed ?? []
        }

        // Each source present is checked, even when there are several, so one run reports everything.
        let url = fields["jwks_url"].flatMap { jwksURL($0) }
        let secret = fields["secret_env"].flatMap { environmentName($0) }
        let files = fields["keys"].flatMap {
            keyFileList($0, algorithms: algorithmsValid && sources.count == 1 ? algorithms : nil)
        }
        var source: IssuerPolicy.KeySource?
        if sources.count == 1 {
            source = url.map { .jwksURL($0) } ?? secret.map { .secretEnvironment($0) } ?? files.map { .keyFiles($0) }
        }

        let audiences = fields["audiences"].flatMap { $0.stringList(&log) }?.map(\.value) ?? []
        let clockSkew = fields["clock_skew"].map { duration($0) } ?? .seconds(30)
        var refresh: Duration? = .seconds(300)
        if let node = fields["refresh"] {
            refresh = duration(node, minimum: .seconds(1))
            if sources.count == 1, sources[0] != "jwks_url" {
                log.error(.invalidValue, at: node, "refresh applies only to an issuer with jwks_url")
            }
        }
        guard let issuer, let source, algorithmsValid, let clockSkew, let refresh else { return nil }
        return IssuerPolicy(
            name: name, issuer: issuer, keySource: source, audiences: audiences, algorithms: algorithms,
            clockSkew: clockSkew, refresh: refresh, location: node.location)
    }

    /// The allow-list. `symmetric` is what the issuer's key source admits (nil when that is unknown
    /// because the source itself is wrong): HMAC algorithms only with `secret_env`, and only HMAC there.
    private func algorithms(_ node: YAMLNode, symmetric: Bool?) -> [JWTAlgorithm]? {
        guard let items = node.stringList(&log) else { return nil }
        var result: [JWTAlgorithm] = []
        var ok = true
        if items.isEmpty {
            log.error(.badAlgorithm, at: node, "must list at least one algorithm")
            return nil
        }
        for (text, item) in items {
            guard let algorithm = JWTAlgorithm(rawValue: text) else {
                ok = false
                if text.lowercased() == "none" {
                    log.error(.badAlgorithm, at: item, "algorithm \"none\" is never accepted: tokens must be signed")
                } else {
                    let supported = JWTAlgorithm.allCases.map(\.rawValue)
                    let hint = DidYouMean.hint(for: text, among: supported)
                    log.error(.badAlgorithm, at: item,
                              "unsupported algorithm \"\(text)\"\(hint); supported: \(supported.joined(separator: ", "))")
                }
                continue
            }
            if result.contains(algorithm) {
                ok = false
                log.error(.invalidValue, at: item, "algorithm \(algorithm) is listed twice")
                continue
            }
            if let symmetric, algorithm.isSymmetric != symmetric {
                ok = false
                let why = symmetric
                    ? "\(algorithm) needs a public key, but this issuer has only secret_env (an HMAC secret)"
                    : "\(algorithm) is an HMAC algorithm and needs secret_env; with public keys it would allow algorithm confusion"
                log.error(.badAlgorithm, at: item, why)
                continue
            }
            result.append(algorithm)
        }
        return ok ? result : nil
    }

    private func jwksURL(_ node: YAMLNode) -> String? {
        guard let text = node.nonEmptyString(&log) else { return nil }
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else {
            log.error(.invalidValue, at: node, "jwks_url must be an absolute http:// or https:// URL, got \"\(text)\"")
            return nil
        }
        return text
    }

    private func environmentName(_ node: YAMLNode) -> String? {
        guard let text = node.nonEmptyString(&log) else { return nil }
        let valid = text.utf8.first.map { !($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) } == true
            && text.utf8.allSatisfy { Self.isAlphanumeric($0) || $0 == UInt8(ascii: "_") }
        guard valid else {
            log.error(.invalidValue, at: node, "secret_env must name an environment variable ([A-Za-z_][A-Za-z0-9_]*), got \"\(text)\"")
            return nil
        }
        return text
    }

    private func keyFileList(_ node: YAMLNode, algorithms: [JWTAlgorithm]?) -> [IssuerPolicy.KeyFile]? {
        guard let items = node.stringList(&log) else { return nil }
        if items.isEmpty {
            log.error(.issuerKeySource, at: node, "keys must list at least one key file")
            return nil
        }
        var files: [IssuerPolicy.KeyFile] = []
        for (path, item) in items {
            switch keyFiles.read(path) {
            case let .failure(reason):
                log.error(.keyFile, at: item, "key file \"\(path)\" \(reason)")
            case let .success(contents):
                if let problem = KeyFileCheck.problem(path: path, contents: contents, algorithms: algorithms) {
                    log.error(.keyFile, at: item, "key file \"\(path)\" \(problem)")
                } else {
                    files.append(IssuerPolicy.KeyFile(path: path, contents: contents))
                }
            }
        }
        return files.count == items.count ? files : nil
    }

    // MARK: Durations and limits

    private func duration(_ node: YAMLNode, minimum: Duration = .zero) -> Duration? {
        guard let text = node.string(&log) else { return nil }
        guard let value = PolicyDuration.parse(text) else {
            log.error(.badDuration, at: node, "invalid duration \"\(text)\": use a whole number and ms, s, m or h (e.g. 250ms, 30s, 5m, 1h)")
            return nil
        }
        guard value >= minimum else {
            log.error(.badDuration, at: node, "duration \(text) is too short (at least \(PolicyDuration.format(minimum)))")
            return nil
        }
        return value
    }

    static let limitKeys = ["rate", "burst", "key", "cost", "on_error", "local", "mode"]
    static let keyPartNames = ["ip", "route", "method", "subject", "claim:NAME", "header:NAME"]

    private func limit(_ name: String, _ node: YAMLNode) -> RateLimitPolicy? {
        guard let fields = node.fields(&log, allowed: Self.limitKeys) else { return nil }
        var rate: Rate?
        if let node = fields.required("rate", &log), let text = node.string(&log) {
            rate = Rate(parsing: text)
            if rate == nil {
                log.error(.badRate, at: node, "invalid rate \"\(text)\": use N/s, N/m, N/h or N/d with N from 1 to \(Rate.maximumTokens) (e.g. 10/s)")
            }
        }
        let burst = fields["burst"].map { $0.integer(in: 1...Rate.maximumTokens, &log) } ?? rate?.tokens
        let cost = fields["cost"].map { $0.integer(in: 1...Rate.maximumTokens, &log) } ?? 1
        if let costNode = fields["cost"], let cost, let burst, cost > burst {
            log.error(.invalidValue, at: costNode, "cost \(cost) exceeds burst \(burst): no request could ever pass")
        }
        let key = fields.required("key", &log).flatMap(keyParts)
        var onError: RateLimitPolicy.OnError? = .allow
        if let node = fields["on_error"], let text = node.string(&log) {
            onError = RateLimitPolicy.OnError(rawValue: text)
            if onError == nil {
                log.error(.invalidValue, at: node, "on_error must be allow or deny, got \"\(text)\"")
            }
        }
        let local = fields["local"].map { $0.boolean(&log) } ?? false
        let mode = policyMode(fields["mode"])
        guard let rate, let burst, let cost, cost <= burst, let key, let onError, let local, let mode else { return nil }
        return RateLimitPolicy(
            name: name, rate: rate, burst: burst, key: key, cost: cost, onError: onError, local: local, mode: mode,
            location: node.location)
    }

    private func keyParts(_ node: YAMLNode) -> [KeyPart]? {
        guard let items = node.stringList(&log) else { return nil }
        if items.isEmpty {
            log.error(.invalidValue, at: node, "key must list at least one part (\(Self.keyPartNames.joined(separator: ", ")))")
            return nil
        }
        var parts: [KeyPart] = []
        for (text, item) in items {
            guard let part = KeyPart(parsing: text) else {
                let hint = DidYouMean.hint(for: text, among: ["ip", "route", "method", "subject"])
                log.error(.invalidValue, at: item, "unknown key part \"\(text)\"\(hint); use \(Self.keyPartNames.joined(separator: ", "))")
                continue
            }
            if case let .header(header) = part, !HTTPToken.isValid(header) {
                log.error(.invalidValue, at: item, "\"\(header)\" is not a valid header name")
                continue
            }
            if parts.contains(part) {
                log.error(.invalidValue, at: item, "key part \(part) is listed twice")
                continue
            }
            parts.append(part)
        }
        return parts.count == items.count ? parts : nil
    }

    /// `mode: enforce` (the default) or `mode: shadow`.
    private func policyMode(_ node: YAMLNode?) -> PolicyMode? {
        guard let node else { return .enforce }
        guard let text = node.string(&log) else { return nil }
        guard let mode = PolicyMode(rawValue: text) else {
            log.error(.invalidValue, at: node, "mode must be enforce or shadow, got \"\(text)\"")
            return nil
        }
        return mode
    }

    // MARK: Flags

    static let flagKeys = ["enabled", "rollout"]

    private func flag(_ name: String, _ node: YAMLNode) -> FlagDefault? {
        guard let fields = node.fields(&log, allowed: Self.flagKeys) else { return nil }
        let enabled = fields.required("enabled", &log).flatMap { $0.boolean(&log) }
        let rollout = fields["rollout"].map { $0.integer(in: 0...100, &log) } ?? 100
        guard let enabled, let rollout else { return nil }
        return FlagDefault(name: name, enabled: enabled, rollout: rollout, location: node.location)
    }

    // MARK: Routes

    static let routeKeys = ["name", "match", "auth", "flag", "limits", "forward", "mode"]
    static let matchKeys = ["path", "prefix", "regex", "methods", "host", "headers"]
    static let authKeys = ["issuers", "scopes", "claims", "optional"]
    static let flagGateKeys = ["name", "deny_status"]
    static let forwardKeys = ["claims", "strip_authorization"]

    private func route(_ node: YAMLNode) -> RouteDraft {
        guard let fields = node.fields(&log, allowed: Self.routeKeys) else {
            return RouteDraft(node: node, name: nil, nameNode: nil, match: nil, auth: nil, flag: nil, limits: [], forward: nil)
        }
        let nameNode = fields.required("name", &log)
        let routeName = nameNode.flatMap(name)
        let match = fields.required("match", &log).flatMap(routeMatch)
        let authNode = fields["auth"]
        if authNode == nil {
            log.error(.missingKey, at: node, "missing required key \"auth\" (write auth: none for a public route)")
        }
        let auth = authNode.flatMap(routeAuth)
        var flag: (NameReference, Int)?
        if let flagNode = fields["flag"], let gate = flagNode.fields(&log, allowed: Self.flagGateKeys),
           let nameNode = gate.required("name", &log), let flagName = nameNode.nonEmptyString(&log) {
            // An invalid deny_status is already reported; the flag's name is still worth resolving.
            let status = gate["deny_status"].flatMap { $0.integer(in: 400...599, &log) } ?? 404
            flag = (NameReference(name: flagName, node: nameNode), status)
        }
        var limits: [NameReference] = []
        if let list = fields["limits"]?.stringList(&log) {
            for (limitName, item) in list {
                if limits.contains(where: { $0.name == limitName }) {
                    log.error(.invalidValue, at: item, "limit \"\(limitName)\" is listed twice")
                } else {
                    limits.append(NameReference(name: limitName, node: item))
                }
            }
        }
        var forward: ForwardPolicy? = .default
        if let forwardNode = fields["forward"] {
            forward = self.forward(forwardNode, anonymous: { if case .some(.none) = auth { true } else { false } }())
        }
        return RouteDraft(
            node: node, name: routeName, nameNode: nameNode, match: match, auth: auth, flag: flag,
            limits: limits, forward: forward, mode: policyMode(fields["mode"]))
    }

    private func routeMatch(_ node: YAMLNode) -> RouteMatch? {
        guard let fields = node.fields(&log, allowed: Self.matchKeys) else { return nil }
        let kinds = ["path", "prefix", "regex"].filter { fields[$0] != nil }
        guard kinds.count == 1, let kindNode = fields[kinds[0]] else {
            let found = kinds.isEmpty ? "none is set" : "it sets " + kinds.joined(separator: " and ")
            log.error(.matchKind, at: node, "needs exactly one of path, prefix or regex; \(found)")
            // Still check the rest, so one run reports every problem.
            for kind in kinds {
                guard let node = fields[kind], let text = node.nonEmptyString(&log) else { continue }
                if kind == "regex" {
                    _ = pattern(text, at: node)
                } else if let problem = RequestPath.problemWithPolicyPath(text) {
                    log.error(.invalidValue, at: node, problem)
                }
            }
            _ = methods(fields["methods"]); _ = host(fields["host"]); _ = headerMatches(fields["headers"])
            return nil
        }
        var path: RouteMatch.PathMatch?
        if let text = kindNode.nonEmptyString(&log) {
            switch kinds[0] {
            case "regex":
                path = pattern(text, at: kindNode).map { .regex($0) }
            default:
                if let problem = RequestPath.problemWithPolicyPath(text) {
                    log.error(.invalidValue, at: kindNode, problem)
                } else {
                    path = kinds[0] == "path" ? .exact(text) : .prefix(text)
                }
            }
        }
        let methods = methods(fields["methods"])
        let host = host(fields["host"])
        let headers = headerMatches(fields["headers"])
        guard let path, let methods, let host, let headers else { return nil }
        return RouteMatch(path: path, methods: methods.value, host: host.value, headers: headers)
    }

    private func pattern(_ text: String, at node: YAMLNode, caseInsensitive: Bool = false) -> PCRE2Regex? {
        do {
            return try PCRE2Regex(text, caseInsensitive: caseInsensitive)
        } catch {
            log.error(.badPattern, at: node, "invalid regex: \(error)")
            return nil
        }
    }

    /// Wrapped so that "absent" (matches everything) differs from "invalid".
    private struct Present<T> { let value: T? }

    private func methods(_ node: YAMLNode?) -> Present<Set<String>>? {
        guard let node else { return Present(value: nil) }
        guard let items = node.stringList(&log) else { return nil }
        if items.isEmpty {
            log.error(.invalidValue, at: node, "methods must list at least one method (leave it out to match every method)")
            return nil
        }
        var methods: Set<String> = []
        var ok = true
        for (method, item) in items {
            if !HTTPToken.isValid(method) || method.uppercased() != method {
                ok = false
                log.error(.invalidValue, at: item, "invalid method \"\(method)\": methods are case-sensitive upper-case tokens, e.g. \"\(method.uppercased())\"")
            } else if !methods.insert(method).inserted {
                ok = false
                log.error(.invalidValue, at: item, "method \(method) is listed twice")
            }
        }
        return ok ? Present(value: methods) : nil
    }

    private func host(_ node: YAMLNode?) -> Present<RouteMatch.HostMatch>? {
        guard let node else { return Present(value: nil) }
        guard let text = node.nonEmptyString(&log) else { return nil }
        let host = text.lowercased()
        let wildcard = host.hasPrefix("*.")
        let body = wildcard ? String(host.dropFirst(2)) : host
        let valid = !body.isEmpty && body.utf8.allSatisfy {
            Self.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
                || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]")
        }
        guard valid else {
            log.error(.invalidValue, at: node, "invalid host \"\(text)\": give a host name without port or scheme, optionally starting with \"*.\"")
            return nil
        }
        return Present(value: wildcard ? .wildcardSuffix("." + body) : .exact(host))
    }

    private func headerMatches(_ node: YAMLNode?) -> [RouteMatch.HeaderMatch]? {
        guard let node else { return [] }
        guard let entries = node.namedEntries(&log) else { return nil }
        var matches: [RouteMatch.HeaderMatch] = []
        var ok = true
        for entry in entries {
            let header = entry.name.lowercased()
            guard HTTPToken.isValid(header) else {
                ok = false
                log.error(.invalidValue, at: entry.key, "\"\(entry.name)\" is not a valid header name")
                continue
            }
            if matches.contains(where: { $0.name == header }) {
                ok = false
                log.error(.invalidValue, at: entry.key, "header \"\(header)\" is listed twice (header names are case-insensitive)")
                continue
            }
            guard let text = entry.value.string(&log), let regex = pattern(text, at: entry.value) else {
                ok = false
                continue
            }
            matches.append(RouteMatch.HeaderMatch(name: header, pattern: regex))
        }
        return ok ? matches : nil
    }

    private func routeAuth(_ node: YAMLNode) -> RouteDraft.Auth? {
        if case .scalar = node.node {
            guard let text = node.string(&log) else { return nil }
            guard text == "none" else {
                log.error(.invalidValue, at: node, "auth must be \"none\" or a mapping with issuers, got \"\(text)\"")
                return nil
            }
            return RouteDraft.Auth.none
        }
        guard let fields = node.fields(&log, allowed: Self.authKeys) else { return nil }
        var issuers: [NameReference] = []
        if let list = fields.required("issuers", &log).flatMap({ $0.stringList(&log) }) {
            if list.isEmpty, let listNode = fields["issuers"] {
                log.error(.invalidValue, at: listNode, "issuers must name at least one issuer (use auth: none for a public route)")
            }
            for (issuer, item) in list {
                if issuers.contains(where: { $0.name == issuer }) {
                    log.error(.invalidValue, at: item, "issuer \"\(issuer)\" is listed twice")
                } else {
                    issuers.append(NameReference(name: issuer, node: item))
                }
            }
        }
        let scopes = fields["scopes"].flatMap { $0.stringList(&log) }?.map(\.value) ?? []
        var claims: [ClaimRule] = []
        if let entries = fields["claims"]?.namedEntries(&log) {
            for entry in entries {
                guard let values = entry.value.sequence(&log) else { continue }
                if values.isEmpty {
                    log.error(.invalidValue, at: entry.value, "claim \"\(entry.name)\" must list at least one allowed value")
                }
                let allowed = values.compactMap(claimValue)
                if !values.isEmpty, allowed.count == values.count {
                    claims.append(ClaimRule(claim: entry.name, allowed: allowed))
                }
            }
        }
        // An invalid `optional` is already reported; the references are still worth checking.
        let optional = fields["optional"].flatMap { $0.boolean(&log) } ?? false
        return .required(issuers: issuers, scopes: scopes, claims: claims, optional: optional)
    }

    private func claimValue(_ node: YAMLNode) -> ClaimRule.Value? {
        guard case let .scalar(scalar) = node.node else {
            log.error(.wrongType, at: node, "expected a string, number or boolean, got \(node.kindDescription)")
            return nil
        }
        switch node.scalarKind {
        case .integer: return Int(scalar.string).map { .integer($0) }
        case .boolean: return .boolean(scalar.string.lowercased() == "true")
        case .string: return .string(scalar.string)
        case .float, .null, .none:
            log.error(.wrongType, at: node, "expected a string, integer or boolean, got \(node.kindDescription)")
            return nil
        }
    }

    /// Headers the sidecar manages itself or that change how a message is framed; a claim written
    /// into one would break the proxy's own guarantees.
    static let reservedHeaders: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "proxy-connection", "authorization", "cookie",
        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id", "traceparent", "tracestate",
    ]

    private func forward(_ node: YAMLNode, anonymous: Bool) -> ForwardPolicy? {
        guard let fields = node.fields(&log, allowed: Self.forwardKeys) else { return nil }
        var claims: [ForwardPolicy.ClaimHeader] = []
        var ok = true
        if let claimsNode = fields["claims"], let entries = claimsNode.namedEntries(&log) {
            if anonymous, !entries.isEmpty {
                ok = false
                log.error(.invalidValue, at: claimsNode, "forward.claims needs a verified token, but this route has auth: none")
            }
            for entry in entries {
                guard let headerName = entry.value.nonEmptyString(&log) else { ok = false; continue }
                let header = headerName.lowercased()
                if !HTTPToken.isValid(header) {
                    ok = false
                    log.error(.invalidValue, at: entry.value, "\"\(headerName)\" is not a valid header name")
                } else if Self.reservedHeaders.contains(header) {
                    ok = false
                    log.error(.invalidValue, at: entry.value, "header \"\(header)\" is managed by the sidecar and cannot carry a claim")
                } else if let other = claims.first(where: { $0.header == header }) {
                    ok = false
                    log.error(.invalidValue, at: entry.value, "header \"\(header)\" already carries claim \"\(other.claim)\"")
                } else {
                    claims.append(ForwardPolicy.ClaimHeader(claim: entry.name, header: header))
                }
            }
        }
        let strip = fields["strip_authorization"].map { $0.boolean(&log) } ?? true
        guard ok, let strip else { return nil }
        return ForwardPolicy(claims: claims, stripAuthorization: strip)
    }

    // MARK: YAML errors

    static func diagnostic(for error: any Error, file: String, text: String) -> PolicyDiagnostic {
        func at(_ mark: (line: Int, column: Int), _ message: String) -> PolicyDiagnostic {
            PolicyDiagnostic(.yamlSyntax, at: SourceLocation(file: file, line: mark.line, column: mark.column), path: "", message)
        }
        guard let error = error as? YamlError else {
            return PolicyDiagnostic(.yamlSyntax, file: file, "invalid YAML: \(error)")
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return at((mark.line, mark.column), "invalid YAML: \(problem)\(detail)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let key = duplicates.first ?? "?"
            let first = (line: context.mark.line, column: context.mark.column)
            let second = secondOccurrence(of: key, after: first, in: text) ?? first
            return at(second, "duplicate key \"\(key)\" (first at line \(context.mark.line))")
        case let .reader(problem, offset, _, yaml):
            let position = offset.map { mark(ofCharacterOffset: $0, in: yaml) } ?? (1, 1)
            return at(position, "unreadable YAML: \(problem)")
        default:
            return PolicyDiagnostic(.yamlSyntax, file: file, "invalid YAML: \(error)")
        }
    }

    /// Yams points a duplicate key at its first occurrence; the author wants the repeat. In block
    /// style the repeat starts in the same column on a later line.
    private static func secondOccurrence(
        of key: String, after first: (line: Int, column: Int), in text: String
    ) -> (line: Int, column: Int)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard first.line >= 1, first.line <= lines.count else { return nil }
        for index in first.line..<lines.count {
            let scalars = Array(lines[index].unicodeScalars)
            guard scalars.count >= first.column else { continue }
            let rest = String(String.UnicodeScalarView(scalars[(first.column - 1)...]))
            if scalars[..<(first.column - 1)].allSatisfy({ $0 == " " || $0 == "-" }),
               rest.hasPrefix(key + ":") || rest.hasPrefix("\"\(key)\":") || rest.hasPrefix("'\(key)':") {
                return (index + 1, first.column)
            }
        }
        return nil
    }

    private static func mark(ofCharacterOffset offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for character in text.prefix(offset) {
            if character == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}
