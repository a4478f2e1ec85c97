import Foundation
import TestSupport
import Testing

@Suite("Admin port")
struct AdminTests {
    @Test("health, readiness, and 404 for anything else")
    func health() throws {
        let fixture = try ProxyFixture()
        #expect(try fixture.proxy.admin("GET", "/healthz").status == 200)
        #expect(try fixture.proxy.admin("GET", "/readyz").status == 200)
        #expect(try fixture.proxy.admin("GET", "/nope").status == 404)
    }

    @Test("metrics use the contract's names, with a duration histogram per route")
    func metrics() throws {
        let fixture = try ProxyFixture()
        for _ in 0..<3 { _ = try fixture.proxy.request("GET", "/echo") }
        _ = try fixture.proxy.request("GET", "/missing")
        _ = fixture.proxy.accessLog(atLeast: 4)
        let text = try fixture.proxy.admin("GET", "/metrics").text
        #expect(text.contains("tollgate_requests_total{route=\"api\",status=\"200\"} 3"))
        #expect(text.contains("tollgate_requests_total{route=\"\",status=\"404\"} 1"))
        #expect(text.contains("# TYPE tollgate_request_duration_seconds histogram"))
        #expect(text.contains("tollgate_request_duration_seconds_bucket{route=\"api\",le=\"+Inf\"} 3"))
        #expect(text.contains("tollgate_request_duration_seconds_count{route=\"api\"} 3"))
        #expect(text.contains("tollgate_upstream_duration_seconds_count 3"))
        #expect(text.contains("tollgate_upstream_errors_total{kind=\"connect\"} 0"))
        #expect(text.contains("tollgate_policy_reloads_total{result=\"success\"} 0"))
        #expect(text.contains("# TYPE tollgate_ready gauge\ntollgate_ready 1\n"))
    }

    @Test("/policies names the active set, its files and the store")
    func policies() throws {
        let fixture = try ProxyFixture()
        let body = try fixture.proxy.admin("GET", "/policies").json
        #expect((body["hash"] as? String)?.count == 64)
        #expect(body["store"] as? String == "in-process")
        #expect((body["files"] as? [[String: String]])?.map { $0["path"] } == ["routes.yaml"])
        #expect(body["routes"] as? [String] == ["health", "api"])
        #expect(body["last_reload_error"] is NSNull)
    }
}
