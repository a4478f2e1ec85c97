import Core
import Foundation
import OpenAPIRuntime

/// The user record the password grant needs [profile.read / profile.write]: create, read,
/// deactivate; roles with their scopes. (Listing, updates, import and export build on this.)
extension ControlAPI {
    func createUser(_ input: Operations.CreateUser.Input) async throws -> Operations.CreateUser.Output {
        guard case let .json(body) = input.body else { throw Problem.badRequest("send the body as application/json") }
        let user = try await Self.createRecord(body, caller: RequestScope.caller, services: services)
        return .created(.init(headers: .init(location: "/v1/users/\(user.id)"), body: .json(try Self.user(user))))
    }

    func getUser(_ input: Operations.GetUser.Input) async throws -> Operations.GetUser.Output {
        .ok(.init(body: .json(try Self.user(try await existingUser(input.path.id)))))
    }

    func deactivateUser(_ input: Operations.DeactivateUser.Input) async throws -> Operations.DeactivateUser.Output {
        let user = try await existingUser(input.path.id)
        var after = user
        after.status = "deactivated"
        try await services.audited(RequestScope.caller, action: "user.deactivate", resource: "user:\(user.id)") { [after] executor in
            try await UserStore.setStatus(id: user.id, status: "deactivated", now: Clock.nowMilliseconds(), on: executor)
            return ((), user.auditJSON, after.auditJSON)
        }
        return .ok(.init(body: .json(try Self.user(after))))
    }

    func listRoles(_ input: Operations.ListRoles.Input) async throws -> Operations.ListRoles.Output {
        let paging = try Paging(limit: input.query.limit, page: input.query.page)
        let roles = try await RoleStore.list(on: services.database)
        return .ok(.init(body: .json(.init(items: paging.slice(roles).map(Self.role), page: paging.page, limit: paging.limit, total: roles.count))))
    }

    func createRole(_ input: Operations.CreateRole.Input) async throws -> Operations.CreateRole.Output {
        guard case let .json(body) = input.body else { throw Problem.badRequest("send the body as application/json") }
        guard Identifier.isValid(body.name) else { throw Problem.invalid("name is 1 to 64 of A-Z a-z 0-9 . _ -") }
        let role = RoleRecord(
            name: body.name, description: body.description ?? "", scopes: try ScopeTokens.validated(body.scopes ?? []),
            createdAt: Clock.nowMilliseconds())
        try await services.auditedInsert(
            RequestScope.caller, action: "role.create", resource: "role:\(role.name)", after: role.json, conflict: "role \(role.name) already exists"
        ) { try await RoleStore.insert(role, on: $0) }
        return .created(.init(body: .json(Self.role(role))))
    }

    func existingUser(_ id: String) async throws -> UserRecord {
        guard let user = try await UserStore.find(id: id, crypto: services.userCrypto, on: services.database) else {
            throw Problem.notFound("no user \(HeaderText.quotable(id))")
        }
        return user
    }

    static func createRecord(_ body: Components.Schemas.UserCreate, caller: Caller, services: ControlServices) async throws -> UserRecord {
        let email = UserCrypto.normalizedEmail(body.email)
        guard email.utf8.count <= 254, let at = email.firstIndex(of: "@"), at != email.startIndex,
              email[email.index(after: at)...].contains("."), !email.contains(" ")
        else { throw Problem.invalid("email is not an email address") }
        if let password = body.password, password.count < 8 { throw Problem.invalid("password must be at least 8 characters") }
        let attributes = try body.attributes.map(StoredJSON.text) ?? "{}"
        let roles = Array(Set(body.roles ?? [])).sorted()
        for role in roles where !(try await RoleStore.exists(role, on: services.database)) {
            throw Problem.invalid("role \(HeaderText.quotable(role)) does not exist")
        }
        let now = Clock.nowMilliseconds()
        let user = UserRecord(
            id: "usr_" + Hex.encode(try SecureRandom.bytes(8)), email: email, displayName: body.displayName,
            attributes: attributes, passwordHash: try await body.password.asyncMap { try await services.passwords.hash($0) },
            status: "active", roles: roles, createdAt: now, updatedAt: now, lastLogin: nil, version: 1)
        try await services.auditedInsert(
            caller, action: "user.create", resource: "user:\(user.id)", after: user.auditJSON, conflict: "a user with this email already exists"
        ) { try await UserStore.insert(user, crypto: services.userCrypto, on: $0) }
        return user
    }

    static func user(_ record: UserRecord) throws -> Components.Schemas.User {
        .init(
            id: record.id, email: record.email, displayName: NullableText(record.displayName), attributes: try StoredJSON.object(record.attributes),
            roles: record.roles, status: record.status == "active" ? .active : .deactivated, createdAt: Date(milliseconds: record.createdAt),
            lastLogin: NullableDate(record.lastLogin.map(Date.init(milliseconds:))))
    }

    static func role(_ record: RoleRecord) -> Components.Schemas.Role {
        .init(name: record.name, description: record.description, scopes: record.scopes, createdAt: Date(milliseconds: record.createdAt))
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
