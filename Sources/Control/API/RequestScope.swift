/// What a generated `/v1` handler knows of its request beyond its typed input: the request id (set by
/// `ControlMiddleware` for every route) and the authenticated caller (set by `ScopeCheck`). Task-local,
/// because the generated handlers receive only their `Input`.
enum RequestScope {
    @TaskLocal static var requestID = ""
    @TaskLocal static var principal: Principal?

    /// The caller as the audit log records it.
    static var caller: Caller { Caller(actor: principal?.actor ?? "system", requestID: requestID) }
}

/// Who a write is recorded against, and in which request.
struct Caller: Sendable {
    let actor: String
    let requestID: String
}
