import HTTPTypes
import OpenAPIRuntime

/// Authorization for every generated `/v1` operation: a Bearer token of this service holding the
/// scope the operation declares in openapi.yaml (`admin` holds them all), checked before the body is
/// read or the handler runs. An operation the document gives no scope is refused, never served open.
struct ScopeCheck: ServerMiddleware {
    let services: ControlServices

    static let scopes: [String: String] = Dictionary(
        OpenAPIDocument.operations.compactMap { operation in operation.scope.map { (operation.operationID, $0) } },
        uniquingKeysWith: { first, _ in first })

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let scope = Self.scopes[operationID] else {
            throw Problem(
                status: .internalServerError, slug: "internal", title: "Internal error",
                detail: "operation \(operationID) declares no scope in openapi.yaml")
        }
        let principal = try await Authenticator.authorize(request.headerFields, scope: scope, services: services)
        return try await RequestScope.$principal.withValue(principal) {
            try await next(request, body, metadata)
        }
    }
}
