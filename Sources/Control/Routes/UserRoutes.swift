import Core
import HTTPTypes
import Hummingbird

/// The user record the password grant needs [profile.read / profile.write]: create, read,
/// deactivate; roles with their scopes. (Listing, updates, import and export build on this.)
enum UserRoutes {
    static func register(_ api: APIRouter) {
        let services = api.services
        api.add(.post, "/v1/users") { request, context in
            let body = try await RequestBody.object(request, allowed: ["email", "password", "display_name", "attributes", "roles"])
            let user = try await create(body, context: context, services: services)
            return JSONResponse.make(user.json, status: .created, headers: [.location: "/v1/users/\(user.id)"])
        }
        api.add(.get, "/v1/users/{id}") { _, context in
            JSONResponse.make(try await existing(context, services).json)
        }
        api.add(.delete, "/v1/users/{id}") { _, context in
            let user = try await existing(context, services)
            var after = user
            after.status = "deactivated"
            try await services.audited(context, action: "user.deactivate", resource: "user:\(user.id)") { [after] executor in
                try await UserStore.setStatus(id: user.id, status: "deactivated", now: Clock.nowMilliseconds(), on: executor)
                return ((), user.auditJSON, after.auditJSON)
            }
            return JSONResponse.make(after.json)
        }
        api.add(.get, "/v1/roles") { request, _ in
            let paging = try Paging(request)
            return JSONResponse.make(paging.list(all: try await RoleStore.list(on: services.database).map(\.json)))
        }
        api.add(.post, "/v1/roles") { request, context in
            let body = try await RequestBody.object(request, allowed: ["name", "description", "scopes"])
            let name = try body.requiredString("name")
            guard ClientRoutes.isIdentifier(name) else { throw Problem.invalid("name is 1 to 64 of A-Z a-z 0-9 . _ -") }
            let role = RoleRecord(
                name: name, description: try body.string("description") ?? "", scopes: try body.scopeTokens("scopes"),
                createdAt: Clock.nowMilliseconds())
            try await services.auditedInsert(
                context, action: "role.create", resource: "role:\(name)", after: role.json, conflict: "role \(name) already exists"
            ) { try await RoleStore.insert(role, on: $0) }
            return JSONResponse.make(role.json, status: .created)
        }
    }

    static func existing(_ context: ControlContext, _ services: ControlServices) async throws -> UserRecord {
        let id = context.parameters.get("id") ?? ""
        guard let user = try await UserStore.find(id: id, crypto: services.userCrypto, on: services.database) else {
            throw Problem.notFound("no user \(HeaderText.quotable(id))")
        }
        return user
    }

    static func create(_ body: JSONObject, context: ControlContext, services: ControlServices) async throws -> UserRecord {
        let email = UserCrypto.normalizedEmail(try body.requiredString("email"))
        guard email.utf8.count <= 254, let at = email.firstIndex(of: "@"), at != email.startIndex,
              email[email.index(after: at)...].contains("."), !email.contains(" ")
        else { throw Problem.invalid("email is not an email address") }
        let password = try body.string("password")
        if let password, password.count < 8 { throw Problem.invalid("password must be at least 8 characters") }
        let attributes = try body.object("attributes").map { JSONOutput($0).serialized() } ?? "{}"
        let roles = Array(Set(try body.strings("roles") ?? [])).sorted()
        for role in roles where !(try await RoleStore.exists(role, on: services.database)) {
            throw Problem.invalid("role \(HeaderText.quotable(role)) does not exist")
        }
        let now = Clock.nowMilliseconds()
        let user = UserRecord(
            id: "usr_" + Hex.encode(try SecureRandom.bytes(8)), email: email, displayName: try body.string("display_name"),
            attributes: attributes, passwordHash: try await password.asyncMap { try await services.passwords.hash($0) },
            status: "active", roles: roles, createdAt: now, updatedAt: now, lastLogin: nil, version: 1)
        try await services.auditedInsert(
            context, action: "user.create", resource: "user:\(user.id)", after: user.auditJSON, conflict: "a user with this email already exists"
        ) { try await UserStore.insert(user, crypto: services.userCrypto, on: $0) }
        return user
    }
}

extension UserRecord {
    /// The audit log keeps no PII: it is not encrypted like the users table.
    var auditJSON: JSONOutput {
        .object([("id", .string(id)), ("roles", .strings(roles)), ("status", .string(status))])
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
