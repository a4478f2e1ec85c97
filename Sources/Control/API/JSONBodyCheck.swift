import Core
import HTTPTypes
import OpenAPIRuntime

/// What the generated decoders do not refuse, refused before them for every operation with a body:
/// a body that is not `application/json` (415), over 1 MiB (413), or not one JSON object by
/// `JSONValue`'s strict rules (400: duplicate members, lone surrogates, nesting deeper than 32 —
/// Foundation's decoder takes the last of two duplicates, so `{"scopes":[],"scopes":["admin"]}`
/// would otherwise mean what its author may not have read). Unknown members, wrong types and missing
/// ones are the generated types' to refuse.
struct JSONBodyCheck: ServerMiddleware {
    static let operationsWithBody = Set(OpenAPIDocument.operations.filter(\.hasRequestBody).map(\.operationID))

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard Self.operationsWithBody.contains(operationID) else { return try await next(request, body, metadata) }
        let contentType = request.headerFields[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw Problem(
                status: .unsupportedMediaType, slug: "unsupported-media-type", title: "Unsupported media type",
                detail: "send the body as application/json")
        }
        let bytes = try await Self.collect(body)
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw Problem.badRequest("the body is not valid JSON: \(error)")
        }
        guard value.objectValue != nil else { throw Problem.badRequest("the body must be a JSON object") }
        return try await next(request, HTTPBody(bytes), metadata)
    }

    static func collect(_ body: HTTPBody?) async throws -> [UInt8] {
        let tooLarge = Problem(status: .contentTooLarge, slug: "too-large", title: "Body too large", detail: "the body is larger than 1 MiB")
        guard let body else { return [] }
        if case let .known(length) = body.length, length > RequestBody.maximumBytes { throw tooLarge }
        var bytes: [UInt8] = []
        for try await chunk in body {
            guard bytes.count + chunk.count <= RequestBody.maximumBytes else { throw tooLarge }
            bytes.append(contentsOf: chunk)
        }
        return bytes
    }
}
