import Core
import NIOHTTP1

/// Phase 5: a route gated by a flag passes when the flag is on for the subject: the token's `sub`,
/// or the client IP for an anonymous request (spec/policy.md). Static flags from the policy set;
/// the control plane's flags take their place when the sidecar is linked (a later issue).
struct FlagGatePhase: RequestPhase {
    let name = "flag"

    func run(_ exchange: Exchange, on loop: PhaseContext) -> PhaseResult {
        guard let gate = exchange.route?.flag else { return .proceed }
        let subject = exchange.subject ?? exchange.clientIP
        let flag = loop.flagOverrides.isEmpty ? gate.flag : loop.flagOverrides[gate.flag.name] ?? gate.flag
        let on = FlagEvaluator.isOn(flag, subject: subject)
        loop.metrics.recordFlagDecision(flag: flag.name, on: on)
        guard on else {
            let status = HTTPResponseStatus(statusCode: gate.denyStatus)
            return .respond(ProblemResponse(
                status: status, slug: "flag-off", title: status.reasonPhrase, detail: "this route is not available"))
        }
        return .proceed
    }
}
