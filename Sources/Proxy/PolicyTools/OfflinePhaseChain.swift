import Core
import NIOCore
import NIOHTTP1

/// The sidecar's own phases (route → authenticate → authorize → flag gate → rate limit) run on one
/// request with no socket and no event loop: a `PhaseContext` of its own, the in-process store and
/// a clock the caller sets. `tollgate-proxy test` and `explain` decide with exactly the code
/// `run` uses (there is no second evaluator); only the I/O around it is missing, so a phase that
/// would wait on Redis or a JWKS fetch cannot be reached (no `--redis`, keys installed up front).
final class OfflinePhaseChain {
    struct Request {
        var method: String
        /// Path and query, as on the request line.
        var target: String
        var host: String?
        var headers: [(name: String, value: String)] = []
        var clientIP: String
    }

    /// What the phases decided for one request.
    struct Outcome {
        let exchange: Exchange
        /// The sidecar's own answer; nil when the request would be forwarded.
        let problem: ProblemResponse?
        /// The head the upstream would receive (forwarded requests only).
        let upstreamHead: HTTPRequestHead?

        var route: Route? { exchange.route }
        /// The access log's `decision`: `allowed`, `shadow:<reason>`, or the refusal.
        var decision: String { problem.map { $0.decision ?? $0.slug } ?? exchange.decision }
        /// `forward`, or the status code of the sidecar's answer.
        var status: String { problem.map { String($0.status.code) } ?? "forward" }
        /// Headers of the sidecar's answer, or those it adds to the upstream's response.
        var responseHeaders: [(String, String)] { problem?.headers ?? exchange.responseHeaders }
        /// The limit that refused (or, in shadow, would have), from the decision.
        var limit: String? {
            guard let range = decision.range(of: "rate-limited:") else { return nil }
            return String(decision[range.upperBound...])
        }
    }

    private let policy: ActivePolicy
    private let fetchedKeys: [String: FetchedKeys]
    private(set) var context: PhaseContext
    /// Builds the upstream's head as `run` would (no trusted proxies: the client IP is the peer).
    let forward = ForwardPhase(trustedProxies: .none)
    private var sent = 0

    /// `fetchedKeys`: keys of `jwks_url` issuers, fetched beforehand (explain with a real token).
    init(policy: ActivePolicy, fetchedKeys: [String: FetchedKeys] = [:]) {
        self.policy = policy
        self.fetchedKeys = fetchedKeys
        self.context = Self.makeContext(policy: policy, fetchedKeys: fetchedKeys)
    }

    private static func makeContext(policy: ActivePolicy, fetchedKeys: [String: FetchedKeys]) -> PhaseContext {
        // No Redis and no key refetcher: a phase that would wait on I/O cannot be reached.
        let context = PhaseContext(policy: policy, buckets: InProcessBuckets())
        context.fetchedKeys = fetchedKeys
        context.frozenTime = 0
        return context
    }

    /// Starts over: empty buckets, an empty token cache, the clock at `time`, and these flag states
    /// in place of the policy's defaults of the same name.
    func reset(time: Double = 0, flags: [String: FlagDefault] = [:]) {
        context = Self.makeContext(policy: policy, fetchedKeys: fetchedKeys)
        context.frozenTime = time
        context.flagOverrides = flags
    }

    /// The clock the phases read (Unix seconds).
    var time: Double {
        get { context.frozenTime ?? 0 }
        set { context.frozenTime = newValue }
    }

    /// Runs the request through the phases, as `ProxyHandler` does once a request head has arrived.
    func send(_ request: Request) -> Outcome {
        sent += 1
        // The request as bytes, parsed by the sidecar's own parser, as a connection would.
        var text = request.method + " " + request.target + " HTTP/1.1\r\n"
        if let host = request.host { text += "host: " + host + "\r\n" }
        for header in request.headers { text += header.name + ": " + header.value + "\r\n" }
        text += "\r\n"
        let bytes = ByteBuffer(string: text)
        var parser = HTTPHeadParser(.request)
        let head: HTTPHead
        do throws(HTTPHeadError) {
            guard let parsed = try parser.parseRequest(bytes) else { preconditionFailure("a whole head was given") }
            head = parsed
        } catch {
            let unparsed = HTTPHead(kind: .request)
            let exchange = Exchange(
                requestID: .given("offline-\(sent)"), snapshot: context.snapshot, staticKeys: context.staticKeys, clientIP: request.clientIP,
                isTLS: false, head: unparsed, headBytes: bytes, path: request.target, query: "", targetIsNormalized: true)
            return Outcome(exchange: exchange, problem: .malformed(error), upstreamHead: nil)
        }

        let uri = request.target
        let queryStart = uri.utf8.firstIndex(of: UInt8(ascii: "?")) ?? uri.utf8.endIndex
        let normalized = RequestPath.normalize(uri[..<queryStart].utf8)
        let path: String
        var unchanged = true
        switch normalized {
        case let .success(bytes):
            path = String(decoding: bytes, as: UTF8.self)
            unchanged = path[...] == uri[..<queryStart]
        case .failure: path = String(uri[..<queryStart])
        }
        let exchange = Exchange(
            requestID: .given("offline-\(sent)"), snapshot: context.snapshot, staticKeys: context.staticKeys, clientIP: request.clientIP,
            isTLS: false, head: head, headBytes: bytes, path: path, query: uri[queryStart...], targetIsNormalized: unchanged)
        if case let .failure(problem) = normalized {
            return Outcome(exchange: exchange, problem: .badRequest("invalid request path: \(problem)"), upstreamHead: nil)
        }

        let listener = Listener()
        context.phases.run(exchange, on: context, delegate: listener)
        guard let finished = listener.finished else {
            return Outcome(
                exchange: exchange, problem: .serviceUnavailable("the phases waited on I/O that a run without sockets does not have"),
                upstreamHead: nil)
        }
        if let problem = finished { return Outcome(exchange: exchange, problem: problem, upstreamHead: nil) }
        return Outcome(exchange: exchange, problem: nil, upstreamHead: Self.headers(of: forward.upstreamHead(for: exchange, peer: request.clientIP)))
    }

    /// The forwarded head's request line and fields, read back with the parser.
    private static func headers(of forwarded: ByteBuffer) -> HTTPRequestHead? {
        var parser = HTTPHeadParser(.request)
        guard let head = try? parser.parseRequest(forwarded) else { return nil }
        var headers = HTTPHeaders()
        for field in head.fields { headers.add(name: forwarded.string(of: field.name), value: forwarded.string(of: field.value)) }
        return HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: forwarded.string(of: head.methodSpan)),
            uri: forwarded.string(of: head.target), headers: headers)
    }

    /// Hears how the chain ended.
    private final class Listener: PhaseChainDelegate {
        /// nil until the chain ends; then the problem, or `.some(nil)` when every phase passed.
        var finished: ProblemResponse??

        func phasesFinished(_ exchange: Exchange, problem: ProblemResponse?) {
            finished = .some(problem)
        }
    }
}

@available(*, unavailable)
extension OfflinePhaseChain: Sendable {}
