import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Lifecycle: reload, shutdown, start-up")
struct LifecycleTests {
    static let withExtraRoute = ProxyFixture.policy + """

          - name: extra
            match: { prefix: /extra }
            auth: none
        """

    func waitUntil(_ timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    @Test("a changed policy file is picked up without a restart")
    func reloadsOnFileChange() throws {
        let fixture = try ProxyFixture()
        #expect(try fixture.proxy.request("GET", "/extra").status == 404)
        let before = try fixture.proxy.admin("GET", "/policies").json["hash"] as? String
        try fixture.proxy.writePolicy("routes.yaml", Self.withExtraRoute)
        #expect(try waitUntil { try fixture.proxy.request("GET", "/extra").status == 502 || fixture.proxy.request("GET", "/extra").status == 200 })
        let after = try fixture.proxy.admin("GET", "/policies").json
        #expect(after["hash"] as? String != before)
        #expect((after["routes"] as? [String])?.contains("extra") == true)
        #expect(try fixture.proxy.admin("GET", "/metrics").text.contains("tollgate_policy_reloads_total{result=\"success\"} 1"))
    }

    @Test("an invalid set is refused whole: the last good set stays, and the error shows on /policies and in metrics")
    func invalidReloadKeepsLastGoodSet() throws {
        let fixture = try ProxyFixture()
        let good = try fixture.proxy.admin("GET", "/policies").json["hash"] as? String
        try fixture.proxy.writePolicy("broken.yaml", "version: 1\nroutes:\n  - name: x\n    match: { path: /x }\n    auth: none\n    limits: [nope]\n")
        let reload = try fixture.proxy.admin("POST", "/reload")
        #expect(reload.status == 422)
        let errors = reload.json["errors"] as? [String] ?? []
        #expect(errors.count == 1)
        #expect(errors.first?.hasSuffix("broken.yaml:6:14: routes[0].limits[0]: unknown limit \"nope\"") == true)
        let policies = try fixture.proxy.admin("GET", "/policies").json
        #expect(policies["hash"] as? String == good)
        let lastError = policies["last_reload_error"] as? [String: Any]
        #expect((lastError?["errors"] as? [String]) == errors)
        #expect(try fixture.proxy.request("GET", "/echo").status == 200, "the last good set still serves")
        #expect(try fixture.proxy.admin("GET", "/metrics").text.contains("tollgate_policy_reloads_total{result=\"error\"} 1"))

        try FileManager.default.removeItem(at: fixture.proxy.policyDirectory.appendingPathComponent("broken.yaml"))
        try fixture.proxy.writePolicy("routes.yaml", Self.withExtraRoute)
        let fixed = try fixture.proxy.admin("POST", "/reload")
        #expect(fixed.status == 200)
        #expect(fixed.json["changed"] as? Bool == true)
        #expect(try fixture.proxy.admin("GET", "/policies").json["last_reload_error"] is NSNull)
    }

    @Test("SIGHUP reloads")
    func sighup() throws {
        let fixture = try ProxyFixture(arguments: [])
        try fixture.proxy.writePolicy("routes.yaml", Self.withExtraRoute)
        kill(fixture.proxy.process.processIdentifier, SIGHUP)
        #expect(try waitUntil { try fixture.proxy.request("GET", "/extra").status != 404 })
    }

    @Test("every reload attempt is counted: a set found unchanged as result=\"unchanged\", whatever triggered it")
    func unchangedReloadsAreCounted() throws {
        let fixture = try ProxyFixture()
        let reload = try fixture.proxy.admin("POST", "/reload")
        #expect(reload.status == 200)
        #expect(reload.json["changed"] as? Bool == false)
        kill(fixture.proxy.process.processIdentifier, SIGHUP)
        #expect(try waitUntil {
            try fixture.proxy.admin("GET", "/metrics").text.contains("tollgate_policy_reloads_total{result=\"unchanged\"} 2")
        })
        let metrics = try fixture.proxy.admin("GET", "/metrics").text
        #expect(metrics.contains("tollgate_policy_reloads_total{result=\"success\"} 0"))
        #expect(metrics.contains("tollgate_policy_reloads_total{result=\"error\"} 0"))
    }

    @Test("reloading under load fails no request")
    func reloadUnderLoad() throws {
        let fixture = try ProxyFixture()
        let port = fixture.proxy.port
        let failures = LockedCounter(), successes = LockedCounter()
        let stop = LockedFlag()
        let threads = (0..<4).map { _ in
            Thread {
                // Keep-alive connections, so requests are in flight while snapshots swap.
                guard let connection = try? RawHTTPConnection(port: port, timeout: 5) else { failures.add(); return }
                while !stop.isSet {
                    do {
                        try connection.send("GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
                        if try connection.readResponse().status == 200 { successes.add() } else { failures.add() }
                    } catch {
                        failures.add()
                        return
                    }
                }
            }
        }
        threads.forEach { $0.start() }
        for round in 0..<6 {
            let policy = round.isMultiple(of: 2) ? Self.withExtraRoute : ProxyFixture.policy
            try fixture.proxy.writePolicy("routes.yaml", policy)
            #expect(try fixture.proxy.admin("POST", "/reload").status == 200)
            usleep(100_000)
        }
        stop.set()
        usleep(300_000)
        #expect(failures.value == 0)
        #expect(successes.value > 50)
    }

    @Test("SIGTERM stops accepting, lets in-flight requests finish, and exits 0")
    func gracefulShutdown() throws {
        let fixture = try ProxyFixture()
        let inFlight = try fixture.proxy.connect(timeout: 10)
        try inFlight.send("GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n")
        usleep(300_000)
        let idle = try fixture.proxy.connect(timeout: 10)
        kill(fixture.proxy.process.processIdentifier, SIGTERM)
        usleep(300_000)
        #expect(throws: (any Error).self, "new connections are refused") { _ = try fixture.proxy.connect(timeout: 2) }
        #expect(idle.isClosedByPeer(), "idle keep-alive connections are closed")
        #expect(try fixture.proxy.admin("GET", "/healthz").status == 200, "the admin port answers while requests drain")
        let response = try inFlight.readResponse()
        #expect(response.status == 200)
        #expect(fixture.proxy.stop(signal: 0, timeout: 15) == 0)
    }

    @Test("start-up errors are one clear line and a non-zero exit", arguments: [
        (["run"], 2, "Missing expected argument '--upstream"),
        (["run", "--upstream", "ftp://x"], 2, "--upstream must be http://host:port"),
        (["run", "--upstream", "http://127.0.0.1:1", "--idle-timeout", "soon"], 2, "--idle-timeout must be a duration"),
        (["run", "--upstream", "http://127.0.0.1:1", "--policies", "/nonexistent"], 1, "tollgate-proxy: the policy set in /nonexistent is invalid"),
    ])
    func startupErrors(arguments: [String], status: Int32, message: String) throws {
        let result = try BuiltBinary("tollgate-proxy").run(arguments)
        #expect(result.status == status)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test("a port in use is a start-up error")
    func portInUse() throws {
        let fixture = try ProxyFixture()
        let dir = fixture.proxy.policyDirectory.path
        let result = try BuiltBinary("tollgate-proxy").run([
            "run", "--upstream", "http://127.0.0.1:\(fixture.upstream.port)", "--listen", "127.0.0.1:\(fixture.proxy.port)",
            "--admin", "127.0.0.1:\(freeLoopbackPort())", "--policies", dir,
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("tollgate-proxy: cannot listen on 127.0.0.1:\(fixture.proxy.port): address already in use"))
    }

    @Test("options fall back to TOLLGATE_* environment variables; the command line wins")
    func environment() throws {
        let upstream = try TestUpstream()
        defer { upstream.shutdown() }
        let proxy = try ProxyHarness(
            policies: ["routes.yaml": ProxyFixture.policy], upstreamPort: 1,
            environment: ["TOLLGATE_UPSTREAM": "http://127.0.0.1:\(upstream.port)", "TOLLGATE_MAX_BODY_BYTES": "10"])
        // --upstream is given by the harness (port 1) and wins over the environment.
        #expect(try proxy.request("GET", "/echo").status == 502)
        #expect(try proxy.request("POST", "/echo", body: String(repeating: "a", count: 20)).status == 413)
        _ = proxy.stop()
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}
