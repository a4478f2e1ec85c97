/// Phase 2: the first route of the request's snapshot that matches; none is 404 (default deny).
struct RoutePhase: RequestPhase {
    let name = "route"

    func run(_ exchange: Exchange, on loop: PhaseContext) -> PhaseResult {
        guard let route = exchange.snapshot.route(for: exchange) else {
            return .respond(.routeNotFound())
        }
        exchange.route = route
        return .proceed
    }
}
