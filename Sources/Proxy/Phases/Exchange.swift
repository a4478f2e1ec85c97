import Core
import NIOCore

/// One request's state from head to log line. Phases read and write it; it is created and used on
/// one event loop only.
final class Exchange: RoutableRequest {
    let requestID: String
    let start: NIODeadline
    let wallClockStart: Double
    /// The snapshot this request runs on from start to end, even if a reload swaps in another.
    let snapshot: PolicySnapshot
    /// The snapshot's key-file and secret keys (installed with it).
    let staticKeys: [String: IssuerKeys]
    let clientIP: String
    let isTLS: Bool
    /// The request head as parsed, and the bytes it was parsed from (reader index at its first).
    let head: HTTPHead
    let headBytes: ByteBuffer
    /// Normalized path (no query): what routes match and what the upstream receives.
    let path: String
    /// The raw query, with its `?`, or empty.
    let query: Substring
    /// The request target is exactly `path` + `query`: the request line goes upstream as it came.
    let targetIsNormalized: Bool
    /// As sent (methods are case-sensitive).
    let method: String
    /// Lower-cased, without port; computed only if a route matches on host.
    lazy var host: String? = Exchange.hostWithoutPort(head.firstValue(.host, in: headBytes))

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
        requestID: String, snapshot: PolicySnapshot, staticKeys: [String: IssuerKeys], clientIP: String, isTLS: Bool, head: HTTPHead,
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
