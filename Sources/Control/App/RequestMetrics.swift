import CoreMetrics
import Hummingbird

/// Puts Hummingbird's `MetricsMiddleware` (request counts, durations, requests in flight) on this
/// server's registry.
///
/// swift-metrics has one factory per process, bootstrapped once (`MetricsSystem.bootstrap` traps
/// on a second call), and `MetricsMiddleware` makes its metrics through it. The factory installed
/// here makes each metric in the registry of the server whose request is running
/// (`ScopedMetricsFactory.current`), a task-local this middleware sets around the rest of the
/// chain and around the writing of the response body, where `MetricsMiddleware` counts. One server
/// per process (`serve`) sees plain swift-metrics; several (the in-process tests) count apart.
///
/// Add it before `MetricsMiddleware`, which goes before `ControlMiddleware`: requests are counted
/// with the status of the answer `ControlMiddleware` made of any error.
struct RequestMetrics<Context: RequestContext>: RouterMiddleware {
    let factory: ControlMetrics.Factory

    init(_ metrics: ControlMetrics) {
        factory = metrics.factory
        ScopedMetricsFactory.installOnce()
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let factory = factory
        var response = try await ScopedMetricsFactory.$current.withValue(factory) { try await next(request, context) }
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await ScopedMetricsFactory.$current.withValue(factory) { try await body.write(writer) }
        }
        return response
    }
}

/// The process's swift-metrics factory: the factory of the server whose request is running, and
/// no metrics outside a request.
struct ScopedMetricsFactory: MetricsFactory {
    @TaskLocal static var current: ControlMetrics.Factory?

    private static let installed: Void = MetricsSystem.bootstrap(ScopedMetricsFactory())

    static func installOnce() {
        _ = installed
    }

    private var target: any MetricsFactory { Self.current ?? NOOPMetricsHandler.instance }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        target.makeCounter(label: label, dimensions: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        target.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        target.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        target.makeMeter(label: label, dimensions: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        target.makeTimer(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CounterHandler) { target.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { target.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { target.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { target.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { target.destroyTimer(handler) }
}
