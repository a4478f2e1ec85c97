import NIOCore

/// What a phase decided.
enum PhaseResult {
    /// Go on to the next phase.
    case proceed
    /// Stop here and answer with this.
    case respond(ProblemResponse)
    /// The phase needs I/O (a Redis round trip, a JWKS fetch); it completes on the same event loop.
    case suspend(EventLoopFuture<PhaseResult>)
}

/// A step of the request's life before it is forwarded: route → authenticate → authorize → flag
/// gate → rate limit (see docs/request-lifecycle.md). Each phase runs on the connection's event loop
/// and may only touch the exchange and that loop's state.
protocol RequestPhase {
    var name: String { get }
    func run(_ exchange: Exchange, on loop: LoopContext) -> PhaseResult
}

/// Who hears how the phases ended: the connection's handler.
protocol PhaseChainDelegate: AnyObject {
    /// `problem` is the answer a phase chose, or nil when every phase let the request through.
    func phasesFinished(_ exchange: Exchange, problem: ProblemResponse?)
}

/// Runs phases in order; a `.suspend` resumes the chain when its future completes. The delegate is
/// told the outcome: at once when no phase suspends (no closure or future made per request), or
/// when the last suspension resumes.
struct PhaseChain {
    let phases: [any RequestPhase]

    func run(_ exchange: Exchange, on loop: LoopContext, from index: Int = 0, delegate: some PhaseChainDelegate) {
        var index = index
        while index < phases.count {
            switch phases[index].run(exchange, on: loop) {
            case .proceed:
                index += 1
            case let .respond(problem):
                delegate.phasesFinished(exchange, problem: problem)
                return
            case let .suspend(future):
                let next = index + 1
                future.assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(.proceed), .success(.suspend):
                        self.run(exchange, on: loop, from: next, delegate: delegate)
                    case let .success(.respond(problem)):
                        delegate.phasesFinished(exchange, problem: problem)
                    case let .failure(error):
                        delegate.phasesFinished(exchange, problem: .serviceUnavailable("\(phases[next - 1].name) failed: \(error)"))
                    }
                }
                return
            }
        }
        delegate.phasesFinished(exchange, problem: nil)
    }
}
