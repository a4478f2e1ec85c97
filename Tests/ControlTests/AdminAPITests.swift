import Foundation
import TestSupport
import Testing

/// `/v1` conventions through the real server: scopes, problem+json, audit, lists, PII at rest.
@Suite("Admin API")
struct AdminAPITests {
    @Test("401 without a valid token, 403 without the scope, problem+json every time", arguments: Setup.all)
    func scopes(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let missing = try await server.json("GET", "/v1/clients", token: nil)
        #expect(missing.status == 401)
        #expect(missing.header("content-type") == "application/problem+json")
        #expect(missing.header("www-authenticate") == "Bearer realm=\"tollgate\"")
        #expect(missing.json["status"] as? Int == 401)
        #expect(missing.json["request_id"] as? String == missing.header("x-request-id"))
        let forged = try await server.json("GET", "/v1/clients", token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
        #expect(forged.status == 401)
        #expect(forged.header("www-authenticate")?.contains("error=\"invalid_token\"") == true)

        let admin = try await server.token()
        let created = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"reader","name":"Reader","scopes":["audit.read","orders.read"]}"#)
        let secret = try #require(created.json["client_secret"] as? String)
        let reader = try await server.token(client: "reader", secret: secret)
        let forbidden = try await server.json("GET", "/v1/clients", token: reader)
        #expect(forbidden.status == 403)
        #expect(forbidden.header("content-type") == "application/problem+json")
        #expect(forbidden.header("www-authenticate")?.contains("scope=\"admin\"") == true)
        #expect(try await server.json("GET", "/v1/audit", token: reader).status == 200, "audit.read is enough for the audit log")
        #expect(try await server.json("POST", "/v1/keys/rotate", token: reader).status == 403)
        #expect(try await server.json("POST", "/v1/users", token: reader, body: "{}").status == 403)
        let unknown = try await server.json("GET", "/v1/nothing-here", token: admin)
        #expect(unknown.status == 404)
        #expect(unknown.header("content-type") == "application/problem+json")
    }

    @Test("bad bodies are 4xx problems, never 500", arguments: Setup.all)
    func badBodies(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        let cases: [(String, Int)] = [
            ("{", 400), ("[]", 400), (#"{"name":"x","bogus":true}"#, 400), (#"{"name":5}"#, 422), (#"{"scopes":["a"]}"#, 422),
            (#"{"name":"x","scopes":"admin"}"#, 422), (#"{"name":"x","grant_types":["implicit"]}"#, 422),
            (#"{"name":"x","client_id":"has space"}"#, 422), (#"{"name":"x","scopes":["bad\"scope"]}"#, 422),
            ("{\"name\":\"\\ud800\"}", 400), (String(repeating: "[", count: 100), 400),
        ]
        for (body, status) in cases {
            let response = try await server.json("POST", "/v1/clients", token: admin, body: body)
            #expect(response.status == status, "\(body)")
            #expect(response.header("content-type") == "application/problem+json", "\(body)")
        }
        let wrongType = try await server.request("POST", "/v1/clients", headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "text/plain")], body: "{}")
        #expect(wrongType.status == 415)
        #expect(try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"dup","name":"a"}"#).status == 201)
        let duplicate = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"dup","name":"b"}"#)
        #expect(duplicate.status == 409)
        #expect(try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"not-an-email"}"#).status == 422)
        #expect(try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"a@b.example","roles":["ghost"]}"#).status == 422)
        #expect(try await server.json("GET", "/v1/clients?limit=501", token: admin).status == 400)
        #expect(try await server.json("GET", "/v1/clients?page=0", token: admin).status == 400)
        #expect(try await server.json("GET", "/v1/audit?from=yesterday", token: admin).status == 400)
        #expect(try await server.json("DELETE", "/v1/clients/ghost", token: admin).status == 404)
        #expect(!server.log.contains("\"level\":\"error\""), "no request failed inside")
    }

    @Test("clients: list with paging, rotate-secret, every write audited", arguments: Setup.all)
    func clientsAndAudit(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        for index in 0..<3 {
            #expect(try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"c\#(index)","name":"C\#(index)"}"#).status == 201)
        }
        let page = try await server.json("GET", "/v1/clients?limit=2&page=2", token: admin).json
        #expect(page["total"] as? Int == 4)
        #expect(page["page"] as? Int == 2)
        #expect(page["limit"] as? Int == 2)
        #expect((page["items"] as? [[String: Any]])?.compactMap { $0["client_id"] as? String } == ["c1", "c2"])
        let one = try await server.json("GET", "/v1/clients/c0", token: admin)
        #expect(one.json["secret_hash"] == nil && one.json["client_secret"] == nil, "secrets never listed")

        let rotated = try await server.json("POST", "/v1/clients/c0/rotate-secret", token: admin)
        let newSecret = try #require(rotated.json["client_secret"] as? String)
        #expect(try await server.form("/oauth/token", [("grant_type", "client_credentials")], basic: ("c0", newSecret)).status == 200)
        #expect(try await server.json("DELETE", "/v1/clients/c2", token: admin).status == 204)

        let audit = try await server.json("GET", "/v1/audit?resource=client:c0", token: admin).json
        let entries = audit["items"] as? [[String: Any]] ?? []
        #expect(entries.compactMap { $0["action"] as? String } == ["client.rotate-secret", "client.create"])
        #expect(entries.allSatisfy { $0["actor"] as? String == "client:admin" })
        #expect(entries.allSatisfy { ($0["request_id"] as? String)?.isEmpty == false })
        let deletion = try await server.json("GET", "/v1/audit?resource=client:c2", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(deletion.first?["action"] as? String == "client.delete")
        #expect((deletion.first?["before"] as? [String: Any])?["client_id"] as? String == "c2")
        #expect(deletion.first?["after"] is NSNull)
        let auditText = try await server.json("GET", "/v1/audit?limit=500", token: admin).text
        #expect(!auditText.contains("tgs_"), "no secret in the audit log")
        let future = try await server.json("GET", "/v1/audit?from=2999-01-01T00:00:00Z", token: admin).json
        #expect(future["total"] as? Int == 0)
    }

    @Test("clients: ETag from the version, If-Match on writes (412 when stale), 404 for unknown ids", arguments: Setup.all)
    func conditionalWrites(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        let auth = ("Authorization", "Bearer \(admin)")
        let created = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"etag","name":"E"}"#)
        #expect(created.header("etag") == "\"1\"")
        let read = try await server.json("GET", "/v1/clients/etag", token: admin)
        #expect(read.header("etag") == "\"1\"")
        #expect(read.json["version"] as? Int == 1)

        let stale = try await server.request("POST", "/v1/clients/etag/rotate-secret", headers: [auth, ("If-Match", "\"7\"")])
        #expect(stale.status == 412)
        #expect(stale.header("content-type") == "application/problem+json")
        let rotated = try await server.request("POST", "/v1/clients/etag/rotate-secret", headers: [auth, ("If-Match", "\"0\", \"1\"")])
        #expect(rotated.status == 200)
        #expect(rotated.header("etag") == "\"2\"")
        #expect(try await server.json("GET", "/v1/clients/etag", token: admin).json["version"] as? Int == 2)
        let secret = try #require(rotated.json["client_secret"] as? String)
        #expect(try await server.token(client: "etag", secret: secret).isEmpty == false, "the new secret works")

        // The old version, a weak tag (If-Match compares strongly): refused, and nothing deleted.
        for tag in ["\"1\"", "W/\"2\""] {
            #expect(try await server.request("DELETE", "/v1/clients/etag", headers: [auth, ("If-Match", tag)]).status == 412, "\(tag)")
        }
        #expect(try await server.json("GET", "/v1/clients/etag", token: admin).status == 200)
        let audit = try await server.json("GET", "/v1/audit?resource=client:etag", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(audit.compactMap { $0["action"] as? String } == ["client.rotate-secret", "client.create"], "refused writes leave no audit row")
        #expect(try await server.request("DELETE", "/v1/clients/etag", headers: [auth, ("If-Match", "\"2\"")]).status == 204)
        #expect(try await server.json("GET", "/v1/clients/etag", token: admin).status == 404)
        #expect(try await server.request("DELETE", "/v1/clients/etag", headers: [auth, ("If-Match", "*")]).status == 404)
        #expect(try await server.json("POST", "/v1/clients/ghost/rotate-secret", token: admin).status == 404)
        #expect(try await server.json("GET", "/v1/clients/ghost", token: admin).status == 404)
    }

    @Test("keys and roles lists have the list shape; the audit log filters by actor and time", arguments: Setup.all)
    func listsAndAuditFilters(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        #expect(try await server.json("POST", "/v1/keys/rotate", token: admin).status == 201)
        let keys = try await server.json("GET", "/v1/keys?limit=1&page=2", token: admin).json
        #expect(keys["total"] as? Int == 2)
        #expect(keys["page"] as? Int == 2)
        #expect(keys["limit"] as? Int == 1)
        #expect((keys["items"] as? [[String: Any]])?.first?["status"] as? String == "retired", "newest first: page 2 holds the old key")
        #expect(try await server.json("GET", "/v1/keys?limit=0", token: admin).status == 400)
        for name in ["a", "b", "c"] {
            #expect(try await server.json("POST", "/v1/roles", token: admin, body: #"{"name":"\#(name)","scopes":[]}"#).status == 201)
        }
        let roles = try await server.json("GET", "/v1/roles?limit=2", token: admin).json
        #expect(roles["total"] as? Int == 3)
        #expect((roles["items"] as? [[String: Any]])?.count == 2)

        let user = try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"f@example.org"}"#)
        #expect(user.status == 201)
        let clientRows = try await server.json("GET", "/v1/audit?actor=client:admin&limit=500", token: admin).json
        #expect(clientRows["total"] as? Int == 5, "key rotation, three roles, one user")
        #expect(try await server.json("GET", "/v1/audit?actor=client:nobody", token: admin).json["total"] as? Int == 0)
        #expect(try await server.json("GET", "/v1/audit?to=2000-01-01T00:00:00Z", token: admin).json["total"] as? Int == 0)
        let bootstrapRows = try await server.json("GET", "/v1/audit?actor=bootstrap", token: admin).json
        #expect(bootstrapRows["total"] as? Int == 1)
        let now = try await server.json("GET", "/v1/audit?to=\(Int64(Date().timeIntervalSince1970 * 1000) + 1000)&limit=500", token: admin).json
        #expect(now["total"] as? Int == 6, "epoch milliseconds work as well as RFC 3339")
        let active = try #require((try await server.json("GET", "/v1/keys", token: admin).json["items"] as? [[String: Any]])?.first?["kid"] as? String)
        let rotation = try await server.json("GET", "/v1/audit?resource=key:\(active)", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(rotation.map { "\($0["action"] ?? "") \($0["actor"] ?? "")" } == ["key.rotate client:admin"])
    }

    @Test("users and roles: create, read, list roles, deactivate; duplicates, bad values and unknown ids", arguments: Setup.all)
    func usersAndRoles(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        #expect(try await server.json("POST", "/v1/roles", token: admin, body: #"{"name":"ops","description":"Operators","scopes":["flag.read"]}"#).status == 201)
        #expect(try await server.json("POST", "/v1/roles", token: admin, body: #"{"name":"ops","scopes":[]}"#).status == 409)
        #expect(try await server.json("POST", "/v1/roles", token: admin, body: #"{"name":"has space","scopes":[]}"#).status == 422)
        #expect(try await server.json("POST", "/v1/roles", token: admin, body: #"{"name":"x","scopes":"flag.read"}"#).status == 422)
        let roles = try await server.json("GET", "/v1/roles", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(roles.first { $0["name"] as? String == "ops" }?["scopes"] as? [String] == ["flag.read"])

        let created = try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"Ada@Example.org","display_name":"Ada","roles":["ops"]}"#)
        #expect(created.status == 201)
        let id = try #require(created.json["id"] as? String)
        #expect(created.json["status"] as? String == "active")
        #expect(created.json["roles"] as? [String] == ["ops"])
        #expect(created.json["password"] == nil && created.json["password_hash"] == nil)
        let duplicate = try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"ada@example.ORG"}"#)
        #expect(duplicate.status == 409, "email is unique, case-insensitive")
        #expect(duplicate.header("content-type") == "application/problem+json")
        #expect(try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"b@example.org","password":"short"}"#).status == 422)
        #expect(try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"b@example.org","nickname":"b"}"#).status == 400)
        #expect(try await server.json("GET", "/v1/users/\(id)", token: admin).json["display_name"] as? String == "Ada")
        #expect(try await server.json("GET", "/v1/users/usr_nobody", token: admin).status == 404)
        #expect(try await server.json("DELETE", "/v1/users/usr_nobody", token: admin).status == 404)
        let deactivated = try await server.json("DELETE", "/v1/users/\(id)", token: admin)
        #expect(deactivated.status == 200)
        #expect(try await server.json("GET", "/v1/users/\(id)", token: admin).json["status"] as? String == "deactivated")
        let readerClient = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"people","name":"People","scopes":["profile.read"]}"#)
        let reader = try await server.token(client: "people", secret: try #require(readerClient.json["client_secret"] as? String))
        #expect(try await server.json("GET", "/v1/users/\(id)", token: reader).status == 200)
        #expect(try await server.json("DELETE", "/v1/users/\(id)", token: reader).status == 403)
        let audit = try await server.json("GET", "/v1/audit?resource=user:\(id)", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(audit.compactMap { $0["action"] as? String } == ["user.deactivate", "user.create"])
        #expect(!(try await server.json("GET", "/v1/audit?limit=500", token: admin).text.contains("Ada@")), "no email in the audit log")
    }

    @Test("users' email, name and attributes are not in the SQLite file in clear", arguments: Setup.both(.sqlite))
    func piiAtRest(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        let created = try await server.json(
            "POST", "/v1/users", token: admin,
            body: #"{"email":"grace.hopper@navy.example","display_name":"Grace Brewster","attributes":{"team":"cobol-unit"},"password":"a long password"}"#)
        #expect(created.status == 201)
        let userID = try #require(created.json["id"] as? String)
        #expect(try await server.json("GET", "/v1/users/\(userID)", token: admin).json["email"] as? String == "grace.hopper@navy.example")
        // A new data key while the server runs: every field is re-sealed, and the server still reads them.
        let rotation = try server.cli(["keys", "rotate-data-key"])
        #expect(rotation.status == 0, "\(rotation.stderr)")
        #expect(rotation.stdout.contains("4 stored fields re-sealed"), "email, name, attributes, signing key")
        #expect(try await server.json("GET", "/v1/users/\(userID)", token: admin).json["display_name"] as? String == "Grace Brewster")
        #expect(try await server.json("POST", "/v1/keys/rotate", token: admin).status == 201, "the signing key ring reads its keys under the new data key")
        await server.stop()  // checkpoints the WAL into the main file
        var bytes = try Data(contentsOf: URL(fileURLWithPath: server.sqlitePath))
        if let wal = try? Data(contentsOf: URL(fileURLWithPath: server.sqlitePath + "-wal")) { bytes.append(wal) }
        for secret in ["grace.hopper", "navy.example", "Grace Brewster", "cobol-unit", "a long password"] {
            #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(secret) is in the database file")
        }
        #expect(bytes.range(of: Data(userID.utf8)) != nil, "the file is the one written")
    }

    @Test("readyz is 503 when the database does not answer; healthz stays 200", arguments: Setup.all.filter { $0.transport == .inProcess })
    func readyzWithoutDatabase(setup: Setup) async throws {
        // In-process, the router can be asked after its database was closed under it: the state of
        // a replica whose database went away.
        let server = try await ControlHarness(setup)
        #expect(try await server.request("GET", "/readyz").status == 200)
        await server.stop()
        let ready = try await server.request("GET", "/readyz")
        #expect(ready.status == 503, "\(ready.text)")
        #expect(ready.json["database"] as? String == "unreachable")
        #expect(try await server.request("GET", "/healthz").status == 200, "the process still runs")
    }

    @Test("healthz, readyz, metrics, openapi.json", arguments: Setup.all)
    func operations(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        #expect(try await server.request("GET", "/healthz").json["status"] as? String == "ok")
        let ready = try await server.request("GET", "/readyz")
        #expect(ready.status == 200)
        #expect(ready.json["database"] as? String == "ok")
        _ = try await server.token()
        let metrics = try await server.request("GET", "/metrics")
        #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
        #expect(metrics.text.contains("tollgate_control_tokens_issued_total{grant_type=\"client_credentials\"} 1"))
        #expect(metrics.text.contains("tollgate_control_http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"200\"} 1"))
        let openapi = try await server.request("GET", "/openapi.json")
        #expect(openapi.json["openapi"] as? String == "3.1.0")
    }
}
