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

    /// Tests/Fixtures/jwt/flags.json (generate_jwt.py): tokens with known `sub`s for the conformance
    /// set's flagged route, each with the status Python's mmh3 predicts, and client IPs on both sides
    /// of the rollout.
    struct SubjectFixture {
        struct Subject {
            let sub: String
            let bucket: Int
            let status: Int
            let authorization: String
        }

        let flag: String
        let rollout: Int
        let path: String
        let subjects: [Subject]
        let clientIPs: [(ip: String, bucket: Int)]

        init() throws {
            let data = try Data(contentsOf: JWTConformance.directory.appendingPathComponent("flags.json"))
            let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            flag = try #require(root["flag"] as? String)
            rollout = try #require(root["rollout"] as? Int)
            path = try #require(root["path"] as? String)
            subjects = try #require(root["subjects"] as? [[String: Any]]).map { entry in
                Subject(
                    sub: try #require(entry["sub"] as? String), bucket: try #require(entry["bucket"] as? Int),
                    status: try #require(entry["status"] as? Int), authorization: try #require(entry["authorization"] as? String))
            }
            clientIPs = try #require(root["client_ips"] as? [[String: Any]]).map { entry in
                (try #require(entry["ip"] as? String), try #require(entry["bucket"] as? Int))
            }
        }
    }

    @Test("with a token the subject is its sub: each sub gets the status mmh3 predicts, from whatever client IP")
    func rolloutByTokenSubject() throws {
        let fixture = try SubjectFixture()
        let outcomes = Set(fixture.subjects.map(\.status))
        #expect(outcomes.count == 2 && outcomes.contains(200), "the subjects land on both sides of the rollout")
        #expect(Set(fixture.clientIPs.map { $0.bucket < fixture.rollout }) == [true, false],
                "the client IPs would land on both sides too, so a gate keyed by IP would answer differently")
        for subject in fixture.subjects {
            #expect(FlagEvaluator.bucket(flag: fixture.flag, subject: subject.sub) == subject.bucket, "\(subject.sub): Tollgate's murmur3 vs mmh3")
        }

        let upstream = try TestUpstream()
        defer { upstream.shutdown() }
        let proxy = try ProxyHarness(
            policies: try JWTConformance.policyFiles(), upstreamPort: upstream.port,
            arguments: ["--trusted-proxies", "127.0.0.0/8"], environment: JWTConformance.environment)
        defer { _ = proxy.stop() }
        var admitted = 0, refused = 0
        for subject in fixture.subjects {
            for (ip, _) in fixture.clientIPs {
                let before = upstream.received.count
                let response = try proxy.request(
                    "GET", fixture.path, headers: [("Authorization", subject.authorization), ("X-Forwarded-For", ip)])
                #expect(response.status == subject.status, "\(subject.sub) (bucket \(subject.bucket)) from \(ip): \(response.text)")
                if subject.status == 200 {
                    admitted += 1
                    #expect(upstream.received.last?.header("x-user-id") == subject.sub)
                } else {
                    refused += 1
                    #expect(response.json["type"] as? String == "urn:tollgate:problem:flag-off", "\(subject.sub)")
                    #expect(upstream.received.count == before, "\(subject.sub): a refused request reached the upstream")
                }
            }
        }
        let metrics = try proxy.admin("GET", "/metrics").text
        #expect(metrics.contains("tollgate_flag_decisions_total{flag=\"\(fixture.flag)\",result=\"on\"} \(admitted)"))
        #expect(metrics.contains("tollgate_flag_decisions_total{flag=\"\(fixture.flag)\",result=\"off\"} \(refused)"))
    }
}
