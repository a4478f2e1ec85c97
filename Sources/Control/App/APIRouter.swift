import Core
import HTTPTypes
import Hummingbird
import Logging

/// Scopes of spec/control.md; `admin` holds them all.
enum Scope {
    static let admin = "admin"
    static let all = [
        "auth.introspect", "profile.read", "profile.write", "flag.read", "flag.write", "config.read", "config.write",
        "metrics.read", "metrics.write", "ratelimit.read", "ratelimit.write", "rooms.read", "rooms.write", "commands.read",
        "commands.write", "commands.execute", "audit.read", admin,
    ]
}

/// One registered route: what `/openapi.json` must describe (a test holds the two together).
struct APIRoute: Sendable, Hashable {
    let method: HTTPRequest.Method
    /// OpenAPI template: `/v1/clients/{id}`.
    let path: String
    /// The scope a Bearer token needs; nil for public and OAuth routes (they authenticate clients).
    let scope: String?
}

/// Registers routes with Hummingbird and keeps the list. A route with a scope authenticates the
/// Bearer token and checks the scope before its handler runs, so no `/v1` handler can forget to.
final class APIRouter {
    let router = Router(context: ControlContext.self)
    private(set) var routes: [APIRoute] = []
    let services: ControlServices

    init(services: ControlServices) {
        self.services = services
        router.add(middleware: ControlMiddleware(metrics: services.metrics, logger: services.logger))
    }

    func add(
        _ method: HTTPRequest.Method, _ path: String, scope: String?,
        _ handler: @escaping @Sendable (Request, ControlContext) async throws -> Response
    ) {
        routes.append(APIRoute(method: method, path: path, scope: scope))
        let hummingbirdPath = path.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? ":" + part.dropFirst().dropLast() : part
        }.joined(separator: "/")
        let services = services
        router.on(RouterPath(hummingbirdPath), method: method) { request, context in
            var context = context
            if let scope {
                let principal = try await Authenticator.principal(request, services: services)
                guard principal.scopes.contains(scope) || principal.scopes.contains(Scope.admin) else {
                    var problem = Problem(
                        status: .forbidden, slug: "insufficient-scope", title: "Insufficient scope",
                        detail: "this route needs the \(scope) scope")
                    problem.headers[.wwwAuthenticate] = "Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"\(scope)\""
                    throw problem
                }
                context.principal = principal
            }
            return try await handler(request, context)
        }
    }
}

/// Bearer tokens on `/v1` routes: a JWT this service signed, not revoked, whose client still
/// exists and whose user (if any) is active.
enum Authenticator {
    static func principal(_ request: Request, services: ControlServices) async throws -> Principal {
        guard let token = bearerToken(request) else { throw unauthorized("send Authorization: Bearer <access token>", error: nil) }
        await services.keyRing.refreshIfStale()
        switch await TokenChecks.active(token, services: services) {
        case let .active(claims):
            return Principal(clientID: claims.clientID, userID: claims.userID, scopes: claims.scopes)
        case let .inactive(reason):
            throw unauthorized(reason, error: "invalid_token")
        }
    }

    static func bearerToken(_ request: Request) -> String? {
        let values = request.headers[values: .authorization]
        guard values.count == 1, let value = values.first else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    static func unauthorized(_ detail: String, error: String?) -> Problem {
        var problem = Problem(status: .unauthorized, slug: "unauthorized", title: "Unauthorized", detail: detail)
        problem.headers[.wwwAuthenticate] = error.map {
            "Bearer realm=\"tollgate\", error=\"\($0)\", error_description=\"\(HeaderText.quotable(detail))\""
        } ?? "Bearer realm=\"tollgate\""
        return problem
    }
}

/// Request ids, metrics and error rendering for every route (and for 404s).
struct ControlMiddleware: RouterMiddleware {
    typealias Context = ControlContext
    let metrics: ControlMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let incoming = request.headers[.requestID].map { HeaderText.quotable($0) }
        context.requestID = incoming.flatMap { $0.isEmpty || $0.count > 128 ? nil : $0 } ?? Self.newRequestID()
        var response: Response
        do {
            response = try await next(request, context)
        } catch let problem as Problem {
            response = problem.response(requestID: context.requestID)
        } catch let error as OAuthError {
            response = error.response()
        } catch let error as HTTPError {
            let slug = error.status == .notFound ? "not-found" : "http-\(error.status.code)"
            response = Problem(status: error.status, slug: slug, title: error.status.reasonPhrase,
                               detail: error.body ?? error.status.reasonPhrase).response(requestID: context.requestID)
        } catch {
            logger.error("request failed", metadata: ["request_id": "\(context.requestID)", "error": "\(error)"])
            response = Problem(status: .internalServerError, slug: "internal", title: "Internal error",
                               detail: "the request failed; quote request_id when reporting it").response(requestID: context.requestID)
        }
        response.headers[.requestID] = context.requestID
        let route = context.endpointPath ?? "unmatched"
        metrics.increment("tollgate_control_http_requests_total", [
            ("route", route), ("method", request.method.rawValue), ("status", String(response.status.code)),
        ])
        return response
    }

    static func newRequestID() -> String {
        (try? SecureRandom.bytes(8)).map(Hex.encode) ?? "unknown"
    }
}
