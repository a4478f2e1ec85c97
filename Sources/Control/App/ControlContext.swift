import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What a request carries through the control plane: its id and, once authenticated, who called.
struct ControlContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var requestID = ""
    var principal: Principal?

    init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// The caller of a `/v1` route: a client (client_credentials token) or a user (password/refresh).
struct Principal: Sendable {
    let clientID: String
    let userID: String?
    let scopes: Set<String>

    /// For the audit log: `client:<id>` or `user:<id>`.
    var actor: String { userID.map { "user:\($0)" } ?? "client:\(clientID)" }
}
