import Foundation
import Logging
import TestSupport
import Testing
import Yams
@testable import tollgate_control

/// The document and the server held together both ways: the router serves exactly the documented
/// operations, and every `/v1` operation refuses callers without its scope.
@Suite("OpenAPI contract")
struct OpenAPITests {
    static let configuration = ControlConfiguration(
        issuer: "http://127.0.0.1:7000", tokenLifetime: 900_000, refreshLifetime: 86_400_000, signingAlgorithm: .es256, scryptLogN: 10)

    @Test("the router answers exactly the operations of openapi.yaml, and /openapi.json is that document")
    func routesMatch() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-openapi-\(UUID().uuidString)")
        let services = try await ControlServices.start(
            database: .sqlite(path: directory.appendingPathComponent("t.db").path),
            masterKeyPath: directory.appendingPathComponent("master.key").path,
            configuration: Self.configuration, logger: Logger(label: "test"))
        // What Hummingbird's router answers (its trie), not our list of what was added.
        let router = ControlApp.routes(services).router
        await services.database.close()
        try router.validate()
        let registered = Set(router.routes.map { route in
            let template = "\(route.path)".split(separator: "/", omittingEmptySubsequences: false).map { part in
                part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
            }.joined(separator: "/")
            return "\(route.method.rawValue) \(template.hasPrefix("/") ? template : "/" + template)"
        })

        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        // The served JSON is the YAML, member for member (Yams reads it independently of the converter).
        #expect(NSDictionary(dictionary: document).isEqual(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any]))
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "post", "put", "delete", "patch"]
        let documented = Set(paths.flatMap { path, operations in
            operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
        })
        #expect(registered.subtracting(documented).isEmpty, "registered but not documented: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented but not registered: \(documented.subtracting(registered).sorted())")
        #expect(registered.count >= 24)
    }

    @Test("every /v1 operation of the document: 401 without a token, 403 with a token lacking its scope", arguments: Setup.all)
    func authorizationTable(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        // auth.introspect is a control-plane scope that no /v1 operation needs.
        let narrow = try await server.token(scope: "auth.introspect")
        let operations = OpenAPIDocument.operations.filter { $0.path.hasPrefix("/v1/") }
        #expect(operations.count >= 13)
        for operation in operations {
            let name = "\(operation.method) \(operation.path)"
            let scope = try #require(operation.scope, "\(name) declares one Bearer scope")
            #expect(scope != "auth.introspect", "\(name)")
            let path = operation.path.replacing(/\{[^}]+\}/, with: "x")
            let body = operation.hasRequestBody ? "{}" : nil
            let anonymous = try await server.json(operation.method, path, token: nil, body: body)
            #expect(anonymous.status == 401, "\(name)")
            #expect(anonymous.header("content-type") == "application/problem+json", "\(name)")
            #expect(anonymous.header("www-authenticate") == "Bearer realm=\"tollgate\"", "\(name)")
            let forbidden = try await server.json(operation.method, path, token: narrow, body: body)
            #expect(forbidden.status == 403, "\(name)")
            #expect(forbidden.header("content-type") == "application/problem+json", "\(name)")
            #expect(forbidden.header("www-authenticate")?.contains("scope=\"\(scope)\"") == true, "\(name)")
        }
        // Generated routes are counted under the same template form as hand-added ones.
        let metrics = try await server.request("GET", "/metrics").text
        #expect(metrics.contains(#"tollgate_control_http_requests_total{route="/v1/clients/:id",method="GET",status="401"} 1"#))
        await server.stop()
    }

    @Test("every /v1 operation of the document has a handler: as admin it answers a status the document lists, never 5xx", arguments: Setup.both(.sqlite))
    func everyOperationAnswers(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        // Accept is ignored, as it always was: JSON is the one representation.
        let html = try await server.request("GET", "/v1/clients/admin", headers: [("Authorization", "Bearer \(admin)"), ("Accept", "text/html")])
        #expect(html.status == 200, "\(html.text)")
        // Reads before writes, deletes last and the admin client's own deletion the very last, so each
        // finds what it needs (or a documented 404) with a token that still works.
        let operations = OpenAPIDocument.operations.filter { $0.path.hasPrefix("/v1/") }
            .sorted { Self.order($0) < Self.order($1) }
        for operation in operations {
            let name = "\(operation.method) \(operation.path)"
            let path = operation.path.replacing(/\{[^}]+\}/, with: "admin")
            let body: String? = switch operation.path {
            case "/v1/clients": #"{"client_id":"contract","name":"Contract"}"#
            case "/v1/users": #"{"email":"contract@example.com"}"#
            case "/v1/roles": #"{"name":"contract","scopes":["flag.read"]}"#
            default: operation.hasRequestBody ? "{}" : nil
            }
            let response = try await server.json(operation.method, path, token: admin, body: body)
            #expect(response.status < 500, "\(name): \(response.status) \(response.text)")
            #expect(operation.statuses.contains(String(response.status)), "\(name): \(response.status) is not in the document")
            #expect(response.status != 404 || operation.path.contains("{"), "\(name) is not routed")
        }
        #expect(!server.log.contains("\"level\":\"error\""))
        await server.stop()
    }

    static func order(_ operation: OpenAPIDocument.Operation) -> Int {
        let rank = ["GET": 0, "POST": 1, "PUT": 1, "DELETE": 2][operation.method] ?? 1
        return rank * 2 + (operation.method == "DELETE" && operation.path == "/v1/clients/{id}" ? 1 : 0)
    }
}
