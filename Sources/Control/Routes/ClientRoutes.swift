import Core
import HTTPTypes
import Hummingbird

/// `/v1/clients` and `/v1/keys` [admin].
enum ClientRoutes {
    static let grantTypes = ["client_credentials", "password", "refresh_token"]

    static func register(_ api: APIRouter) {
        let services = api.services
        api.add(.post, "/v1/clients") { request, context in
            let body = try await RequestBody.object(request, allowed: ["client_id", "name", "scopes", "grant_types", "audiences"])
            let (client, secret) = try await create(body, context: context, services: services)
            var members = client.json.objectMembers
            members.append(("client_secret", .string(secret)))
            return JSONResponse.make(
                .object(members), status: .created,
                headers: [.location: "/v1/clients/\(client.clientID)", .cacheControl: "no-store", .eTag: "\"\(client.version)\""])
        }
        api.add(.get, "/v1/clients") { request, _ in
            let paging = try Paging(request)
            let (items, total) = try await ClientStore.list(limit: paging.limit, offset: paging.offset, on: services.database)
            return JSONResponse.make(paging.list(items.map(\.json), total: total))
        }
        api.add(.get, "/v1/clients/{id}") { _, context in
            let client = try await existing(context, services)
            return JSONResponse.make(client.json, headers: EntityTag.header(client.version))
        }
        api.add(.delete, "/v1/clients/{id}") { request, context in
            let client = try await existing(context, services)
            try EntityTag.check(request, version: client.version)
            let conditional = request.headers[.ifMatch] != nil
            try await services.audited(context, action: "client.delete", resource: "client:\(client.clientID)") { executor in
                if conditional {
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
            return Response(status: .noContent)
        }
        api.add(.post, "/v1/clients/{id}/rotate-secret") { request, context in
            let client = try await existing(context, services)
            try EntityTag.check(request, version: client.version)
            let secret = try ClientSecrets.generate()
            let hash = services.clientSecrets.hash(secret)
            // With If-Match, only the version read above is updated: another write in between wins.
            let expected = request.headers[.ifMatch] != nil ? client.version : nil
            let updated = try await services.audited(context, action: "client.rotate-secret", resource: "client:\(client.clientID)") { executor in
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
            var headers = EntityTag.header(updated.version)
            headers[.cacheControl] = "no-store"
            return JSONResponse.make(.object([("client_id", .string(client.clientID)), ("client_secret", .string(secret))]), headers: headers)
        }

        api.add(.get, "/v1/keys") { request, _ in
            let paging = try Paging(request)
            try await services.keyRing.reload()
            return JSONResponse.make(paging.list(all: services.keyRing.published.map(keyJSON)))
        }
        api.add(.post, "/v1/keys/rotate") { _, context in
            let before = services.keyRing.published.first { $0.retiredAt == nil }.map(keyJSON)
            let (actor, requestID, algorithm) = (context.principal?.actor ?? "system", context.requestID, services.keyRing.algorithm)
            let kid = try await services.keyRing.rotate { executor, kid in
                try await AuditStore.record(
                    actor: actor, action: "key.rotate", resource: "key:\(kid)", before: before,
                    after: .object([("kid", .string(kid)), ("alg", .string(algorithm.rawValue)), ("status", "active")]),
                    requestID: requestID, on: executor)
            }
            return JSONResponse.make(services.keyRing.published.first { $0.kid == kid }.map(keyJSON) ?? .null, status: .created)
        }
    }

    static func keyJSON(_ key: KeyRing.Published) -> JSONOutput {
        .object([
            ("kid", .string(key.kid)), ("alg", .string(key.algorithm.rawValue)), ("status", .string(key.retiredAt == nil ? "active" : "retired")),
            ("created_at", .string(Timestamp.rfc3339(key.createdAt))),
            ("retired_at", key.retiredAt.map { .string(Timestamp.rfc3339($0)) } ?? .null),
            ("published_until", key.publishedUntil.map { .string(Timestamp.rfc3339($0)) } ?? .null),
        ])
    }

    static func existing(_ context: ControlContext, _ services: ControlServices) async throws -> ClientRecord {
        let id = context.parameters.get("id") ?? ""
        guard let client = try await ClientStore.find(id, on: services.database) else {
            throw Problem.notFound("no client \(HeaderText.quotable(id))")
        }
        return client
    }

    /// Validates and stores a new client; returns it with its secret (shown once).
    static func create(_ body: JSONObject, context: ControlContext, services: ControlServices) async throws -> (ClientRecord, String) {
        let clientID = try body.string("client_id") ?? "cl_" + Hex.encode(try SecureRandom.bytes(8))
        guard Self.isIdentifier(clientID) else { throw Problem.invalid("client_id is 1 to 64 of A-Z a-z 0-9 . _ -") }
        let name = try body.requiredString("name")
        let scopes = try body.scopeTokens("scopes")
        var grants = try body.strings("grant_types") ?? ["client_credentials"]
        if let bad = grants.first(where: { !grantTypes.contains($0) }) {
            throw Problem.invalid("grant type \(HeaderText.quotable(bad)) is not one of \(grantTypes.joined(separator: ", "))")
        }
        // A password login hands out refresh tokens, so the client may redeem them.
        if grants.contains("password"), !grants.contains("refresh_token") { grants.append("refresh_token") }
        let audiences = try body.strings("audiences") ?? []
        if let bad = audiences.first(where: { $0.isEmpty || $0.contains(" ") }) {
            throw Problem.invalid("audience \(HeaderText.quotable(bad)) must be non-empty without spaces")
        }
        let secret = try ClientSecrets.generate()
        let now = Clock.nowMilliseconds()
        let client = ClientRecord(
            clientID: clientID, name: name, secretHash: services.clientSecrets.hash(secret), scopes: scopes,
            grantTypes: grants, audiences: audiences, createdAt: now, updatedAt: now, version: 1)
        try await services.auditedInsert(
            context, action: "client.create", resource: "client:\(clientID)", after: client.json, conflict: "client \(clientID) already exists"
        ) { try await ClientStore.insert(client, on: $0) }
        return (client, secret)
    }

    static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D
        }
    }

}

extension JSONObject {
    /// An array of RFC 6749 §3.3 scope tokens (`%x21 / %x23-5B / %x5D-7E`), sorted, without repeats.
    func scopeTokens(_ name: String) throws -> [String] {
        let scopes = try strings(name) ?? []
        if let bad = scopes.first(where: { scope in
            scope.isEmpty || scope.utf8.count > 128
                || !scope.utf8.allSatisfy { $0 == 0x21 || ($0 >= 0x23 && $0 <= 0x5B) || ($0 >= 0x5D && $0 <= 0x7E) }
        }) {
            throw Problem.invalid("scope \(HeaderText.quotable(bad)) is not an RFC 6749 scope token")
        }
        return Array(Set(scopes)).sorted()
    }
}

extension JSONOutput {
    var objectMembers: [(String, JSONOutput)] {
        if case let .object(members) = self { return members }
        return []
    }
}
