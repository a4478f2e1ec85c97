import Core
import HTTPTypes
import Hummingbird

/// `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
enum OperationsRoutes {
    static func register(_ api: APIRouter) {
        let services = api.services
        api.add(.get, "/healthz") { _, _ in
            JSONResponse.make(.object([("status", "ok")]))
        }
        api.add(.get, "/readyz") { _, _ in
            let reachable = await services.database.ping()
            return JSONResponse.make(
                .object([("status", .string(reachable ? "ready" : "not ready")), ("database", .string(reachable ? "ok" : "unreachable"))]),
                status: reachable ? .ok : .serviceUnavailable)
        }
        api.add(.get, "/metrics") { _, _ in
            services.metrics.set(ControlMetrics.signingKeysPublished, Double(services.keyRing.published.count))
            return JSONResponse.text(services.metrics.render(), contentType: "text/plain; version=0.0.4")
        }
        api.add(.get, "/openapi.json") { _, _ in
            JSONResponse.text(OpenAPIDocument.json, contentType: "application/json")
        }
    }
}
