import Core
import NIOCore

/// One request's state from head to log line. Phases read and write it; it is created and used on
/// one event loop only.
final class Exchange: RoutableRequest {
    private(set) var requestID: RequestID
    private(set) var start: NIODeadline
    private(set) var wallClockStart: Double
    /// The snapshot this request runs on from start to end, even if a reload swaps in another.
    private(set) var snapshot: PolicySnapshot
    /// The snapshot's key-file and secret keys (installed with it).
    private(set) var staticKeys: [String: IssuerKeys]
    private(set) var clientIP: String
    private(set) var isTLS: Bool
    /// The request head as parsed, and the bytes it was parsed from (reader index at its first).
    private(set) var head: HTTPHead
    private(set) var headBytes: ByteBuffer
    /// Normalized path (no query): what routes match and what the upstream receives.
    private(set) var path: String
    /// The raw query, with its `?`, or empty.
    private(set) var query: Substring
    /// The request target is exactly `path` + `query`: the request line goes upstream as it came.
    private(set) var targetIsNormalized: Bool
    /// As sent (methods are case-sensitive).
    private(set) var method: String
    /// Lower-cased, without port; computed only if a route matches on host.
    var host: String? {
        if case let .known(host) = hostState { return host }
        let host = Exchange.hostWithoutPort(head.firstValue(.host, in: headBytes))
        hostState = .known(host)
        return host
    }
    private enum HostState { case unknown, known(String?) }
    private var hostState = HostState.unknown

    var route: Route?
    /// Status sent to the client (0 until a response head is written).
    var status = 0
    /// `allowed`, the slug of the refusal / failure, or `shadow:<slug>` for the first refusal shadow
    /// mode let through.
    var decision = "allowed"
    /// Every refusal shadow mode let through, in order (`rate-limited:per-tenant`, …).
    var shadowed: [String] = []
    var subject: String?
    /// The verified token, when the route required one and it passed.
    var token: VerifiedToken?
    /// Added to the upstream's response (the `RateLimit` fields of an admitted request).
    var responseHeaders: [(String, String)] = []
    /// While a phase waits on I/O: its index and who hears the chain's outcome (see `PhaseChain`).
    var phaseIndex = 0
    var phaseDelegate: (any PhaseChainDelegate)?
    /// While the rate-limit phase waits on Redis: its limits and where they stand.
    var pendingLimits: RateLimitPhase.Pending?
    var upstreamStart: NIODeadline?
    var upstreamEnd: NIODeadline?

    init(
        requestID: RequestID, snapshot: PolicySnapshot, staticKeys: [String: IssuerKeys], clientIP: String, isTLS: Bool, head: HTTPHead,
        headBytes: ByteBuffer, path: String, query: Substring, targetIsNormalized: Bool
    ) {
        self.requestID = requestID
        self.start = .now()
        self.wallClockStart = WallClock.now()
        self.snapshot = snapshot
        self.staticKeys = staticKeys
        self.clientIP = clientIP
        self.isTLS = isTLS
        self.head = head
        self.headBytes = headBytes
        self.path = path
        self.query = query
        self.targetIsNormalized = targetIsNormalized
        self.method = head.method == .GET ? "GET" : headBytes.string(of: head.methodSpan)
    }

    /// The same object for the next request of a loop (see `ExchangePool`): every field as `init`
    /// sets it.
    func reuse(
        requestID: RequestID, snapshot: PolicySnapshot, staticKeys: [String: IssuerKeys], clientIP: String, isTLS: Bool, head: HTTPHead,
        headBytes: ByteBuffer, path: String, query: Substring, targetIsNormalized: Bool
    ) {
        self.requestID = requestID
        self.start = .now()
        self.wallClockStart = WallClock.now()
        self.snapshot = snapshot
        self.staticKeys = staticKeys
        self.clientIP = clientIP
        self.isTLS = isTLS
        self.head = head
        self.headBytes = headBytes
        self.path = path
        self.query = query
        self.targetIsNormalized = targetIsNormalized
        self.method = head.method == .GET ? "GET" : headBytes.string(of: head.methodSpan)
        hostState = .unknown
        route = nil
        status = 0
        decision = "allowed"
        shadowed.removeAll(keepingCapacity: true)
        subject = nil
        token = nil
        responseHeaders.removeAll(keepingCapacity: true)
        phaseIndex = 0
        phaseDelegate = nil
        pendingLimits = nil
        upstreamStart = nil
        upstreamEnd = nil
    }

    /// Lets go of what the request held (its head's bytes, the snapshot, the token) while the
    /// object waits in a pool.
    func release(emptyBuffer: ByteBuffer) {
        headBytes = emptyBuffer
        // The parser reuses its fields array for the next head: nothing else may share it then.
        head = HTTPHead(kind: .request)
        token = nil
        phaseDelegate = nil
        pendingLimits = nil
        responseHeaders.removeAll(keepingCapacity: true)
    }

    /// A refusal shadow mode turns into a note: logged as `shadow:<reason>` (the first one) and
    /// counted in `tollgate_shadow_refusals_total`; the request goes on.
    func letThrough(_ problem: ProblemResponse, loop: PhaseContext) {
        let reason = problem.decision ?? problem.slug
        // A shared shadow limit may answer after the request was refused by an enforcing gate: that
        // refusal stays the decision.
        if shadowed.isEmpty, decision == "allowed" { decision = "shadow:" + reason }
        shadowed.append(reason)
        loop.metrics.recordShadowRefusal(route: route?.name ?? "", reason: reason)
    }

    func headerValue(_ lowercasedName: String) -> String? {
        head.joinedValues(ofLowercased: lowercasedName, in: headBytes)
    }

    /// `Example.com:8080` → `example.com`; `[::1]:8080` → `::1`.
    static func hostWithoutPort(_ host: String?) -> String? {
        guard let text = host, !text.isEmpty else { return nil }
        var host = Substring(text)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        return host.lowercased()
    }
}

@available(*, unavailable)
extension Exchange: Sendable {}
