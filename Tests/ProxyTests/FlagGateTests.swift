import Core
import Foundation
import TestSupport
import Testing

@Suite("Flag gates")
struct FlagGateTests {
    static let policy = """
        version: 1
        flags:
          half: { enabled: true, rollout: 50 }
          off: { enabled: false }
          on: { enabled: true }
        routes:
          - name: half
            match: { prefix: /echo/half }
            auth: none
            flag: { name: half, deny_status: 403 }
          - name: off
            match: { prefix: /echo/off }
            auth: none
            flag: { name: off }
          - name: on
            match: { prefix: /echo/on }
            auth: none
            flag: { name: on }
        """

    @Test("an anonymous subject is its client IP; each is in or out of the rollout by its bucket")
    func rolloutByClientIP() throws {
        let fixture = try ProxyFixture(policy: Self.policy, arguments: ["--trusted-proxies", "127.0.0.0/8"])
        var admitted = 0, refused = 0
        for last in 1...40 {
            let ip = "203.0.113.\(last)"
            let expectOn = FlagEvaluator.bucket(flag: "half", subject: ip) < 50
            let status = try fixture.proxy.request("GET", "/echo/half", headers: [("X-Forwarded-For", ip)]).status
            #expect(status == (expectOn ? 200 : 403), "\(ip)")
            if expectOn { admitted += 1 } else { refused += 1 }
        }
        #expect(admitted > 0 && refused > 0, "40 subjects land on both sides of 50%")
        #expect(try fixture.proxy.request("GET", "/echo/off").status == 404)
        #expect(try fixture.proxy.request("GET", "/echo/on").status == 200)
        #expect(fixture.upstream.received.count == admitted + 1)
        let metrics = try fixture.proxy.admin("GET", "/metrics").text
        #expect(metrics.contains("tollgate_flag_decisions_total{flag=\"half\",result=\"on\"} \(admitted)"))
        #expect(metrics.contains("tollgate_flag_decisions_total{flag=\"half\",result=\"off\"} \(refused)"))
        #expect(metrics.contains("tollgate_flag_decisions_total{flag=\"off\",result=\"off\"} 1"))
    }
}
