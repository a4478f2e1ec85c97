import Foundation
import Hummingbird
import OpenAPIHummingbird
import OpenAPIRuntime

/// The `/v1` operations: the generated `APIProtocol` (Generated/, from openapi.yaml), one file per
/// resource. Handlers take typed input and return typed output; a refusal is a thrown `Problem`,
/// which `ControlMiddleware` renders as problem+json. Routing, parameter and body decoding (with
/// unknown members refused) and response encoding are the generated code's.
struct ControlAPI: APIProtocol {
    let services: ControlServices

    /// Compact JSON, members sorted; times in RFC 3339 UTC with milliseconds, as before.
    static let configuration = Configuration(dateTranscoder: .iso8601WithFractionalSeconds, jsonEncodingOptions: [.sortedKeys])

    /// Adds every generated operation to `router`, each behind the scope check and the body check.
    static func register(on router: Router<ControlContext>, services: ControlServices) throws {
        try ControlAPI(services: services).registerHandlers(
            on: router, configuration: configuration, middlewares: [PlainResponseHeaders(), ScopeCheck(services: services), JSONBodyCheck()])
    }
}

/// `?limit=50&page=1` (limit ≤ 500).
struct Paging {
    let limit: Int
    let page: Int
    var offset: Int { (page - 1) * limit }

    init(limit: Int?, page: Int?) throws {
        let (limit, page) = (limit ?? 50, page ?? 1)
        guard (1...500).contains(limit) else { throw Problem.badRequest("limit is a number from 1 to 500") }
        guard page >= 1, page <= 1_000_000 else { throw Problem.badRequest("page is a number from 1") }
        self.limit = limit
        self.page = page
    }

    /// This page of a small collection read whole (signing keys, roles).
    func slice<T>(_ items: [T]) -> [T] {
        Array(items.dropFirst(min(offset, items.count)).prefix(limit))
    }
}

/// Stored JSON text (audit before/after, user attributes) as the generated containers.
enum StoredJSON {
    static func value(_ text: String?) throws -> OpenAPIValueContainer {
        guard let text else { return try OpenAPIValueContainer(unvalidatedValue: nil) }
        return try JSONDecoder().decode(OpenAPIValueContainer.self, from: Data(text.utf8))
    }

    static func object(_ text: String) throws -> OpenAPIObjectContainer {
        try JSONDecoder().decode(OpenAPIObjectContainer.self, from: Data(text.utf8))
    }

    static func text(_ object: OpenAPIObjectContainer) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(object), as: UTF8.self)
    }
}

extension Date {
    init(milliseconds: Int64) { self.init(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
