import Core

enum Bootstrap {
    /// Creates the client with the admin scope, or gives an existing one a new secret and the admin
    /// scope. Audited as actor `bootstrap`.
    static func adminClient(_ clientID: String, services: ControlServices) async throws -> String {
        let secret = try ClientSecrets.generate()
        let hash = services.clientSecrets.hash(secret)
        let now = Clock.nowMilliseconds()
        try await services.database.transaction { executor in
            let before = try await ClientStore.find(clientID, on: executor)
            var client = before ?? ClientRecord(
                clientID: clientID, name: "\(clientID) (bootstrap)", secretHash: hash, scopes: [Scope.admin],
                grantTypes: ["client_credentials"], audiences: [], createdAt: now, updatedAt: now, version: 1)
            if let before {
                client.secretHash = hash
                client.scopes = Array(Set(before.scopes + [Scope.admin])).sorted()
                if !client.grantTypes.contains("client_credentials") { client.grantTypes.append("client_credentials") }
                client.updatedAt = now
                client.version += 1
                try await ClientStore.delete(clientID, on: executor)
            }
            try await ClientStore.insert(client, on: executor)
            try await AuditStore.record(
                actor: "bootstrap", action: before == nil ? "client.create" : "client.rotate-secret", resource: "client:\(clientID)",
                before: before?.json, after: client.json, requestID: "bootstrap", on: executor)
        }
        return secret
    }
}
