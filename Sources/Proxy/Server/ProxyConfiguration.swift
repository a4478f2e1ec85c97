import Core
import NIOCore

/// Everything `tollgate-proxy run` was told, validated once at start-up. The process never starts
/// half-configured: a bad value is one clear line and a non-zero exit.
struct ProxyConfiguration: Sendable {
    struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        let host: String
        let port: Int
        var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    struct TLS: Sendable {
        let certificatePath: String
        let keyPath: String
        /// When set, clients must present a certificate this CA signed.
        let clientCAPath: String?
    }

    var upstream: Endpoint
    var listen = Endpoint(host: "0.0.0.0", port: 8080)
    var admin = Endpoint(host: "127.0.0.1", port: 9901)
    var policyDirectory = "./policies"
    var service: String?
    var tls: TLS?
    /// A PEM CA bundle trusted, besides the system's roots, for https JWKS URLs.
    var jwksCAFile: String?
    var threads = System.coreCount
    /// What carries client connections (issue 16): the sidecar's own epoll loops, or SwiftNIO.
    enum DataPath: String, Sendable {
        case loop, nio
    }
    var dataPath = DataPath.loop
    var maxHeaderBytes = 32_768
    var maxBodyBytes = 10_485_760
    var upstreamConnectTimeout: TimeAmount = .seconds(1)
    /// From sending the request head upstream to receiving the response head.
    var upstreamTimeout: TimeAmount = .seconds(30)
    /// A client that sends nothing for this long between requests (or mid-request) is closed.
    var idleTimeout: TimeAmount = .seconds(60)
    var trustedProxies = TrustedProxies.none
    /// Shared limits go here when set; otherwise every limit is in-process.
    var redis: RedisEndpoint?
    var redisTimeout: TimeAmount = .milliseconds(50)
    var store: String { redis == nil ? "in-process" : "redis" }
    var logFormat = AccessLog.Format.json
    var logLevel = "info"
    /// How often the policy directory is checked for changes.
    var policyPollInterval: TimeAmount = .seconds(1)
    /// How long SIGTERM waits for in-flight requests.
    var drainTimeout: TimeAmount = .seconds(10)

    /// `http://host:port` (a path is not allowed: the sidecar forwards paths as they came).
    static func parseUpstream(_ text: String) -> Endpoint? {
        guard text.hasPrefix("http://") else { return nil }
        var rest = Substring(text.dropFirst(7))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), let endpoint = parseEndpoint(String(rest), defaultPort: 80) else { return nil }
        return endpoint
    }

    /// `host:port`, `[v6]:port`, or `host` with `defaultPort`.
    static func parseEndpoint(_ text: String, defaultPort: Int? = nil) -> Endpoint? {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()) else { return nil }
                port = value
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let value = Int(host[host.index(after: colon)...]) else { return nil }
            port = value
            host = host[..<colon]
        }
        guard let port, (0...65535).contains(port), !host.isEmpty else { return nil }
        return Endpoint(host: String(host), port: port)
    }

    /// `250ms`, `30s`, `5m`, `1h`, the policy files' syntax.
    static func parseDuration(_ text: String) -> TimeAmount? {
        guard let duration = PolicyDuration.parse(text) else { return nil }
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
