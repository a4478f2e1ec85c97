import Foundation
import TestSupport
import Testing

/// `/v1` conventions through the real server: scopes, problem+json, audit, lists, PII at rest.
@Suite("Admin API")
struct AdminAPITests {
    @Test("401 without a valid token, 403 without the scope, problem+json every time", arguments: ControlServer.Engine.allCases)
    func scopes(engine: ControlServer.Engine) throws {
        let server = try ControlServer(engine: engine)
        let missing = try server.json("GET", "/v1/clients", token: nil)
        #expect(missing.status == 401)
        #expect(missing.header("content-type") == "application/problem+json")
        #expect(missing.header("www-authenticate") == "Bearer realm=\"tollgate\"")
        #expect(missing.json["status"] as? Int == 401)
        #expect(missing.json["request_id"] as? String == missing.header("x-request-id"))
        let forged = try server.json("GET", "/v1/clients", token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
        #expect(forged.status == 401)
        #expect(forged.header("www-authenticate")?.contains("error=\"invalid_token\"") == true)

        let admin = try server.token()
        let created = try server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"reader","name":"Reader","scopes":["audit.read","orders.read"]}"#)
        let secret = try #require(created.json["client_secret"] as? String)
        let reader = try server.token(client: "reader", secret: secret)
        let forbidden = try server.json("GET", "/v1/clients", token: reader)
        #expect(forbidden.status == 403)
        #expect(forbidden.header("content-type") == "application/problem+json")
        #expect(forbidden.header("www-authenticate")?.contains("scope=\"admin\"") == true)
        #expect(try server.json("GET", "/v1/audit", token: reader).status == 200, "audit.read is enough for the audit log")
        #expect(try server.json("POST", "/v1/keys/rotate", token: reader).status == 403)
        #expect(try server.json("POST", "/v1/users", token: reader, body: "{}").status == 403)
        let unknown = try server.json("GET", "/v1/nothing-here", token: admin)
        #expect(unknown.status == 404)
        #expect(unknown.header("content-type") == "application/problem+json")
    }

    @Test("bad bodies are 4xx problems, never 500", arguments: ControlServer.Engine.allCases)
    func badBodies(engine: ControlServer.Engine) throws {
        let server = try ControlServer(engine: engine)
        let admin = try server.token()
        let cases: [(String, Int)] = [
            ("{", 400), ("[]", 400), (#"{"name":"x","bogus":true}"#, 400), (#"{"name":5}"#, 422), (#"{"scopes":["a"]}"#, 422),
            (#"{"name":"x","scopes":"admin"}"#, 422), (#"{"name":"x","grant_types":["implicit"]}"#, 422),
            (#"{"name":"x","client_id":"has space"}"#, 422), (#"{"name":"x","scopes":["bad\"scope"]}"#, 422),
            ("{\"name\":\"\\ud800\"}", 400), (String(repeating: "[", count: 100), 400),
        ]
        for (body, status) in cases {
            let response = try server.json("POST", "/v1/clients", token: admin, body: body)
            #expect(response.status == status, "\(body)")
            #expect(response.header("content-type") == "application/problem+json", "\(body)")
        }
        let wrongType = try server.request("POST", "/v1/clients", headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "text/plain")], body: "{}")
        #expect(wrongType.status == 415)
        #expect(try server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"dup","name":"a"}"#).status == 201)
        let duplicate = try server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"dup","name":"b"}"#)
        #expect(duplicate.status == 409)
        #expect(try server.json("POST", "/v1/users", token: admin, body: #"{"email":"not-an-email"}"#).status == 422)
        #expect(try server.json("POST", "/v1/users", token: admin, body: #"{"email":"a@b.example","roles":["ghost"]}"#).status == 422)
        #expect(try server.json("GET", "/v1/clients?limit=501", token: admin).status == 400)
        #expect(try server.json("GET", "/v1/clients?page=0", token: admin).status == 400)
        #expect(try server.json("GET", "/v1/audit?from=yesterday", token: admin).status == 400)
        #expect(try server.json("DELETE", "/v1/clients/ghost", token: admin).status == 404)
        #expect(!server.log.contains("\"level\":\"error\""), "no request failed inside")
    }

    @Test("clients: list with paging, rotate-secret, every write audited", arguments: ControlServer.Engine.allCases)
    func clientsAndAudit(engine: ControlServer.Engine) throws {
        let server = try ControlServer(engine: engine)
        let admin = try server.token()
        for index in 0..<3 {
            #expect(try server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"c\#(index)","name":"C\#(index)"}"#).status == 201)
        }
        let page = try server.json("GET", "/v1/clients?limit=2&page=2", token: admin).json
        #expect(page["total"] as? Int == 4)
        #expect(page["page"] as? Int == 2)
        #expect(page["limit"] as? Int == 2)
        #expect((page["items"] as? [[String: Any]])?.compactMap { $0["client_id"] as? String } == ["c1", "c2"])
        let one = try server.json("GET", "/v1/clients/c0", token: admin)
        #expect(one.json["secret_hash"] == nil && one.json["client_secret"] == nil, "secrets never listed")

        let rotated = try server.json("POST", "/v1/clients/c0/rotate-secret", token: admin)
        let newSecret = try #require(rotated.json["client_secret"] as? String)
        #expect(try server.form("/oauth/token", [("grant_type", "client_credentials")], basic: ("c0", newSecret)).status == 200)
        #expect(try server.json("DELETE", "/v1/clients/c2", token: admin).status == 204)

        let audit = try server.json("GET", "/v1/audit?resource=client:c0", token: admin).json
        let entries = audit["items"] as? [[String: Any]] ?? []
        #expect(entries.compactMap { $0["action"] as? String } == ["client.rotate-secret", "client.create"])
        #expect(entries.allSatisfy { $0["actor"] as? String == "client:admin" })
        #expect(entries.allSatisfy { ($0["request_id"] as? String)?.isEmpty == false })
        let deletion = try server.json("GET", "/v1/audit?resource=client:c2", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(deletion.first?["action"] as? String == "client.delete")
        #expect((deletion.first?["before"] as? [String: Any])?["client_id"] as? String == "c2")
        #expect(deletion.first?["after"] is NSNull)
        let auditText = try server.json("GET", "/v1/audit?limit=500", token: admin).text
        #expect(!auditText.contains("tgs_"), "no secret in the audit log")
        let future = try server.json("GET", "/v1/audit?from=2999-01-01T00:00:00Z", token: admin).json
        #expect(future["total"] as? Int == 0)
    }

    @Test("users' email, name and attributes are not in the SQLite file in clear")
    func piiAtRest() throws {
        let server = try ControlServer(engine: .sqlite)
        let admin = try server.token()
        let created = try server.json(
            "POST", "/v1/users", token: admin,
            body: #"{"email":"grace.hopper@navy.example","display_name":"Grace Brewster","attributes":{"team":"cobol-unit"},"password":"a long password"}"#)
        #expect(created.status == 201)
        let userID = try #require(created.json["id"] as? String)
        #expect(try server.json("GET", "/v1/users/\(userID)", token: admin).json["email"] as? String == "grace.hopper@navy.example")
        // A new data key while the server runs: every field is re-sealed, and the server still reads them.
        let rotation = try BuiltBinary("tollgate-control").run([
            "keys", "rotate-data-key", "--database", server.database,
            "--master-key-file", server.directory.appendingPathComponent("master.key").path,
        ])
        #expect(rotation.status == 0, "\(rotation.stderr)")
        #expect(rotation.stdout.contains("4 stored fields re-sealed"), "email, name, attributes, signing key")
        #expect(try server.json("GET", "/v1/users/\(userID)", token: admin).json["display_name"] as? String == "Grace Brewster")
        #expect(try server.json("POST", "/v1/keys/rotate", token: admin).status == 201, "the signing key ring reads its keys under the new data key")
        server.stop()  // checkpoints the WAL into the main file
        var bytes = try Data(contentsOf: URL(fileURLWithPath: server.sqlitePath))
        if let wal = try? Data(contentsOf: URL(fileURLWithPath: server.sqlitePath + "-wal")) { bytes.append(wal) }
        for secret in ["grace.hopper", "navy.example", "Grace Brewster", "cobol-unit", "a long password"] {
            #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(secret) is in the database file")
        }
        #expect(bytes.range(of: Data(userID.utf8)) != nil, "the file is the one written")
    }

    @Test("healthz, readyz, metrics, openapi.json")
    func operations() throws {
        let server = try ControlServer(engine: .sqlite)
        #expect(try server.request("GET", "/healthz").json["status"] as? String == "ok")
        let ready = try server.request("GET", "/readyz")
        #expect(ready.status == 200)
        #expect(ready.json["database"] as? String == "ok")
        _ = try server.token()
        let metrics = try server.request("GET", "/metrics")
        #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
        #expect(metrics.text.contains("tollgate_control_tokens_issued_total{grant_type=\"client_credentials\"} 1"))
        #expect(metrics.text.contains("tollgate_control_http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"200\"} 1"))
        let openapi = try server.request("GET", "/openapi.json")
        #expect(openapi.json["openapi"] as? String == "3.1.0")
    }
}
