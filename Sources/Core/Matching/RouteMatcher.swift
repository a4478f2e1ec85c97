/// What route matching needs to know of a request; the sidecar's request type provides it without
/// copying headers.
public protocol RoutableRequest {
    /// Case-sensitive, as sent.
    var method: String { get }
    /// Lower-cased, without port; nil when the request has no Host.
    var host: String? { get }
    /// Normalized (see `RequestPath`), without the query.
    var path: String { get }
    /// All values of a header joined with ", " (as Envoy's header matchers see them), or nil.
    func headerValue(_ lowercasedName: String) -> String?
}

extension PolicySnapshot {
    /// The first route that matches, in policy order; nil means 404 (default deny).
    public func route(for request: some RoutableRequest) -> Route? {
        for route in routes where route.match.matches(request) {
            return route
        }
        return nil
    }
}

extension RouteMatch {
    /// Cheapest checks first: path comparison, then method, host, and header patterns last.
    public func matches(_ request: some RoutableRequest) -> Bool {
        guard path.matches(request.path) else { return false }
        if let methods, !methods.contains(request.method) { return false }
        if let host {
            guard let requestHost = request.host, host.matches(requestHost) else { return false }
        }
        for header in headers {
            guard let value = request.headerValue(header.name), header.pattern.isMatch(value) else { return false }
        }
        return true
    }
}

extension RouteMatch.PathMatch {
    public func matches(_ path: String) -> Bool {
        switch self {
        case let .exact(expected):
            return path == expected
        case let .prefix(prefix):
            guard path.utf8.starts(with: prefix.utf8) else { return false }
            // Segment-aware: "/v1/orders" must not match "/v1/ordersx".
            if path.utf8.count == prefix.utf8.count || prefix.utf8.last == UInt8(ascii: "/") { return true }
            return path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: prefix.utf8.count)] == UInt8(ascii: "/")
        case let .regex(regex):
            return regex.isMatch(path)
        }
    }
}

extension RouteMatch.HostMatch {
    public func matches(_ host: String) -> Bool {
        switch self {
        case let .exact(expected):
            return host == expected
        case let .wildcardSuffix(suffix):
            return host.utf8.count > suffix.utf8.count && host.hasSuffix(suffix)
        }
    }
}
