import Core
import Foundation
import OpenAPIRuntime

/// `/v1/clients` and `/v1/keys` [admin].
extension ControlAPI {
    static let grantTypes = ["client_credentials", "password", "refresh_token"]

    func createClient(_ input: Operations.CreateClient.Input) async throws -> Operations.CreateClient.Output {
        guard case let .json(body) = input.body else { throw Problem.badRequest("send the body as application/json") }
        let (client, secret) = try await Self.createRecord(body, caller: RequestScope.caller, services: services)
        return .created(.init(
            headers: .init(location: "/v1/clients/\(client.clientID)", eTag: EntityTag.value(client.version), cacheControl: "no-store"),
            body: .json(.init(value1: Self.client(client), value2: .init(clientSecret: secret)))))
    }

    func listClients(_ input: Operations.ListClients.Input) async throws -> Operations.ListClients.Output {
        let paging = try Paging(limit: input.query.limit, page: input.query.page)
        let (items, total) = try await ClientStore.list(limit: paging.limit, offset: paging.offset, on: services.database)
        return .ok(.init(body: .json(.init(items: items.map(Self.client), page: paging.page, limit: paging.limit, total: total))))
    }

    func getClient(_ input: Operations.GetClient.Input) async throws -> Operations.GetClient.Output {
        let client = try await existingClient(input.path.id)
        return .ok(.init(headers: .init(eTag: EntityTag.value(client.version)), body: .json(Self.client(client))))
    }

    func deleteClient(_ input: Operations.DeleteClient.Input) async throws -> Operations.DeleteClient.Output {
        let client = try await existingClient(input.path.id)
        let ifMatch = input.headers.ifMatch
        try EntityTag.check(ifMatch, version: client.version)
        try await services.audited(RequestScope.caller, action: "client.delete", resource: "client:\(client.clientID)") { executor in
            if ifMatch != nil {
                // Only the version the caller saw: a write in between leaves the row, and a 412.
                try await ClientStore.delete(client.clientID, version: client.version, on: executor)
                if try await ClientStore.find(client.clientID, on: executor) != nil {
                    throw Problem.preconditionFailed("client \(client.clientID) changed since version \(client.version)")
                }
            } else {
                try await ClientStore.delete(client.clientID, on: executor)
            }
            return ((), client.json, nil)
        }
        services.clients.invalidate(client.clientID)
        return .noContent(.init())
    }

    func rotateClientSecret(_ input: Operations.RotateClientSecret.Input) async throws -> Operations.RotateClientSecret.Output {
        let client = try await existingClient(input.path.id)
        try EntityTag.check(input.headers.ifMatch, version: client.version)
        let secret = try ClientSecrets.generate()
        let hash = services.clientSecrets.hash(secret)
        // With If-Match, only the version read above is updated: another write in between wins.
        let expected = input.headers.ifMatch != nil ? client.version : nil
        let updated = try await services.audited(RequestScope.caller, action: "client.rotate-secret", resource: "client:\(client.clientID)") { executor in
            try await ClientStore.replaceSecret(client.clientID, version: expected, hash: hash, now: Clock.nowMilliseconds(), on: executor)
            guard let after = try await ClientStore.find(client.clientID, on: executor) else {
                throw Problem.notFound("no client \(HeaderText.quotable(client.clientID))")
            }
            guard after.secretHash == hash else {
                throw Problem.preconditionFailed("client \(client.clientID) changed since version \(client.version)")
            }
            return (after, client.json, after.json)
        }
        services.clients.invalidate(client.clientID)
        return .ok(.init(
            headers: .init(eTag: EntityTag.value(updated.version), cacheControl: "no-store"),
            body: .json(.init(clientId: client.clientID, clientSecret: secret))))
    }

    func listSigningKeys(_ input: Operations.ListSigningKeys.Input) async throws -> Operations.ListSigningKeys.Output {
        let paging = try Paging(limit: input.query.limit, page: input.query.page)
        try await services.keyRing.reload()
        let keys = services.keyRing.published
        return .ok(.init(body: .json(.init(items: try paging.slice(keys).map(Self.signingKey), page: paging.page, limit: paging.limit, total: keys.count))))
    }

    func rotateSigningKey(_ input: Operations.RotateSigningKey.Input) async throws -> Operations.RotateSigningKey.Output {
        let before = services.keyRing.published.first { $0.retiredAt == nil }.map(Self.auditJSON)
        let (caller, algorithm) = (RequestScope.caller, services.keyRing.algorithm)
        let kid = try await services.keyRing.rotate { executor, kid in
            try await AuditStore.record(
                actor: caller.actor, action: "key.rotate", resource: "key:\(kid)", before: before,
                after: .object([("kid", .string(kid)), ("alg", .string(algorithm.rawValue)), ("status", "active")]),
                requestID: caller.requestID, on: executor)
        }
        guard let key = services.keyRing.published.first(where: { $0.kid == kid }) else {
            throw Problem(status: .internalServerError, slug: "internal", title: "Internal error", detail: "the new key \(kid) is not published")
        }
        return .created(.init(body: .json(try Self.signingKey(key))))
    }

    func existingClient(_ id: String) async throws -> ClientRecord {
        guard let client = try await ClientStore.find(id, on: services.database) else {
            throw Problem.notFound("no client \(HeaderText.quotable(id))")
        }
        return client
    }

    /// Validates and stores a new client; returns it with its secret (shown once).
    static func createRecord(_ body: Components.Schemas.ClientCreate, caller: Caller, services: ControlServices) async throws -> (ClientRecord, String) {
        let clientID = try body.clientId ?? "cl_" + Hex.encode(try SecureRandom.bytes(8))
        guard Identifier.isValid(clientID) else { throw Problem.invalid("client_id is 1 to 64 of A-Z a-z 0-9 . _ -") }
        guard !body.name.isEmpty else { throw Problem.invalid("name is required") }
        let scopes = try ScopeTokens.validated(body.scopes ?? [])
        var grants = body.grantTypes?.map(\.rawValue) ?? ["client_credentials"]
        // A password login hands out refresh tokens, so the client may redeem them.
        if grants.contains("password"), !grants.contains("refresh_token") { grants.append("refresh_token") }
        let audiences = body.audiences ?? []
        if let bad = audiences.first(where: { $0.isEmpty || $0.contains(" ") }) {
            throw Problem.invalid("audience \(HeaderText.quotable(bad)) must be non-empty without spaces")
        }
        let secret = try ClientSecrets.generate()
        let now = Clock.nowMilliseconds()
        let client = ClientRecord(
            clientID: clientID, name: body.name, secretHash: services.clientSecrets.hash(secret), scopes: scopes,
            grantTypes: grants, audiences: audiences, createdAt: now, updatedAt: now, version: 1)
        try await services.auditedInsert(
            caller, action: "client.create", resource: "client:\(clientID)", after: client.json, conflict: "client \(clientID) already exists"
        ) { try await ClientStore.insert(client, on: $0) }
        return (client, secret)
    }

    static func client(_ record: ClientRecord) -> Components.Schemas.Client {
        .init(
            clientId: record.clientID, name: record.name, scopes: record.scopes,
            grantTypes: record.grantTypes.compactMap(Components.Schemas.Client.GrantTypesPayloadPayload.init(rawValue:)),
            audiences: record.audiences, createdAt: Date(milliseconds: record.createdAt), updatedAt: Date(milliseconds: record.updatedAt),
            version: Int(record.version))
    }

    static func signingKey(_ key: KeyRing.Published) throws -> Components.Schemas.SigningKey {
        guard let algorithm = Components.Schemas.SigningKey.AlgPayload(rawValue: key.algorithm.rawValue) else {
            throw Problem(status: .internalServerError, slug: "internal", title: "Internal error", detail: "key \(key.kid) has an algorithm the API does not list")
        }
        return .init(
            kid: key.kid, alg: algorithm, status: key.retiredAt == nil ? .active : .retired,
            createdAt: Date(milliseconds: key.createdAt), retiredAt: NullableDate(key.retiredAt.map(Date.init(milliseconds:))),
            publishedUntil: NullableDate(key.publishedUntil.map(Date.init(milliseconds:))))
    }

    /// A signing key as the audit log records it.
    static func auditJSON(_ key: KeyRing.Published) -> JSONOutput {
        .object([
            ("kid", .string(key.kid)), ("alg", .string(key.algorithm.rawValue)), ("status", .string(key.retiredAt == nil ? "active" : "retired")),
            ("created_at", .string(Timestamp.rfc3339(key.createdAt))),
            ("retired_at", key.retiredAt.map { .string(Timestamp.rfc3339($0)) } ?? .null),
            ("published_until", key.publishedUntil.map { .string(Timestamp.rfc3339($0)) } ?? .null),
        ])
    }
}

/// `client_id` and role names: 1 to 64 of `A-Z a-z 0-9 . _ -`.
enum Identifier {
    static func isValid(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D
        }
    }
}

/// RFC 6749 §3.3 scope tokens (`%x21 / %x23-5B / %x5D-7E`), sorted, without repeats.
enum ScopeTokens {
    static func validated(_ scopes: [String]) throws -> [String] {
        if let bad = scopes.first(where: { scope in
            scope.isEmpty || scope.utf8.count > 128
                || !scope.utf8.allSatisfy { $0 == 0x21 || ($0 >= 0x23 && $0 <= 0x5B) || ($0 >= 0x5D && $0 <= 0x7E) }
        }) {
            throw Problem.invalid("scope \(HeaderText.quotable(bad)) is not an RFC 6749 scope token")
        }
        return Array(Set(scopes)).sorted()
    }
}
