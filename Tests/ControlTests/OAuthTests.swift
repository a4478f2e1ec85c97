import Foundation
import TestSupport
import Testing

/// The OAuth2 / OIDC provider through the real `tollgate-control serve`, on SQLite and PostgreSQL.
@Suite("OAuth2 / OIDC provider")
struct OAuthTests {
    @Test("client_credentials token verifies with joserfc against our JWKS and introspects active", arguments: Setup.all)
    func clientCredentials(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let response = try await server.form("/oauth/token", [("grant_type", "client_credentials")], basic: ("admin", server.adminSecret))
        #expect(response.status == 200)
        #expect(response.header("cache-control") == "no-store")
        #expect(response.json["token_type"] as? String == "Bearer")
        #expect(response.json["expires_in"] as? Int == 900)
        #expect(response.json["scope"] as? String == "admin")
        #expect(response.json["refresh_token"] == nil, "no refresh token for client_credentials")
        let token = try #require(response.json["access_token"] as? String)

        let verified = try await Independent.verify(token, server: server)
        let header = try #require(verified["header"] as? [String: Any])
        let claims = try #require(verified["claims"] as? [String: Any])
        #expect(header["alg"] as? String == "ES256")
        #expect(header["typ"] as? String == "at+jwt")
        #expect(claims["iss"] as? String == server.issuer)
        #expect(claims["sub"] as? String == "admin")
        #expect(claims["client_id"] as? String == "admin")
        #expect(claims["scope"] as? String == "admin")
        for name in ["exp", "iat", "nbf", "jti", "aud"] { #expect(claims[name] != nil, "claim \(name)") }

        // Client auth in the form works too; the secret is checked.
        let introspection = try await server.form(
            "/oauth/introspect", [("token", token), ("client_id", "admin"), ("client_secret", server.adminSecret)])
        #expect(introspection.status == 200)
        #expect(introspection.json["active"] as? Bool == true)
        #expect(introspection.json["client_id"] as? String == "admin")
        #expect(introspection.json["jti"] as? String == claims["jti"] as? String)
        // GET with Basic, and a Bearer caller holding auth.introspect (admin has every scope).
        let viaGet = try await server.request(
            "GET", "/oauth/introspect?token=\(token)",
            headers: [("Authorization", "Basic " + Data("admin:\(server.adminSecret)".utf8).base64EncodedString())])
        #expect(viaGet.json["active"] as? Bool == true)
        let viaBearer = try await server.form("/oauth/introspect", [("token", token)], bearer: token)
        #expect(viaBearer.json["active"] as? Bool == true)
        #expect(try await server.form("/oauth/introspect", [("token", "garbage")], basic: ("admin", server.adminSecret)).json["active"] as? Bool == false)
    }

    @Test("token endpoint errors follow RFC 6749 §5.2", arguments: Setup.all)
    func tokenErrors(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let wrongSecret = try await server.form("/oauth/token", [("grant_type", "client_credentials")], basic: ("admin", "nope"))
        #expect(wrongSecret.status == 401)
        #expect(wrongSecret.json["error"] as? String == "invalid_client")
        #expect(wrongSecret.header("www-authenticate")?.hasPrefix("Basic") == true)
        let unknownClient = try await server.form("/oauth/token", [("grant_type", "client_credentials"), ("client_id", "ghost"), ("client_secret", "x")])
        #expect(unknownClient.status == 401)
        #expect(unknownClient.json["error"] as? String == "invalid_client")
        let basic = ("admin", server.adminSecret)
        #expect(try await server.form("/oauth/token", [], basic: basic).json["error"] as? String == "invalid_request")
        #expect(try await server.form("/oauth/token", [("grant_type", "implicit")], basic: basic).json["error"] as? String == "unsupported_grant_type")
        #expect(try await server.form("/oauth/token", [("grant_type", "password"), ("username", "a"), ("password", "b")], basic: basic)
            .json["error"] as? String == "unauthorized_client")
        // admin holds every scope of the control plane, not scopes it does not know.
        let badScope = try await server.form("/oauth/token", [("grant_type", "client_credentials"), ("scope", "orders.read")], basic: basic)
        #expect(badScope.status == 400)
        #expect(badScope.json["error"] as? String == "invalid_scope")
        let twice = try await server.request(
            "POST", "/oauth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: "grant_type=client_credentials&grant_type=password&client_id=admin&client_secret=\(server.adminSecret)")
        #expect(twice.json["error"] as? String == "invalid_request")
        let json = try await server.request("POST", "/oauth/token", headers: [("Content-Type", "application/json")], body: "{}")
        #expect(json.status == 400)
        #expect(json.json["error"] as? String == "invalid_request")
        let badTarget = try await server.form("/oauth/token", [("grant_type", "client_credentials"), ("audience", "elsewhere")], basic: basic)
        #expect(badTarget.json["error"] as? String == "invalid_target")
        let metrics = try await server.request("GET", "/metrics").text
        #expect(metrics.contains("tollgate_control_token_errors_total{error=\"invalid_client\"} 2"))
    }

    @Test("password grant brute force: a username locks after repeated failures, known or not; the lock expires; success clears the count", arguments: Setup.all)
    func loginThrottle(setup: Setup) async throws {
        let server = try await ControlHarness(setup, arguments: ["--max-login-failures", "3", "--login-lockout", "3s"])
        let admin = try await server.token()
        #expect(try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"grace@example.com","password":"correct horse"}"#).status == 201)
        let client = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"web","name":"Web","grant_types":["password"]}"#)
        let web = ("web", try #require(client.json["client_secret"] as? String))
        func login(_ username: String, _ password: String) async throws -> RawHTTPConnection.Response {
            try await server.form("/oauth/token", [("grant_type", "password"), ("username", username), ("password", password)], basic: web)
        }
        for username in ["grace@example.com", "nobody@example.com"] {
            for _ in 0..<3 { #expect(try await login(username, "wrong").json["error"] as? String == "invalid_grant") }
            // Checked at once: the lock lasts 3 s.
            let locked = try await login(username.uppercased(), "correct horse")
            #expect(locked.status == 400)
            #expect((locked.json["error_description"] as? String)?.hasPrefix("too many failed logins") == true, "\(username): \(locked.text)")
        }
        try await Task.sleep(for: .milliseconds(3_200))
        #expect(try await login("grace@example.com", "correct horse").status == 200, "the lock expired")
        for _ in 0..<2 { _ = try await login("grace@example.com", "wrong") }
        #expect(try await login("grace@example.com", "correct horse").status == 200, "the success before cleared the count")
        #expect(server.log.contains("password logins locked after repeated failures"))
        #expect(!server.log.contains("grace@example.com") && !server.log.contains("nobody@example.com"), "no username in the log")
    }

    @Test("password grant, rotating refresh tokens, reuse revokes the family, userinfo", arguments: Setup.all)
    func passwordAndRefresh(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        #expect(try await server.json("POST", "/v1/roles", token: admin, body: #"{"name":"ops","scopes":["flag.read","flag.write"]}"#).status == 201)
        let user = try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"Ada@Example.com","password":"correct horse","display_name":"Ada","roles":["ops"]}"#)
        #expect(user.status == 201)
        let userID = try #require(user.json["id"] as? String)
        #expect(user.json["email"] as? String == "ada@example.com")
        let client = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"web","name":"Web","grant_types":["password"]}"#)
        #expect(client.json["grant_types"] as? [String] == ["password", "refresh_token"])
        let webSecret = try #require(client.json["client_secret"] as? String)
        let web = ("web", webSecret)

        let wrong = try await server.form("/oauth/token", [("grant_type", "password"), ("username", "ada@example.com"), ("password", "nope")], basic: web)
        #expect(wrong.status == 400)
        #expect(wrong.json["error"] as? String == "invalid_grant")
        let login = try await server.form(
            "/oauth/token", [("grant_type", "password"), ("username", "ADA@example.com"), ("password", "correct horse"), ("scope", "flag.read admin openid")],
            basic: web)
        #expect(login.status == 200)
        #expect(login.json["scope"] as? String == "flag.read openid", "only the requested scopes the roles grant")
        let access = try #require(login.json["access_token"] as? String)
        let refresh = try #require(login.json["refresh_token"] as? String)
        let claims = try #require(try await Independent.verify(access, server: server)["claims"] as? [String: Any])
        #expect(claims["sub"] as? String == userID)
        #expect(claims["sid"] != nil)

        let info = try await server.json("GET", "/oauth/userinfo", token: access)
        #expect(info.status == 200)
        #expect(info.json["sub"] as? String == userID)
        #expect(info.json["email"] as? String == "ada@example.com")
        #expect(info.json["name"] as? String == "Ada")
        #expect(try await server.json("GET", "/oauth/userinfo", token: admin).status == 401, "a client token has no user")
        let introspected = try await server.form("/oauth/introspect", [("token", access)], basic: web)
        #expect(introspected.json["username"] as? String == "ada@example.com")
        #expect(try await server.form("/oauth/introspect", [("token", refresh)], basic: web).json["token_type"] as? String == "refresh_token")

        // Rotation: the new refresh token works, the old one is dead; narrowing the scope is allowed.
        let rotated = try await server.form("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", "flag.read")], basic: web)
        #expect(rotated.status == 200)
        #expect(rotated.json["scope"] as? String == "flag.read")
        let secondRefresh = try #require(rotated.json["refresh_token"] as? String)
        #expect(secondRefresh != refresh)
        let widened = try await server.form("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", secondRefresh), ("scope", "flag.write")], basic: web)
        #expect(widened.json["error"] as? String == "invalid_scope")
        let secondAccess = try #require(rotated.json["access_token"] as? String)

        // Reuse of the first refresh token: refused, and the whole family dies.
        let reuse = try await server.form("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", refresh)], basic: web)
        #expect(reuse.status == 400)
        #expect(reuse.json["error"] as? String == "invalid_grant")
        #expect(try await server.form("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", secondRefresh)], basic: web).json["error"] as? String == "invalid_grant")
        for token in [access, secondAccess, secondRefresh] {
            #expect(try await server.form("/oauth/introspect", [("token", token)], basic: web).json["active"] as? Bool == false)
        }
        #expect(try await server.request("GET", "/metrics").text.contains("tollgate_control_refresh_reuse_total 1"))
        let familyAudit = try await server.json("GET", "/v1/audit?actor=client:web", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(familyAudit.contains { $0["action"] as? String == "token-family.revoke"
            && ($0["after"] as? [String: Any])?["reason"] as? String == "refresh token reused" })
        // Another client cannot redeem this client's refresh tokens.
        let again = try await server.form("/oauth/token", [("grant_type", "password"), ("username", "ada@example.com"), ("password", "correct horse")], basic: web)
        let thirdRefresh = try #require(again.json["refresh_token"] as? String)
        let other = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"other","name":"Other","grant_types":["password"]}"#)
        let otherAuth = ("other", try #require(other.json["client_secret"] as? String))
        #expect(try await server.form("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", thirdRefresh)], basic: otherAuth)
            .json["error"] as? String == "invalid_grant")
        #expect(try await server.form("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", thirdRefresh)], basic: web).status == 200)
    }

    @Test("revoked, deleted-client, deactivated-user tokens introspect inactive", arguments: Setup.all)
    func inactiveTokens(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        let created = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"svc","name":"Svc","scopes":["orders.read"]}"#)
        let svcSecret = try #require(created.json["client_secret"] as? String)
        let svc = ("svc", svcSecret)
        let token = try await server.token(client: "svc", secret: svcSecret)
        let other = try await server.token(client: "svc", secret: svcSecret)

        // RFC 7009: revoke answers 200, also for tokens it does not know; another client may not revoke it.
        #expect(try await server.form("/oauth/revoke", [("token", "not-a-token")], basic: svc).status == 200)
        #expect(try await server.form("/oauth/revoke", [("token", token)], basic: ("admin", server.adminSecret)).json["error"] as? String == "unauthorized_client")
        #expect(try await server.form("/oauth/revoke", [("token", token)], basic: svc).status == 200)
        #expect(try await server.form("/oauth/introspect", [("token", token)], basic: svc).json["active"] as? Bool == false)
        #expect(try await server.form("/oauth/introspect", [("token", other)], basic: svc).json["active"] as? Bool == true)

        // A deleted client's tokens die with it.
        #expect(try await server.json("DELETE", "/v1/clients/svc", token: admin).status == 204)
        #expect(try await server.form("/oauth/introspect", [("token", other)], basic: ("admin", server.adminSecret)).json["active"] as? Bool == false)

        // A deactivated user's tokens.
        _ = try await server.json("POST", "/v1/roles", token: admin, body: #"{"name":"reader","scopes":["flag.read"]}"#)
        let user = try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"bo@example.com","password":"long enough","roles":["reader"]}"#)
        let userID = try #require(user.json["id"] as? String)
        let web = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"web","name":"Web","grant_types":["password"]}"#)
        let webAuth = ("web", try #require(web.json["client_secret"] as? String))
        let login = try await server.form("/oauth/token", [("grant_type", "password"), ("username", "bo@example.com"), ("password", "long enough")], basic: webAuth)
        let access = try #require(login.json["access_token"] as? String)
        #expect(try await server.form("/oauth/introspect", [("token", access)], basic: webAuth).json["active"] as? Bool == true)
        let deactivated = try await server.json("DELETE", "/v1/users/\(userID)", token: admin)
        #expect(deactivated.json["status"] as? String == "deactivated")
        #expect(try await server.form("/oauth/introspect", [("token", access)], basic: webAuth).json["active"] as? Bool == false)
        #expect(try await server.form("/oauth/token", [("grant_type", "password"), ("username", "bo@example.com"), ("password", "long enough")], basic: webAuth)
            .json["error"] as? String == "invalid_grant")
    }

    @Test("an expired token introspects inactive and is refused by /v1 the moment it expires", arguments: Setup.all)
    func expiredTokens(setup: Setup) async throws {
        let server = try await ControlHarness(setup, arguments: ["--token-ttl", "3s"])
        let basic = ("admin", server.adminSecret)
        let token = try await server.token()
        // exp from the payload itself (joserfc would refuse to read an expired token).
        let payload = try #require(token.split(separator: ".").dropFirst().first)
        var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let json = try #require(Data(base64Encoded: base64))
        let claims = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let exp = try #require(claims["exp"] as? Double)
        let active = try await server.form("/oauth/introspect", [("token", token)], basic: basic).json["active"] as? Bool
        if Date().timeIntervalSince1970 < exp - 0.5 {  // a loaded machine may take longer than the TTL
            #expect(active == true)
        }
        // No grace after exp for our own tokens (a verifier elsewhere may allow its clock skew).
        let wait = exp - Date().timeIntervalSince1970 + 0.2
        if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
        #expect(try await server.form("/oauth/introspect", [("token", token)], basic: basic).json["active"] as? Bool == false)
        let refused = try await server.json("GET", "/v1/keys", token: token)
        #expect(refused.status == 401)
        #expect(refused.header("www-authenticate")?.contains("error=\"invalid_token\"") == true)
    }

    @Test("introspection and revocation refuse unauthenticated callers; revoking a refresh token ends its family", arguments: Setup.all)
    func introspectionAndRevocationAuth(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        let anonymous = try await server.form("/oauth/introspect", [("token", admin)])
        #expect(anonymous.status == 401)
        #expect(anonymous.json["error"] as? String == "invalid_client")
        #expect(anonymous.json["active"] == nil, "nothing about the token is told")
        // admin holds every scope, so it may ask for a narrower token; that one lacks auth.introspect.
        let narrow = try await server.token(scope: "flag.read")
        #expect(try await server.form("/oauth/introspect", [("token", narrow)], basic: ("admin", server.adminSecret)).json["scope"] as? String == "flag.read")
        let forbidden = try await server.form("/oauth/introspect", [("token", admin)], bearer: narrow)
        #expect(forbidden.status == 403)
        #expect(forbidden.header("www-authenticate")?.contains("insufficient_scope") == true)
        #expect(try await server.json("GET", "/v1/keys", token: narrow).status == 403, "the narrow token has only flag.read")
        #expect(try await server.form("/oauth/revoke", [("token", admin)]).status == 401)

        // A user's refresh token revoked by its client: the family (and its access token) is dead.
        _ = try await server.json("POST", "/v1/roles", token: admin, body: #"{"name":"reader","scopes":["flag.read"]}"#)
        _ = try await server.json("POST", "/v1/users", token: admin, body: #"{"email":"cy@example.com","password":"long enough","roles":["reader"]}"#)
        let web = try await server.json("POST", "/v1/clients", token: admin, body: #"{"client_id":"web","name":"Web","grant_types":["password","refresh_token"]}"#)
        let webAuth = ("web", try #require(web.json["client_secret"] as? String))
        let login = try await server.form("/oauth/token", [("grant_type", "password"), ("username", "cy@example.com"), ("password", "long enough")], basic: webAuth)
        let refresh = try #require(login.json["refresh_token"] as? String)
        let access = try #require(login.json["access_token"] as? String)
        #expect(try await server.form("/oauth/revoke", [("token", refresh), ("token_type_hint", "refresh_token")], basic: webAuth).status == 200)
        #expect(try await server.form("/oauth/introspect", [("token", refresh)], basic: webAuth).json["active"] as? Bool == false)
        #expect(try await server.form("/oauth/introspect", [("token", access)], basic: webAuth).json["active"] as? Bool == false)
        #expect(try await server.form("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", refresh)], basic: webAuth).json["error"] as? String == "invalid_grant")
        // Revocations are writes: audited with the client as actor, the token itself never.
        #expect(try await server.form("/oauth/revoke", [("token", narrow)], basic: ("admin", server.adminSecret)).status == 200)
        let audit = try await server.json("GET", "/v1/audit?limit=500", token: admin)
        let actions = (audit.json["items"] as? [[String: Any]] ?? []).map { "\($0["action"] ?? "") \($0["actor"] ?? "")" }
        #expect(actions.contains("token-family.revoke client:web"))
        #expect(actions.contains("token.revoke client:admin"))
        #expect(!audit.text.contains(refresh) && !audit.text.contains(narrow))
    }

    @Test("a rotated-out key stays published for the longest token lifetime any server issues with, whoever rotates", arguments: Setup.all)
    func retirementWindow(setup: Setup) async throws {
        // The server issues 2-hour tokens; the CLI rotating the key runs with the default 15 minutes.
        let server = try await ControlHarness(setup, arguments: ["--token-ttl", "2h"])
        let admin = try await server.token()
        let before = Date()
        let cli = try server.cli(["keys", "rotate"])
        #expect(cli.status == 0, "\(cli.stderr)")
        let keys = try await server.json("GET", "/v1/keys", token: admin).json["items"] as? [[String: Any]] ?? []
        let retired = try #require(keys.first { $0["status"] as? String == "retired" })
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let until = try #require((retired["published_until"] as? String).flatMap(format.date(from:)))
        #expect(until.timeIntervalSince(before) >= 2 * 3600, "published for at least the 2 h the server's tokens live, not the CLI's 15 min")
        let audit = try await server.json("GET", "/v1/audit?actor=cli", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(audit.compactMap { $0["action"] as? String } == ["key.rotate"])
    }

    @Test("rotations at the same time take turns: one active key after all of them, every one audited", arguments: Setup.all)
    func concurrentRotations(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let admin = try await server.token()
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 { group.addTask { try await server.json("POST", "/v1/keys/rotate", token: admin).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses == [201, 201, 201, 201])
        let keys = try await server.json("GET", "/v1/keys?limit=500", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(keys.count == 5, "the first key and four rotations")
        #expect(keys.filter { $0["status"] as? String == "active" }.count == 1, "never two active keys: \(keys)")
        let audit = try await server.json("GET", "/v1/audit?limit=500", token: admin).json["items"] as? [[String: Any]] ?? []
        #expect(audit.filter { $0["action"] as? String == "key.rotate" }.count == 4)
    }

    @Test("key rotation: old tokens stay valid, both kids in JWKS, new tokens use the new kid", arguments: Setup.all)
    func keyRotation(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        let before = try await server.token()
        let oldKid = try #require(try await Independent.verify(before, server: server)["header"] as? [String: Any])["kid"] as? String
        let rotated = try await server.json("POST", "/v1/keys/rotate", token: before)
        #expect(rotated.status == 201)
        let newKid = try #require(rotated.json["kid"] as? String)
        #expect(newKid != oldKid)
        let jwks = try await server.request("GET", "/.well-known/jwks.json").json
        let kids = (jwks["keys"] as? [[String: Any]] ?? []).compactMap { $0["kid"] as? String }
        #expect(Set(kids) == [oldKid, newKid])
        let after = try await server.token()
        #expect((try await Independent.verify(after, server: server)["header"] as? [String: Any])?["kid"] as? String == newKid)
        #expect(try await Independent.verify(before, server: server)["claims"] != nil, "the old token still verifies against the published JWKS")
        #expect(try await server.form("/oauth/introspect", [("token", before)], basic: ("admin", server.adminSecret)).json["active"] as? Bool == true)
        let keys = try await server.json("GET", "/v1/keys", token: after).json["items"] as? [[String: Any]] ?? []
        #expect(keys.first { $0["kid"] as? String == oldKid }?["status"] as? String == "retired")
        #expect(keys.first { $0["kid"] as? String == oldKid }?["published_until"] is String)
        // The CLI rotates too; /v1/keys reads the shared table.
        let cli = try server.cli(["keys", "rotate"])
        #expect(cli.status == 0, "\(cli.stderr)")
        let ring = try await server.json("GET", "/v1/keys", token: after).json["items"] as? [[String: Any]] ?? []
        #expect(ring.count == 3)
        #expect(ring.filter { $0["status"] as? String == "active" }.count == 1)
        #expect(ring.first { $0["status"] as? String == "active" }?["kid"] as? String != newKid)
    }

    @Test("discovery names our endpoints; RS256 is selectable", arguments: Setup.all)
    func discoveryAndRS256(setup: Setup) async throws {
        let server = try await ControlHarness(setup, arguments: ["--signing-alg", "RS256"])
        let discovery = try await server.request("GET", "/.well-known/openid-configuration").json
        #expect(discovery["issuer"] as? String == server.issuer)
        #expect(discovery["token_endpoint"] as? String == server.issuer + "/oauth/token")
        #expect(discovery["jwks_uri"] as? String == server.issuer + "/.well-known/jwks.json")
        #expect(discovery["introspection_endpoint"] as? String == server.issuer + "/oauth/introspect")
        #expect(discovery["revocation_endpoint"] as? String == server.issuer + "/oauth/revoke")
        let token = try await server.token()
        let verified = try await Independent.verify(token, server: server)
        #expect((verified["header"] as? [String: Any])?["alg"] as? String == "RS256")
    }
}

/// Verification by code we did not write: Python joserfc against the JWKS the server publishes.
enum Independent {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/verify_jwt.py")

    static func verify(_ token: String, server: ControlHarness) async throws -> [String: Any] {
        let jwks = server.directory.appendingPathComponent("jwks-\(UUID().uuidString).json")
        try Data(try await server.request("GET", "/.well-known/jwks.json").body).write(to: jwks)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, jwks.path, token, server.issuer]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw VerificationFailed(output: String(decoding: data, as: UTF8.self))
        }
        return object
    }

    struct VerificationFailed: Error, CustomStringConvertible {
        let output: String
        var description: String { "joserfc refused the token: \(output)" }
    }
}
