/// Why a route did not match a request, for `tollgate-proxy explain`: the first criterion that
/// failed, in the order `RouteMatch.matches` checks them and with the same component matchers, so
/// the explanation cannot disagree with the decision.
extension RouteMatch {
    public func mismatch(_ request: some RoutableRequest) -> String? {
        guard path.matches(request.path) else {
            switch path {
            case let .exact(expected): return "path \(request.path) is not \(expected)"
            case let .prefix(prefix): return "path \(request.path) is not below prefix \(prefix)"
            case let .regex(regex): return "path \(request.path) does not match regex \(regex.pattern)"
            }
        }
        if let methods, !methods.contains(request.method) {
            return "method \(request.method) is not one of \(methods.sorted().joined(separator: ", "))"
        }
        if let host {
            guard let requestHost = request.host else { return "the request has no Host; the route needs \(host)" }
            if !host.matches(requestHost) { return "host \(requestHost) does not match \(host)" }
        }
        for header in headers {
            guard let value = request.headerValue(header.name) else { return "header \(header.name) is missing" }
            if !header.pattern.isMatch(value) { return "header \(header.name) does not match \(header.pattern.pattern)" }
        }
        return nil
    }
}

extension RouteMatch.HostMatch: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .exact(host): host
        case let .wildcardSuffix(suffix): "*" + suffix
        }
    }
}
