import Core

/// Refuses what this build cannot enforce yet, rather than forwarding it unchecked: routes that
/// require a token (the JWT verifier arrives with the identity phases), and flag gates that are off
/// or below a 100% rollout (bucketing arrives with them too). Default deny, applied to the parts of
/// a policy the sidecar does not implement. The identity phases replace this one.
struct FailClosedPhase: RequestPhase {
    let name = "fail-closed"

    func run(_ exchange: Exchange, on loop: LoopContext) -> PhaseResult {
        guard let route = exchange.route else { return .proceed }
        if case .required = route.auth {
            return .respond(ProblemResponse(
                status: .serviceUnavailable, slug: "auth-unavailable", title: "Service Unavailable",
                detail: "route \(route.name) requires a token, and this sidecar build cannot verify tokens yet"))
        }
        if let gate = route.flag, !(gate.flag.enabled && gate.flag.rollout == 100) {
            return .respond(ProblemResponse(
                status: .init(statusCode: gate.denyStatus), slug: "flag-off", title: "Not Found",
                detail: "this route is not available"))
        }
        return .proceed
    }
}
