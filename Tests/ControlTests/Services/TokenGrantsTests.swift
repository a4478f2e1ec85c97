import Foundation
import Logging
import Testing
@testable import tollgate_control

/// The grants on a real SQLite file, called directly: no router, no socket.
@Suite("Token grants (no HTTP)")
struct TokenGrantsTests {
    static func services() async throws -> ControlServices {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-grants-\(UUID().uuidString)")
        return try await ControlServices.start(
            database: .sqlite(path: directory.appendingPathComponent("t.db").path),
            masterKeyPath: directory.appendingPathComponent("master.key").path,
            configuration: OpenAPITests.configuration, logger: Logger(label: "test"))
    }

    static func refused(_ body: () async throws -> IssuedTokens) async -> OAuthError? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error as? OAuthError
        }
    }

    @Test("password, then refresh rotates; presenting a used refresh token revokes the whole login")
    func refreshRotationAndReuse() async throws {
        let services = try await Self.services()
        let caller = Caller(actor: "test", requestID: "test")
        let (client, _) = try await ControlAPI.createRecord(.init(clientId: "web", name: "Web", grantTypes: [.password]), caller: caller, services: services)
        _ = try await ControlAPI.createRecord(.init(email: "ada@example.com", password: "correct horse"), caller: caller, services: services)
        let grants = TokenGrants(services: services)

        let login = try await grants.issue(
            grant: "password", client: client, form: ["username": "ada@example.com", "password": "correct horse"], requestID: "r1")
        let first = try #require(login.refreshToken)
        #expect(first.hasPrefix(TokenGrants.refreshPrefix))
        let rotated = try await grants.issue(grant: "refresh_token", client: client, form: ["refresh_token": first], requestID: "r2")
        let second = try #require(rotated.refreshToken)
        #expect(second != first)
        #expect(try await TokenIntrospection.answer(for: rotated.accessToken, services: services).active)

        let reuse = await Self.refused { try await grants.issue(grant: "refresh_token", client: client, form: ["refresh_token": first], requestID: "r3") }
        #expect(reuse?.code == "invalid_grant")
        #expect(reuse?.detail.contains("already used") == true)
        // The family is dead: the rotated refresh token and the access tokens of the login too.
        let afterReuse = await Self.refused { try await grants.issue(grant: "refresh_token", client: client, form: ["refresh_token": second], requestID: "r4") }
        #expect(afterReuse?.code == "invalid_grant")
        #expect(try await TokenIntrospection.answer(for: rotated.accessToken, services: services).active == false)
        #expect(try await TokenIntrospection.answer(for: login.accessToken, services: services).active == false)
        await services.database.close()
    }

    @Test("revocation: a refresh token ends its login, an access token itself; another client's token is refused")
    func revocation() async throws {
        let services = try await Self.services()
        let caller = Caller(actor: "test", requestID: "test")
        let (web, _) = try await ControlAPI.createRecord(.init(clientId: "web", name: "Web", grantTypes: [.password]), caller: caller, services: services)
        let (other, _) = try await ControlAPI.createRecord(.init(clientId: "other", name: "Other"), caller: caller, services: services)
        _ = try await ControlAPI.createRecord(.init(email: "ada@example.com", password: "correct horse"), caller: caller, services: services)
        let grants = TokenGrants(services: services)
        let login = try await grants.issue(
            grant: "password", client: web, form: ["username": "ada@example.com", "password": "correct horse"], requestID: "r1")
        let refresh = try #require(login.refreshToken)

        do {
            try await TokenRevocation.revoke(refresh, client: other, requestID: "r2", services: services)
            Issue.record("another client revoked the token")
        } catch let error as OAuthError {
            #expect(error.code == "unauthorized_client")
        }
        #expect(try await TokenIntrospection.answer(for: refresh, services: services).active)
        try await TokenRevocation.revoke("not-a-token", client: web, requestID: "r3", services: services)
        try await TokenRevocation.revoke(refresh, client: web, requestID: "r4", services: services)
        #expect(try await TokenIntrospection.answer(for: refresh, services: services).active == false)
        #expect(try await TokenIntrospection.answer(for: login.accessToken, services: services).active == false)

        let service = try await grants.issue(grant: "client_credentials", client: other, form: [:], requestID: "r5")
        try await TokenRevocation.revoke(service.accessToken, client: other, requestID: "r6", services: services)
        #expect(try await TokenIntrospection.answer(for: service.accessToken, services: services).active == false)
        await services.database.close()
    }

    @Test("grant_type: required, supported, and allowed for the client; client_credentials narrows scopes")
    func grantChecks() async throws {
        let services = try await Self.services()
        let caller = Caller(actor: "test", requestID: "test")
        let (client, _) = try await ControlAPI.createRecord(.init(clientId: "svc", name: "Service", scopes: ["a", "b"]), caller: caller, services: services)
        let grants = TokenGrants(services: services)
        #expect(await Self.refused { try await grants.issue(grant: nil, client: client, form: [:], requestID: "r") }?.code == "invalid_request")
        #expect(await Self.refused { try await grants.issue(grant: "implicit", client: client, form: [:], requestID: "r") }?.code == "unsupported_grant_type")
        #expect(await Self.refused { try await grants.issue(grant: "password", client: client, form: [:], requestID: "r") }?.code == "unauthorized_client")
        let narrow = try await grants.issue(grant: "client_credentials", client: client, form: ["scope": "b"], requestID: "r")
        #expect(narrow.scopes == ["b"])
        #expect(narrow.refreshToken == nil)
        await services.database.close()
    }
}
