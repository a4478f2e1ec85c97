import CoreMetrics
import Dispatch
import Hummingbird
import NIOConcurrencyHelpers

/// Request counts, durations and requests in flight, through swift-metrics into this server's
/// registry, under the labels Hummingbird's `MetricsMiddleware` uses (`hb.requests`,
/// `http.server.request.duration`, `http.server.active_requests`; `ControlMetrics` maps them to
/// our names).
///
/// Why not `MetricsMiddleware` itself: it wraps every response body in a closure to count after
/// the body is written, and a closure body loses Hummingbird's fast path that writes head, body
/// and end in one batched write (three writes to the channel instead). Measured on token issuance
/// that cost ~28 µs of server CPU per request, +12 % (docs/benchmarks.md, "Request metrics without
/// the body wrap"). Every answer of this service today is a buffer: it is counted when the handler
/// returns it, and only a streamed body (the change streams to come) is wrapped and counted once
/// written. The metrics are made once per route, method and status and kept here, and they are
/// made with this server's factory directly: no process-wide bootstrap, so servers in one process
/// (the in-process tests) count apart.
///
/// Add it before `ControlMiddleware`: requests are counted with the status of the answer
/// `ControlMiddleware` made of any error.
struct RequestMetrics<Context: RequestContext>: RouterMiddleware {
    let cache: RequestMetricsCache

    init(_ metrics: ControlMetrics) {
        cache = RequestMetricsCache(factory: metrics.factory)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let inFlight = cache.inFlight(request.method)
        inFlight.increment()
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            cache.endpoint(context.endpointPath ?? "NotFound", request.method, status).record(since: start)
            inFlight.decrement()
            throw error
        }
        let endpoint = cache.endpoint(context.endpointPath ?? "Unknown", request.method, response.status)
        guard response.body.isStreamed else {
            endpoint.record(since: start)
            inFlight.decrement()
            return response
        }
        var streamed = response
        let body = response.body
        streamed.body = ResponseBody(contentLength: body.contentLength) { writer in
            defer {
                endpoint.record(since: start)
                inFlight.decrement()
            }
            try await body.write(writer)
        }
        return streamed
    }
}

extension ResponseBody {
    /// Written by a closure (a stream), not one buffer or nothing. Hummingbird does not say; its
    /// `ResponseBody(byteBuffer:)` and `ResponseBody()` report their length, and every closure body
    /// this service makes is a stream of unknown length.
    fileprivate var isStreamed: Bool { contentLength == nil }
}

/// The metrics of each route, method and status, made once.
final class RequestMetricsCache: Sendable {
    struct Endpoint: Sendable {
        let requests: CoreMetrics.Counter
        let duration: CoreMetrics.Timer

        func record(since start: UInt64) {
            requests.increment()
            duration.recordNanoseconds(Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds &- start))
        }
    }

    private struct EndpointKey: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    private let factory: ControlMetrics.Factory
    private let endpoints = NIOLockedValueBox<[EndpointKey: Endpoint]>([:])
    private let methods = NIOLockedValueBox<[HTTPRequest.Method: CoreMetrics.Meter]>([:])

    init(factory: ControlMetrics.Factory) {
        self.factory = factory
    }

    func inFlight(_ method: HTTPRequest.Method) -> CoreMetrics.Meter {
        methods.withLockedValue { meters in
            if let meter = meters[method] { return meter }
            let meter = CoreMetrics.Meter(
                label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)], factory: factory)
            meters[method] = meter
            return meter
        }
    }

    func endpoint(_ route: String, _ method: HTTPRequest.Method, _ status: HTTPResponse.Status) -> Endpoint {
        let key = EndpointKey(route: route, method: method, status: status.code)
        return endpoints.withLockedValue { endpoints in
            if let endpoint = endpoints[key] { return endpoint }
            let dimensions = [
                ("http.route", route), ("http.request.method", method.rawValue), ("http.response.status_code", String(status.code)),
            ]
            let endpoint = Endpoint(
                requests: CoreMetrics.Counter(label: "hb.requests", dimensions: dimensions, factory: factory),
                duration: CoreMetrics.Timer(label: "http.server.request.duration", dimensions: dimensions, factory: factory))
            endpoints[key] = endpoint
            return endpoint
        }
    }
}
