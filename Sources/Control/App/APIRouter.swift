import Core
import HTTPTypes
import Hummingbird
import Logging
import OpenAPIRuntime

/// Scopes of spec/control.md; `admin` holds them all.
enum Scope {
    static let admin = "admin"
    static let all = [
        "auth.introspect", "profile.read", "profile.write", "flag.read", "flag.write", "config.read", "config.write",
        "metrics.read", "metrics.write", "ratelimit.read", "ratelimit.write", "rooms.read", "rooms.write", "commands.read",
        "commands.write", "commands.execute", "audit.read", admin,
    ]
}

/// One registered route: an operation of `openapi.yaml` (a test walks the router to hold the two together).
struct APIRoute: Sendable, Hashable {
    let method: HTTPRequest.Method
    /// OpenAPI template: `/v1/clients/{id}`.
    let path: String
    /// The scope a Bearer token needs, as the document declares it; nil for public and OAuth routes
    /// (they authenticate clients).
    let scope: String?
}

/// Registers routes with Hummingbird and keeps the list. A route's scope is read from the
/// document, never written next to the handler: the router authenticates the Bearer token and checks
/// that scope before the handler runs, so no `/v1` handler can forget to, and a route the document
/// does not declare does not start.
final class APIRouter {
    let router = Router(context: ControlContext.self)
    private(set) var routes: [APIRoute] = []
    let services: ControlServices

    init(services: ControlServices) {
        self.services = services
        // Outermost first: request metrics, then request ids and error rendering, so requests are
        // counted with the status of the answer the client got.
        router.add(middleware: RequestMetrics(services.metrics))
        router.add(middleware: ControlMiddleware(logger: services.logger))
    }

    func add(
        _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Request, ControlContext) async throws -> Response
    ) {
        guard let operation = OpenAPIDocument.operation(method.rawValue, path) else {
            preconditionFailure("\(method) \(path) is not an operation of openapi.yaml: declare it there first")
        }
        let scope = operation.scope
        routes.append(APIRoute(method: method, path: path, scope: scope))
        let hummingbirdPath = ControlMiddleware.routeLabel(path)
        let services = services
        router.on(RouterPath(hummingbirdPath), method: method) { request, context in
            var context = context
            if let scope {
                context.principal = try await Authenticator.authorize(request.headers, scope: scope, services: services)
            }
            return try await handler(request, context)
        }
    }
}

/// Bearer tokens on `/v1` routes: a JWT this service signed, not revoked, whose client still
/// exists and whose user (if any) is active.
enum Authenticator {
    /// The caller, when it holds `scope` (or `admin`); else 401 or 403 problems with their challenges.
    static func authorize(_ headers: HTTPFields, scope: String, services: ControlServices) async throws -> Principal {
        let principal = try await principal(headers, services: services)
        guard principal.scopes.contains(scope) || principal.scopes.contains(Scope.admin) else {
            var problem = Problem(
                status: .forbidden, slug: "insufficient-scope", title: "Insufficient scope",
                detail: "this route needs the \(scope) scope")
            problem.headers[.wwwAuthenticate] = "Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"\(scope)\""
            throw problem
        }
        return principal
    }

    static func principal(_ headers: HTTPFields, services: ControlServices) async throws -> Principal {
        guard let token = bearerToken(headers) else { throw unauthorized("send Authorization: Bearer <access token>", error: nil) }
        await services.keyRing.refreshIfStale()
        switch await TokenChecks.active(token, services: services) {
        case let .active(claims):
            return Principal(clientID: claims.clientID, userID: claims.userID, scopes: claims.scopes)
        case let .inactive(reason):
            throw unauthorized(reason, error: "invalid_token")
        }
    }

    static func bearerToken(_ headers: HTTPFields) -> String? {
        let values = headers[values: .authorization]
        guard values.count == 1, let value = values.first else { return nil }
        return BearerToken.parse(value).map(String.init)
    }

    static func unauthorized(_ detail: String, error: String?) -> Problem {
        var problem = Problem(status: .unauthorized, slug: "unauthorized", title: "Unauthorized", detail: detail)
        problem.headers[.wwwAuthenticate] = error.map {
            "Bearer realm=\"tollgate\", error=\"\($0)\", error_description=\"\(HeaderText.quotable(detail))\""
        } ?? "Bearer realm=\"tollgate\""
        return problem
    }
}

/// Request ids and error rendering for every route (and for 404s): handlers throw
/// `HTTPResponseError`s (`Problem`, `OAuthError`), rendered here where the request id is known.
struct ControlMiddleware: RouterMiddleware {
    typealias Context = ControlContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let incoming = request.headers[.requestID].map { HeaderText.quotable($0) }
        context.requestID = incoming.flatMap { $0.isEmpty || $0.count > 128 ? nil : $0 } ?? Self.newRequestID()
        var response: Response
        do {
            response = try await RequestScope.$requestID.withValue(context.requestID) { try await next(request, context) }
        } catch let error as ServerError {
            // A generated `/v1` operation: its error, or a request its types refuse.
            response = Self.problem(error).response(requestID: context.requestID)
            if response.status == .internalServerError {
                logger.error("request failed", metadata: ["request_id": "\(context.requestID)", "error": "\(error.underlyingError)"])
            }
        } catch let error as HTTPError {
            // Hummingbird's own (no route: 404, a body over the limit, …), as a problem too.
            let slug = error.status == .notFound ? "not-found" : "http-\(error.status.code)"
            response = Problem(status: error.status, slug: slug, title: error.status.reasonPhrase,
                               detail: error.body ?? error.status.reasonPhrase).response(requestID: context.requestID)
        } catch let error as any HTTPResponseError {
            // A Problem or an OAuthError: each knows its HTTP shape.
            response = try error.response(from: request, context: context)
        } catch {
            logger.error("request failed", metadata: ["request_id": "\(context.requestID)", "error": "\(error)"])
            response = Problem(status: .internalServerError, slug: "internal", title: "Internal error",
                               detail: "the request failed; quote request_id when reporting it").response(requestID: context.requestID)
        }
        response.headers[.requestID] = context.requestID
        return response
    }

    /// The problem for an error of a generated operation. Request decoding failures are the client's:
    /// an unknown member or a bad parameter is 400; in a body that is valid JSON (JSONBodyCheck saw
    /// to that), a missing member, a wrong type or a value outside an enum is 422.
    static func problem(_ error: ServerError) -> Problem {
        switch error.underlyingError {
        case let problem as Problem:
            return problem
        case let decoding as DecodingError:
            let description = RequestDecodingFailure(decoding)
            guard JSONBodyCheck.operationsWithBody.contains(error.operationID) else {
                return Problem.badRequest("a parameter does not have the type the API document gives it: \(description.message)")
            }
            if description.isUnknownMember { return Problem.badRequest(description.message) }
            return Problem.invalid(description.message)
        case _ where error.operationInput == nil:
            // Refused while decoding the request, before any handler ran (a parameter of the wrong
            // form, a body the runtime could not read).
            return Problem.badRequest("the request does not match the API document: \(error.causeDescription)")
        default:
            return Problem(
                status: .internalServerError, slug: "internal", title: "Internal error",
                detail: "the request failed; quote request_id when reporting it")
        }
    }

    static func routeLabel(_ template: String) -> String {
        template.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? ":" + part.dropFirst().dropLast() : part
        }.joined(separator: "/")
    }

    static func newRequestID() -> String {
        (try? SecureRandom.bytes(8)).map(Hex.encode) ?? "unknown"
    }
}
