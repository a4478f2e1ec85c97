import Core
import Foundation
import NIOHTTP1

/// What `explain` reports about one request, read from what the phases did: the exchange they
/// filled in, the answer they chose, and the decisions they counted in the (fresh) context's metrics.
struct Explanation {
    struct RouteTried {
        let name: String
        let location: String
        /// Nil for the route that matched.
        let mismatch: String?
    }

    struct Gate {
        let name: String
        /// `passed`, `refused`, `shadow-refused`, `anonymous`, `skipped` or `not reached`.
        let verdict: String
        let detail: String
    }

    let method: String
    let target: String
    let host: String?
    let clientIP: String
    let policyHash: String
    let routes: [RouteTried]
    let gates: [Gate]
    let outcome: OfflinePhaseChain.Outcome
    let notes: [String]

    init(request: OfflinePhaseChain.Request, outcome: OfflinePhaseChain.Outcome, snapshot: PolicySnapshot, context: PhaseContext, notes: [String]) {
        method = request.method
        target = request.target
        host = request.host
        clientIP = request.clientIP
        policyHash = snapshot.shortHash
        self.outcome = outcome
        self.notes = notes
        let exchange = outcome.exchange
        var tried: [RouteTried] = []
        // A request refused before routing (a malformed head or path) tried no route.
        for route in outcome.problem?.slug == "bad-request" ? [] : snapshot.routes {
            let why = route.match.mismatch(exchange)
            tried.append(RouteTried(name: route.name, location: route.location.description, mismatch: why))
            if why == nil { break }
        }
        routes = tried
        gates = exchange.route.map { Self.gates(of: $0, outcome: outcome, context: context) } ?? []
    }

    private static func gates(of route: Route, outcome: OfflinePhaseChain.Outcome, context: PhaseContext) -> [Gate] {
        let exchange = outcome.exchange
        let metrics = context.metrics.snapshot
        let slug = outcome.problem?.slug
        let shadow = route.mode == .shadow ? " (shadow: not refused)" : ""
        var gates: [Gate] = []

        // authenticate / authorize
        switch route.auth {
        case .none:
            gates.append(Gate(name: "authenticate", verdict: "skipped", detail: "auth: none"))
            gates.append(Gate(name: "authorize", verdict: "skipped", detail: "auth: none"))
        case let .required(requirement):
            let issuers = requirement.issuers.map(\.name).joined(separator: ", ")
            let denied = metrics.authDecisions.keys.first { $0.route == route.name && $0.result == "denied" }
            if let token = exchange.token {
                let header = tokenHeader(exchange.headerValue("authorization"))
                gates.append(Gate(
                    name: "authenticate", verdict: "passed",
                    detail: "issuer \(token.issuerName) (alg \(header.alg ?? "?"), kid \(header.kid ?? "none")), subject \(token.subject ?? "none")"))
                if let denied {
                    let detail = slug == "insufficient-scope" ? outcome.problem?.detail ?? denied.reason : denied.reason
                    gates.append(Gate(name: "authorize", verdict: route.mode == .shadow ? "shadow-refused" : "refused", detail: detail + shadow))
                } else {
                    let scopes = requirement.scopes.isEmpty ? "no scopes required" : "scopes \(requirement.scopes.joined(separator: " ")) present"
                    let claims = requirement.claims.isEmpty ? "" : "; claims \(requirement.claims.map(\.claim).joined(separator: ", ")) accepted"
                    gates.append(Gate(name: "authorize", verdict: "passed", detail: scopes + claims))
                }
            } else if let denied {
                let detail = slug == "invalid-token" || slug == "keys-unavailable"
                    ? "\(outcome.decision): \(outcome.problem?.detail ?? "")" : "\(denied.reason)"
                gates.append(Gate(
                    name: "authenticate", verdict: route.mode == .shadow ? "shadow-refused" : "refused",
                    detail: "issuers \(issuers): \(detail)\(shadow)"))
                gates.append(Gate(name: "authorize", verdict: "skipped", detail: "no verified token"))
            } else {
                gates.append(Gate(name: "authenticate", verdict: "anonymous", detail: "no token, and the route's auth is optional"))
                gates.append(Gate(name: "authorize", verdict: "skipped", detail: "anonymous"))
            }
        }

        // flag gate
        if let gate = route.flag {
            let flag = context.flagOverrides[gate.flag.name] ?? gate.flag
            let subject = exchange.subject ?? exchange.clientIP
            let bucket = FlagEvaluator.bucket(flag: flag.name, subject: subject)
            let detail = "flag \(flag.name): \(flag.enabled ? "enabled" : "disabled"), rollout \(flag.rollout)%, subject \(subject), bucket \(bucket)"
            if let counts = metrics.flagDecisions[flag.name] {
                let on = counts.on > 0
                gates.append(Gate(
                    name: "flag", verdict: on ? "passed" : route.mode == .shadow ? "shadow-refused" : "refused",
                    detail: detail + (on ? "" : "; off answers \(gate.denyStatus)\(shadow)")))
            } else {
                gates.append(Gate(name: "flag", verdict: "not reached", detail: detail))
            }
        } else {
            gates.append(Gate(name: "flag", verdict: "skipped", detail: "no flag"))
        }

        // limits
        for limit in route.limits {
            let key = BucketKey.make(limit, service: exchange.snapshot.service, route: route.name, exchange: exchange)
            let store = limit.mode == .shadow || route.mode == .shadow ? "shadow, in-process" : limit.local || context.redis == nil ? "in-process" : "redis"
            let parameters = "rate \(limit.rate), burst \(limit.burst), cost \(limit.cost), \(store)"
            let results = metrics.rateLimitDecisions.keys.filter { $0.route == route.name && $0.limit == limit.name }.map(\.result)
            let verdict: String
            switch results.first {
            case "allowed"?, "shadow_allowed"?: verdict = "passed"
            case "limited"?: verdict = "refused"
            case "shadow_limited"?: verdict = "shadow-refused"
            case "skipped"?: verdict = "skipped"
            case "error"?: verdict = "error"
            default: verdict = "not reached"
            }
            let keyText = key.map { "key \($0)" } ?? "a key part is missing (\(limit.key.map(\.description).joined(separator: ", ")))"
            gates.append(Gate(name: "limit \(limit.name)", verdict: verdict, detail: "\(keyText); \(parameters)"))
        }
        return gates
    }

    /// `alg` and `kid` of a bearer token's header, read unverified, for the report only.
    private static func tokenHeader(_ authorization: String?) -> (alg: String?, kid: String?) {
        guard let authorization, let token = AuthenticatePhase.bearerToken(authorization),
              let dot = token.firstIndex(of: "."), let bytes = Base64URL.decode(token[..<dot]),
              let header = try? JSONValue.parse(bytes)
        else { return (nil, nil) }
        return (header["alg"]?.stringValue, header["kid"]?.stringValue)
    }

    private var answer: (kind: String, status: Int?, type: String?, detail: String?) {
        guard let problem = outcome.problem else { return ("forward", nil, nil, nil) }
        return ("respond", Int(problem.status.code), "urn:tollgate:problem:" + problem.slug, problem.detail)
    }

    private var upstreamHeaders: [(String, String)] {
        outcome.upstreamHead.map { $0.headers.map { ($0.name.lowercased(), $0.value) } } ?? []
    }

    func text() -> String {
        var out = "\(method) \(host.map { "http://" + $0 } ?? "")\(target) from \(clientIP) (policy \(policyHash))\n"
        for note in notes { out += "note: \(note)\n" }
        out += "routes:\n"
        for (index, route) in routes.enumerated() {
            out += "  \(index + 1). \(route.name) (\(route.location)): \(route.mismatch.map { "no: " + $0 } ?? "MATCH")\n"
        }
        if outcome.route == nil, routes.last?.mismatch != nil { out += "  no route matches\n" }
        if routes.isEmpty { out += "  none tried: the request is refused before routing\n" }
        if !gates.isEmpty {
            out += "gates:\n"
            for gate in gates { out += "  \(gate.name): \(gate.verdict): \(gate.detail)\n" }
        }
        if !outcome.exchange.shadowed.isEmpty {
            out += "shadow: let through \(outcome.exchange.shadowed.joined(separator: ", "))\n"
        }
        let answer = answer
        if answer.kind == "forward" {
            out += "answer: forward (decision \(outcome.decision)); headers sent upstream:\n"
            for (name, value) in upstreamHeaders { out += "  \(name): \(value)\n" }
        } else {
            out += "answer: \(answer.status ?? 0) \(answer.type ?? "") (decision \(outcome.decision)): \(answer.detail ?? "")\n"
        }
        return String(out.dropLast())
    }

    func json() -> String {
        let answer = answer
        var answerObject: [String: Any] = ["kind": answer.kind, "decision": outcome.decision]
        if answer.kind == "forward" {
            answerObject["upstream_headers"] = upstreamHeaders.map { ["name": $0.0, "value": $0.1] }
        } else {
            answerObject["status"] = answer.status
            answerObject["type"] = answer.type
            answerObject["detail"] = answer.detail
        }
        answerObject["headers"] = outcome.responseHeaders.map { ["name": $0.0, "value": $0.1] }
        let object: [String: Any] = [
            "request": ["method": method, "target": target, "host": host as Any, "client_ip": clientIP],
            "policy_hash": policyHash,
            "notes": notes,
            "routes": routes.map { ["name": $0.name, "location": $0.location, "matched": $0.mismatch == nil, "why_not": $0.mismatch as Any] },
            "route": outcome.route?.name as Any,
            "gates": gates.map { ["name": $0.name, "verdict": $0.verdict, "detail": $0.detail] },
            "shadowed": outcome.exchange.shadowed,
            "answer": answerObject,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

@available(*, unavailable)
extension Explanation: Sendable {}
