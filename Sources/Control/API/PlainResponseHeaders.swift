import Foundation
import HTTPTypes
import OpenAPIRuntime

/// HTTP as the API has always spoken it, around the generated operations:
/// - swift-openapi-runtime writes header values URI-encoded (`ETag: %221%22`, `Location:
///   %2Fv1%2Fclients%2Fweb`); the API sends HTTP text (`ETag: "1"`, RFC 9110 §8.8.3), so the headers
///   the document gives responses are decoded back on the way out.
/// - Every response has one representation, JSON. The runtime fails a request whose `Accept`
///   excludes it (as a 500); the API has always ignored `Accept`, so it is removed on the way in.
struct PlainResponseHeaders: ServerMiddleware {
    static let names: Set<HTTPField.Name> = [.eTag, .location, .cacheControl]

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.accept] = nil
        var (response, responseBody) = try await next(request, body, metadata)
        response.headerFields = HTTPFields(response.headerFields.map { field in
            guard Self.names.contains(field.name), let text = field.value.removingPercentEncoding else { return field }
            return HTTPField(name: field.name, value: text)
        })
        return (response, responseBody)
    }
}
