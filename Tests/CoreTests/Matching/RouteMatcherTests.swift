import Testing

@testable import Core

struct TestRequest: RoutableRequest {
    var method = "GET"
    var host: String? = "api.example.com"
    var path = "/"
    var headers: [String: String] = [:]

    func headerValue(_ lowercasedName: String) -> String? { headers[lowercasedName] }
}

@Suite("Route matching")
struct RouteMatcherTests {
    static let policy = """
        version: 1
        routes:
          - name: exact
            match: { path: /healthz, methods: [GET] }
            auth: none
          - name: tenant-write
            match: { regex: '^/v1/orders/[0-9]+$', methods: [POST], headers: { x-tenant: '^[a-z]+$' } }
            auth: none
          - name: partner
            match: { prefix: /v1/orders, host: '*.partners.example.com' }
            auth: none
          - name: orders
            match: { prefix: /v1/orders }
            auth: none
          - name: slash-prefix
            match: { prefix: /static/ }
            auth: none
        """

    let snapshot: PolicySnapshot

    init() throws {
        let fixture = try PolicyFixture(["a.yaml": Self.policy])
        snapshot = try fixture.load()
    }

    func routeName(_ request: TestRequest) -> String? { snapshot.route(for: request)?.name }

    @Test("exact paths match the whole path and only the listed methods")
    func exact() {
        #expect(routeName(TestRequest(path: "/healthz")) == "exact")
        #expect(routeName(TestRequest(method: "POST", path: "/healthz")) == nil)
        #expect(routeName(TestRequest(method: "get", path: "/healthz")) == nil, "methods are case-sensitive")
        #expect(routeName(TestRequest(path: "/healthz/x")) == nil)
    }

    @Test("prefixes are segment-aware unless they end in a slash")
    func prefixes() {
        #expect(routeName(TestRequest(path: "/v1/orders")) == "orders")
        #expect(routeName(TestRequest(path: "/v1/orders/42")) == "orders")
        #expect(routeName(TestRequest(path: "/v1/ordersx")) == nil)
        #expect(routeName(TestRequest(path: "/static/")) == "slash-prefix")
        #expect(routeName(TestRequest(path: "/static/app.js")) == "slash-prefix")
        #expect(routeName(TestRequest(path: "/static")) == nil)
    }

    @Test("first match wins, and header patterns must match")
    func firstMatchAndHeaders() {
        let write = TestRequest(method: "POST", path: "/v1/orders/42", headers: ["x-tenant": "acme"])
        #expect(routeName(write) == "tenant-write")
        var upper = write
        upper.headers["x-tenant"] = "ACME"
        #expect(routeName(upper) == "orders", "a failing header pattern falls through to the next route")
        var missing = write
        missing.headers = [:]
        #expect(routeName(missing) == "orders")
    }

    @Test("wildcard hosts match subdomains only")
    func hosts() {
        #expect(routeName(TestRequest(host: "eu.partners.example.com", path: "/v1/orders")) == "partner")
        #expect(routeName(TestRequest(host: "partners.example.com", path: "/v1/orders")) == "orders")
        #expect(routeName(TestRequest(host: nil, path: "/v1/orders")) == "orders")
    }

    @Test("nothing matches: default deny")
    func noMatch() {
        #expect(routeName(TestRequest(path: "/admin")) == nil)
    }
}
