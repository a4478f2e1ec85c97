import CoreMetrics
import Hummingbird
import Prometheus

/// The control plane's metrics, through swift-metrics into a swift-prometheus registry that
/// `GET /metrics` renders. Not the sidecar's hot path: the ecosystem's types are plenty here.
///
/// Each server has its own registry, so two servers in one process (the in-process tests) count
/// apart: every metric, ours and the request metrics of `RequestMetrics`, is made with this server's
/// factory, never through swift-metrics' process-wide bootstrap.
final class ControlMetrics: Sendable {
    /// A family: its Prometheus name and help text (promtool wants one for every family).
    struct Family: Sendable {
        let name: String
        let help: String

        var descriptor: MetricNameDescriptor { MetricNameDescriptor(metricName: name, unitName: "", helpText: help) }
    }

    /// Every metric the control plane exports, by the label swift-metrics code creates it with.
    /// Names and labels are the ones spec/control.md, deploy/prometheus and the dashboard use.
    static let families: [String: Family] = [
        // RequestMetrics, under Hummingbird's MetricsMiddleware labels.
        "hb.requests": Family(name: "tollgate_control_http_requests_total", help: "HTTP requests answered, by route template, method and status."),
        "http.server.request.duration": Family(
            name: "tollgate_control_http_request_duration_seconds", help: "Time to answer HTTP requests, by route template, method and status."),
        "http.server.active_requests": Family(name: "tollgate_control_http_requests_in_flight", help: "HTTP requests being answered, by method."),
        // Ours.
        tokensIssued: Family(name: tokensIssued, help: "Access tokens issued, by grant type."),
        tokenErrors: Family(name: tokenErrors, help: "Token requests refused, by RFC 6749 error code."),
        introspections: Family(name: introspections, help: "Introspection answers, by whether the token was active."),
        refreshReuse: Family(name: refreshReuse, help: "Refresh tokens used twice (the family was revoked)."),
        signingKeysPublished: Family(name: signingKeysPublished, help: "Keys in the JWKS (the active one and retired ones still published)."),
    ]

    static let tokensIssued = "tollgate_control_tokens_issued_total"
    static let tokenErrors = "tollgate_control_token_errors_total"
    static let introspections = "tollgate_control_introspections_total"
    static let refreshReuse = "tollgate_control_refresh_reuse_total"
    static let signingKeysPublished = "tollgate_control_signing_keys_published"

    let registry = PrometheusCollectorRegistry()
    let factory: Factory

    init() {
        factory = Factory(registry: registry)
        // The series whose label values are known start at zero: every family is on /metrics from
        // the first scrape (deploy/test checks the rules read only exported names), and rate()
        // sees the first refusal or reuse as an increase.
        _ = CoreMetrics.Counter(label: Self.refreshReuse, factory: factory)
        for grant in TokenGrants.supported {
            _ = CoreMetrics.Counter(label: Self.tokensIssued, dimensions: [("grant_type", grant)], factory: factory)
        }
        for error in Self.tokenErrorCodes {
            _ = CoreMetrics.Counter(label: Self.tokenErrors, dimensions: [("error", error)], factory: factory)
        }
        for active in ["true", "false"] {
            _ = CoreMetrics.Counter(label: Self.introspections, dimensions: [("active", active)], factory: factory)
        }
    }

    /// RFC 6749 §5.2's codes, and RFC 8707's `invalid_target`: every `OAuthError` the token endpoint throws.
    static let tokenErrorCodes = [
        "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope",
        "invalid_target",
    ]

    func increment(_ name: String, _ labels: [(String, String)]) {
        CoreMetrics.Counter(label: name, dimensions: labels, factory: factory).increment()
    }

    func set(_ name: String, _ value: Double) {
        CoreMetrics.Gauge(label: name, factory: factory).record(value)
    }

    /// The Prometheus text exposition format, version 0.0.4.
    func render() -> String {
        registry.emitToString()
    }

    /// swift-metrics' `MetricsFactory` over this server's registry: names, labels and help from
    /// `families`, route templates as `/v1/clients/:id` whether added by hand or generated (`{id}`).
    struct Factory: MetricsFactory {
        let registry: PrometheusCollectorRegistry

        private static let labelNames = [
            "http.route": "route", "http.request.method": "method", "http.response.status_code": "status", "error.type": "status",
        ]

        private func family(_ label: String) -> Family {
            ControlMetrics.families[label] ?? Family(name: label, help: label)
        }

        private func labels(_ dimensions: [(String, String)]) -> [(String, String)] {
            dimensions.map { name, value in
                let name = Self.labelNames[name] ?? name
                return (name, name == "route" ? Self.routeLabel(value) : value)
            }
        }

        /// `Unknown` (answered) or `NotFound` (thrown) when no route matched, as MetricsMiddleware says.
        static func routeLabel(_ template: String) -> String {
            template == "Unknown" || template == "NotFound" ? "unmatched" : ControlMiddleware.routeLabel(template)
        }

        func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
            let family = family(label)
            return registry.makeCounter(descriptor: family.descriptor, labels: labels(dimensions))
        }

        func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
            let family = family(label)
            return registry.makeCounter(descriptor: family.descriptor, labels: labels(dimensions))
        }

        func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
            let family = family(label)
            guard aggregate else { return registry.makeGauge(descriptor: family.descriptor, labels: labels(dimensions)) }
            return registry.makeValueHistogram(
                descriptor: family.descriptor, labels: labels(dimensions), buckets: [0.001, 0.01, 0.1, 1, 10, 100, 1000])
        }

        func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
            let family = family(label)
            return registry.makeGauge(descriptor: family.descriptor, labels: labels(dimensions))
        }

        func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
            let family = family(label)
            return registry.makeDurationHistogram(
                descriptor: family.descriptor, labels: labels(dimensions),
                buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                          .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10)])
        }

        func destroyCounter(_ handler: any CounterHandler) {
            if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
        }

        func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
            if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
        }

        func destroyRecorder(_ handler: any RecorderHandler) {
            if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
            if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
        }

        func destroyMeter(_ handler: any MeterHandler) {
            if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        }

        func destroyTimer(_ handler: any TimerHandler) {
            if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
        }
    }
}
