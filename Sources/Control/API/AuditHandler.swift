import Core
import Foundation

/// `/v1/audit` [audit.read].
extension ControlAPI {
    func listAuditEntries(_ input: Operations.ListAuditEntries.Input) async throws -> Operations.ListAuditEntries.Output {
        let query = input.query
        let paging = try Paging(limit: query.limit, page: query.page)
        func time(_ name: String, _ text: String?) throws -> Int64? {
            guard let text else { return nil }
            guard let value = Timestamp.parse(text) else { throw Problem.badRequest("\(name) is RFC 3339 or Unix milliseconds") }
            return value
        }
        let filter = AuditFilter(resource: query.resource, actor: query.actor, from: try time("from", query.from), to: try time("to", query.to))
        let (items, total) = try await AuditStore.list(filter, limit: paging.limit, offset: paging.offset, on: services.database)
        return .ok(.init(body: .json(.init(items: try items.map(Self.auditEntry), page: paging.page, limit: paging.limit, total: total))))
    }

    static func auditEntry(_ entry: AuditEntry) throws -> Components.Schemas.AuditEntry {
        .init(
            id: Int(entry.id), time: Date(milliseconds: entry.time), actor: entry.actor, action: entry.action, resource: entry.resource,
            before: try StoredJSON.value(entry.before), after: try StoredJSON.value(entry.after), requestId: entry.requestID)
    }
}
