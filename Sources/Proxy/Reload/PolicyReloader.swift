import Core
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Loads the policy directory again and, when the set is valid, hands every event loop the new
/// snapshot. An invalid set is refused whole: the last good set stays, and the error is kept for
/// `/policies` and counted in `tollgate_policy_reloads_total{result="error"}`. Every attempt is
/// counted: a set found identical to the active one as `result="unchanged"`.
///
/// Loading reads files, so it never runs on an event loop: callers are the watcher task, the SIGHUP
/// task, and the admin port through a thread pool.
final class PolicyReloader: Sendable {
    struct State: Sendable {
        var current: PolicySnapshot
        var lastError: [String]?
        var lastErrorAt: Date?
    }

    enum Outcome: Sendable {
        case changed(PolicySnapshot)
        case unchanged(PolicySnapshot)
        case invalid([String])
    }

    let directory: String
    private let contexts: LoopContexts
    private let jwks: JWKSRefresher
    private let environment: [String: String]
    private let metrics: ProcessMetrics
    private let logger: Logger
    private let state: NIOLockedValueBox<State>
    /// One reload at a time, so two triggers cannot install out of order.
    private let reloading = NIOLock()

    init(
        directory: String, initial: PolicySnapshot, contexts: LoopContexts, jwks: JWKSRefresher, environment: [String: String],
        metrics: ProcessMetrics, logger: Logger
    ) {
        self.directory = directory
        self.contexts = contexts
        self.jwks = jwks
        self.environment = environment
        self.metrics = metrics
        self.logger = logger
        self.state = NIOLockedValueBox(State(current: initial))
    }

    var current: State { state.withLockedValue { $0 } }

    @discardableResult
    func reload(reason: String) -> Outcome {
        reloading.withLock {
            let previous = state.withLockedValue { $0.current }
            do {
                let snapshot = try PolicyLoader.load(directory: directory)
                guard snapshot.hash != previous.hash else {
                    state.withLockedValue { $0.lastError = nil }
                    metrics.recordReload(.unchanged)
                    logger.info("policy reload found the set unchanged", metadata: [
                        "reason": "\(reason)", "hash": "\(previous.shortHash)",
                    ])
                    return .unchanged(previous)
                }
                let policy = try ActivePolicy.make(snapshot, environment: environment)
                contexts.install(policy)
                jwks.reconcile(with: snapshot)
                state.withLockedValue {
                    $0.current = snapshot
                    $0.lastError = nil
                }
                metrics.recordReload(.success)
                logger.info("policy reloaded", metadata: [
                    "reason": "\(reason)", "hash": "\(snapshot.shortHash)", "routes": "\(snapshot.routes.count)",
                ])
                return .changed(snapshot)
            } catch {
                let messages = (error as? PolicyValidationError)?.diagnostics.map(\.description) ?? ["\(error)"]
                state.withLockedValue {
                    $0.lastError = messages
                    $0.lastErrorAt = Date()
                }
                metrics.recordReload(.error)
                logger.error("policy reload refused; the last good set stays", metadata: [
                    "reason": "\(reason)", "errors": "\(messages.joined(separator: "; "))", "active_hash": "\(previous.shortHash)",
                ])
                return .invalid(messages)
            }
        }
    }
}
