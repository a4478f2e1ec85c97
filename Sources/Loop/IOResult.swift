/// What one read or write system call did, as a value: the hot path branches on it instead of
/// throwing. `wouldBlock` is ordinary (edge-triggered readiness is used up); `endOfFile` is the
/// peer's FIN (a half-close: the other direction may still carry bytes); `reset` is a connection
/// the peer or the network tore down (`ECONNRESET`, `EPIPE`, `ETIMEDOUT`).
public enum IOResult: Equatable, Sendable {
    /// This many bytes (more than zero) moved.
    case transferred(Int)
    case wouldBlock
    case endOfFile
    case reset
    /// Any other errno: a defect or a resource limit, never retried.
    case failed(Int32)
}
