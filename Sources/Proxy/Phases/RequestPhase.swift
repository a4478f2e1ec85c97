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

/// Runs phases in order; a `.suspend` resumes the chain when its future completes.
struct PhaseChain {
    let phases: [any RequestPhase]

    func run(_ exchange: Exchange, on loop: LoopContext, from index: Int = 0, completion: @escaping (ProblemResponse?) -> Void) {
        var index = index
        while index < phases.count {
            switch phases[index].run(exchange, on: loop) {
            case .proceed:
                index += 1
            case let .respond(problem):
                completion(problem)
                return
            case let .suspend(future):
                let next = index + 1
                future.assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(.proceed), .success(.suspend):
                        self.run(exchange, on: loop, from: next, completion: completion)
                    case let .success(.respond(problem)):
                        completion(problem)
                    case let .failure(error):
                        completion(.serviceUnavailable("\(phases[next - 1].name) failed: \(error)"))
                    }
                }
                return
            }
        }
        completion(nil)
    }
}
