import Core
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import ServiceLifecycle

/// Keeps the keys of every `jwks_url` issuer of the active policy set: fetched at start (`/readyz`
/// waits for it), again every `refresh`, and early when a token names an unknown `kid` (at most
/// once per 30 s per issuer). A failed fetch keeps the old keys, is counted in
/// `tollgate_jwks_refresh_total{result="error"}` and is retried with back-off.
///
/// Fetches run on SwiftNIO channels and documents are parsed in a task, never on an event loop's
/// request path. New keys reach each loop through that loop's own queue, so the request path reads
/// them without a lock.
final class JWKSRefresher: Service, Sendable {
    static let earlyRefetchInterval: TimeAmount = .seconds(30)
    /// A request for keys never fetched starts a fetch at most this often.
    static let missingKeysRetryInterval: TimeAmount = .seconds(1)
    static let fetchTimeout: TimeAmount = .seconds(5)
    static let maximumBackoff: TimeAmount = .seconds(30)

    private struct IssuerState {
        var url: String
        var refresh: TimeAmount
        /// Set once fetched keys have reached every event loop, not when the fetch ends: `/readyz`
        /// must not say ready while a loop would still answer 503 keys-unavailable.
        var hasKeys = false
        var nextDue = NIODeadline.now()
        var lastAttempt: NIODeadline?
        var lastEarlyRefetch: NIODeadline?
        var failures = 0
        var inFlight: EventLoopFuture<Void>?
        var lastError: String?
    }

    private let group: any EventLoopGroup
    private let contexts: LoopContexts
    private let metrics: ProcessMetrics
    private let logger: Logger
    private let tls: NIOSSLContext
    private let state = NIOLockedValueBox<[String: IssuerState]>([:])

    init(group: any EventLoopGroup, contexts: LoopContexts, metrics: ProcessMetrics, tls: NIOSSLContext, logger: Logger) {
        self.tls = tls
        self.group = group
        self.contexts = contexts
        self.metrics = metrics
        self.logger = logger
    }

    /// Follows the issuers of a newly active snapshot: new ones are fetched now, dropped ones
    /// forgotten, and one whose URL changed starts again without keys.
    func reconcile(with snapshot: PolicySnapshot) {
        var wanted: [String: (String, TimeAmount)] = [:]
        for issuer in snapshot.issuers.values {
            if case let .jwksURL(url) = issuer.keySource {
                wanted[issuer.name] = (url, .nanoseconds(Int64(issuer.refresh.secondsDouble * 1e9)))
            }
        }
        let (start, dropped) = state.withLockedValue { issuers -> ([String], [String]) in
            var dropped: [String] = []
            for name in issuers.keys where wanted[name] == nil || wanted[name]!.0 != issuers[name]!.url {
                issuers[name] = nil
                dropped.append(name)
            }
            var start: [String] = []
            for (name, (url, refresh)) in wanted {
                if issuers[name] == nil {
                    issuers[name] = IssuerState(url: url, refresh: refresh)
                    start.append(name)
                } else {
                    issuers[name]!.refresh = refresh
                }
            }
            return (start, dropped)
        }
        for name in dropped { contexts.installFetchedKeys(nil, issuer: name) }
        for name in start { _ = fetch(name) }
    }

    /// The `jwks_url` issuers whose keys have never been fetched, with the last error if any.
    func missing() -> [String] {
        state.withLockedValue { issuers in
            issuers.filter { !$0.value.hasKeys }.keys.sorted().map { name in
                issuers[name]!.lastError.map { "\(name) (\($0))" } ?? name
            }
        }
    }

    /// Called from a request that met an unknown `kid` (`early`) or keys never fetched: a future
    /// that completes when a fetch ends, or nil when none may start now (the 30 s rule).
    func refetch(issuer name: String, early: Bool) -> EventLoopFuture<Void>? {
        let now = NIODeadline.now()
        let allowed = state.withLockedValue { issuers -> Bool in
            guard var issuer = issuers[name] else { return false }
            if issuer.inFlight != nil { return true }
            if early {
                if let last = issuer.lastEarlyRefetch, now - last < Self.earlyRefetchInterval { return false }
                issuer.lastEarlyRefetch = now
            } else if let last = issuer.lastAttempt, now - last < Self.missingKeysRetryInterval {
                return false
            }
            issuers[name] = issuer
            return true
        }
        return allowed ? fetch(name) : nil
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let now = NIODeadline.now()
            let due = state.withLockedValue { issuers in
                issuers.filter { $0.value.inFlight == nil && $0.value.nextDue <= now }.map(\.key)
            }
            for name in due { _ = fetch(name) }
            do {
                try await Task.sleep(for: .milliseconds(250))
            } catch {
                return
            }
        }
    }

    /// Starts a fetch of `name`'s JWKS unless one is running; the future of the one that runs.
    private func fetch(_ name: String) -> EventLoopFuture<Void>? {
        let loop = group.next()
        let promise = loop.makePromise(of: Void.self)
        let start = state.withLockedValue { issuers -> (String, EventLoopFuture<Void>?)? in
            guard var issuer = issuers[name] else { return nil }
            if let running = issuer.inFlight { return (issuer.url, running) }
            issuer.inFlight = promise.futureResult
            issuer.lastAttempt = .now()
            issuers[name] = issuer
            return (issuer.url, nil)
        }
        guard let (url, running) = start else {
            promise.succeed(())
            return nil
        }
        if let running {
            promise.succeed(())
            return running
        }
        HTTPFetch.get(url, group: group, timeout: Self.fetchTimeout, tls: tls).whenComplete { result in
            Task {
                self.finish(name, url: url, result: result)
                promise.succeed(())
            }
        }
        return promise.futureResult
    }

    private func finish(_ name: String, url: String, result: Result<HTTPFetch.Response, any Error>) {
        var fingerprint: [UInt8] = []
        let outcome: Result<JWKS.Parsed, any Error> = result.flatMap { response in
            fingerprint = Digest.sha256(response.body)
            guard response.status == 200 else { return .failure(FetchError("HTTP status \(response.status)")) }
            do {
                let parsed = try JWKS.parse(response.body)
                guard !parsed.keys.isEmpty else {
                    return .failure(FetchError("no usable signing key (\(parsed.skipped.map(\.description).joined(separator: "; ")))"))
                }
                return .success(parsed)
            } catch {
                return .failure(FetchError("\(error)"))
            }
        }
        let now = NIODeadline.now()
        let current = state.withLockedValue { issuers -> Bool in
            guard var issuer = issuers[name], issuer.url == url else { return false }
            issuer.inFlight = nil
            switch outcome {
            case .success:
                issuer.failures = 0
                issuer.lastError = nil
                issuer.nextDue = now + issuer.refresh
            case let .failure(error):
                issuer.failures += 1
                issuer.lastError = "\(error)"
                let backoff = TimeAmount.seconds(Int64(1) << Int64(min(issuer.failures - 1, 5)))
                issuer.nextDue = now + min(issuer.refresh, min(backoff, Self.maximumBackoff))
            }
            issuers[name] = issuer
            return true
        }
        guard current else { return }
        switch outcome {
        case let .success(parsed):
            metrics.recordJWKSRefresh(issuer: name, success: true)
            contexts.installFetchedKeys(FetchedKeys(keys: IssuerKeys(keys: parsed.keys), fingerprint: fingerprint), issuer: name)
                .whenSuccess {
                    self.state.withLockedValue { issuers in
                        if issuers[name]?.url == url { issuers[name]!.hasKeys = true }
                    }
                }
            var metadata: Logger.Metadata = ["issuer": "\(name)", "keys": "\(parsed.keys.count)"]
            if !parsed.skipped.isEmpty { metadata["skipped"] = "\(parsed.skipped.map(\.description).joined(separator: "; "))" }
            logger.info("JWKS fetched", metadata: metadata)
        case let .failure(error):
            metrics.recordJWKSRefresh(issuer: name, success: false)
            logger.warning("JWKS fetch failed; keeping the previous keys", metadata: [
                "issuer": "\(name)", "url": "\(url)", "error": "\(error)",
            ])
        }
    }

    private struct FetchError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
