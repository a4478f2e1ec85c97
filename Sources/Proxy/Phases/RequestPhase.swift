import NIOCore

/// What a phase decided.
enum PhaseResult {
    /// Go on to the next phase.
    case proceed
    /// Stop here and answer with this.
    case respond(ProblemResponse)
    /// The phase needs I/O (a Redis round trip, a JWKS fetch). When it has its answer, on the same
    /// event loop and never before `run` has returned, it calls `PhaseChain.resume` with it.
    case pending
}

/// A step of the request's life before it is forwarded: route → authenticate → authorize → flag
/// gate → rate limit (see docs/request-lifecycle.md). Each phase runs on the connection's event loop
/// and may only touch the exchange and that loop's state.
protocol RequestPhase {
    var name: String { get }
    func run(_ exchange: Exchange, on loop: PhaseContext) -> PhaseResult
}

/// Who hears how the phases ended: the connection's handler.
protocol PhaseChainDelegate: AnyObject {
    /// `problem` is the answer a phase chose, or nil when every phase let the request through.
    func phasesFinished(_ exchange: Exchange, problem: ProblemResponse?)
}

/// Runs phases in order. A phase that waits on I/O returns `.pending`; the chain's place and its
/// delegate are kept on the exchange until the phase calls `resume`, so waiting costs no closure,
/// promise or future of the chain's own.
///
/// On a route in `mode: shadow` a refusal does not end the chain: it is recorded on the exchange
/// (`shadow:<reason>` in the access log, counted) and the next phase runs as if it had passed.
/// The chain runs the same way with no socket at all (`tollgate-proxy test` and `explain`).
struct PhaseChain {
    let phases: [any RequestPhase]

    func run(_ exchange: Exchange, on loop: PhaseContext, delegate: any PhaseChainDelegate) {
        run(exchange, on: loop, from: 0, delegate: delegate)
    }

    /// The pending phase's answer: the chain goes on after it (or waits again on `.pending`).
    func resume(_ exchange: Exchange, with result: PhaseResult, on loop: PhaseContext) {
        guard let delegate = exchange.phaseDelegate else { return }
        switch result {
        case .pending:
            return
        case .proceed:
            exchange.phaseDelegate = nil
            run(exchange, on: loop, from: exchange.phaseIndex + 1, delegate: delegate)
        case let .respond(problem):
            exchange.phaseDelegate = nil
            if exchange.route?.mode == .shadow {
                exchange.letThrough(problem, loop: loop)
                return run(exchange, on: loop, from: exchange.phaseIndex + 1, delegate: delegate)
            }
            delegate.phasesFinished(exchange, problem: problem)
        }
    }

    private func run(_ exchange: Exchange, on loop: PhaseContext, from index: Int, delegate: any PhaseChainDelegate) {
        var index = index
        while index < phases.count {
            switch phases[index].run(exchange, on: loop) {
            case .proceed:
                index += 1
            case let .respond(problem):
                if exchange.route?.mode == .shadow {
                    exchange.letThrough(problem, loop: loop)
                    index += 1
                    continue
                }
                delegate.phasesFinished(exchange, problem: problem)
                return
            case .pending:
                exchange.phaseIndex = index
                exchange.phaseDelegate = delegate
                return
            }
        }
        delegate.phasesFinished(exchange, problem: nil)
    }
}
