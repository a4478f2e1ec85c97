import Core

/// Refuses what this build cannot enforce yet, rather than forwarding it unchecked: routes that
/// require a token (the JWT verifier arrives with the identity phases). Default deny, applied to the
/// part of a policy the sidecar does not implement. The authenticate phase replaces this one.
struct FailClosedPhase: RequestPhase {
    let name = "fail-closed"

    func run(_ exchange: Exchange, on loop: LoopContext) -> PhaseResult {
        guard let route = exchange.route else { return .proceed }
        if case .required = route.auth {
            return .respond(ProblemResponse(
                status: .serviceUnavailable, slug: "auth-unavailable", title: "Service Unavailable",
                detail: "route \(route.name) requires a token, and this sidecar build cannot verify tokens yet"))
        }
        return .proceed
    }
}
