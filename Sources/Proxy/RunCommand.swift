import ArgumentParser
import CLI
import Core
import NIOCore

/// `tollgate-proxy run`: the sidecar. Every option also reads `TOLLGATE_<OPTION>` from the
/// environment (`--max-body-bytes` ← `TOLLGATE_MAX_BODY_BYTES`); a flag on the command line wins.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the sidecar in front of an upstream on loopback.",
        discussion: "Every option also reads TOLLGATE_<OPTION> from the environment, e.g. TOLLGATE_UPSTREAM.")

    @Option(help: "The service to protect, http://host:port.") var upstream: String
    @Option(help: "Address to serve clients on.") var listen = "0.0.0.0:8080"
    @Option(help: "Address of the admin port (health, metrics, reload).") var admin = "127.0.0.1:9901"
    @Option(help: "Policy directory.") var policies = "./policies"
    @Option(help: "Share rate limits through Redis: redis://[[user]:password@]host:port[/db], user and password percent-encoded. Without it they are in-process.") var redis: String?
    @Option(help: "Longest wait for Redis; beyond it the limit's on_error decides.") var redisTimeout = "50ms"
    @Option(help: "Service name (labels; must agree with the policies' service when both are set).") var service: String?
    @Option(help: "PEM certificate chain: serve clients over TLS.") var tlsCert: String?
    @Option(help: "PEM private key for --tls-cert.") var tlsKey: String?
    @Option(help: "PEM CA bundle: require client certificates it signed.") var tlsClientCa: String?
    @Option(help: "PEM CA bundle trusted, besides the system's roots, when fetching https JWKS URLs.") var jwksCaFile: String?
    @Option(help: "Event loops (default: one per core).") var threads: Int?
    @Option(help: "What carries client connections: loop (the sidecar's own epoll loops) or nio (SwiftNIO). TLS listeners are always on nio.") var dataPath = "loop"
    @Option(help: "Largest request header block; larger gets 431.") var maxHeaderBytes = 32_768
    @Option(help: "Largest request body; larger gets 413.") var maxBodyBytes = 10_485_760
    @Option(help: "Time to connect to the upstream.") var upstreamConnectTimeout = "1s"
    @Option(help: "Time for the upstream to answer with a response head; beyond it, 504.") var upstreamTimeout = "30s"
    @Option(help: "Close a client that sends nothing for this long.") var idleTimeout = "60s"
    @Option(help: "Comma-separated CIDRs whose X-Forwarded-For is believed.") var trustedProxies = ""
    @Option(help: "Access log format: json or text.") var logFormat = "json"
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    static let environmentPrefix = "TOLLGATE_"

    func validatedConfiguration() throws(ValidationError) -> ProxyConfiguration {
        guard let upstreamEndpoint = ProxyConfiguration.parseUpstream(upstream) else {
            throw ValidationError("--upstream must be http://host:port, got \"\(upstream)\"")
        }
        var config = ProxyConfiguration(upstream: upstreamEndpoint)
        guard let listenEndpoint = ProxyConfiguration.parseEndpoint(listen) else {
            throw ValidationError("--listen must be host:port, got \"\(listen)\"")
        }
        guard let adminEndpoint = ProxyConfiguration.parseEndpoint(admin) else {
            throw ValidationError("--admin must be host:port, got \"\(admin)\"")
        }
        config.listen = listenEndpoint
        config.admin = adminEndpoint
        config.policyDirectory = policies
        config.service = service
        switch (tlsCert, tlsKey) {
        case (nil, nil):
            if tlsClientCa != nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        case let (cert?, key?):
            config.tls = .init(certificatePath: cert, keyPath: key, clientCAPath: tlsClientCa)
        default:
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        config.jwksCAFile = jwksCaFile
        if let threads {
            guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256") }
            config.threads = threads
        }
        guard let path = ProxyConfiguration.DataPath(rawValue: dataPath) else {
            throw ValidationError("--data-path must be loop or nio, got \"\(dataPath)\"")
        }
        config.dataPath = path
        guard maxHeaderBytes >= 1024 else { throw ValidationError("--max-header-bytes must be at least 1024") }
        guard maxBodyBytes >= 0 else { throw ValidationError("--max-body-bytes must not be negative") }
        config.maxHeaderBytes = maxHeaderBytes
        config.maxBodyBytes = maxBodyBytes
        for (name, text, path) in [
            ("--upstream-connect-timeout", upstreamConnectTimeout, \ProxyConfiguration.upstreamConnectTimeout),
            ("--upstream-timeout", upstreamTimeout, \.upstreamTimeout),
            ("--idle-timeout", idleTimeout, \.idleTimeout),
            ("--redis-timeout", redisTimeout, \.redisTimeout),
        ] as [(String, String, WritableKeyPath<ProxyConfiguration, TimeAmount>)] {
            guard let value = ProxyConfiguration.parseDuration(text), value > .zero else {
                throw ValidationError("\(name) must be a duration like 250ms, 30s or 5m, got \"\(text)\"")
            }
            config[keyPath: path] = value
        }
        if let redis {
            guard let endpoint = RedisEndpoint(url: redis) else {
                throw ValidationError(
                    "--redis must be redis://[[user]:password@]host[:port][/db] with the user and password percent-encoded (% as %25, : as %3A, @ as %40), got a value that is not")
            }
            config.redis = endpoint
        }
        switch TrustedProxies.parse(trustedProxies) {
        case let .success(proxies): config.trustedProxies = proxies
        case let .failure(error): throw ValidationError(error.description)
        }
        guard let format = AccessLog.Format(rawValue: logFormat) else {
            throw ValidationError("--log-format must be json or text, got \"\(logFormat)\"")
        }
        config.logFormat = format
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        config.logLevel = logLevel
        return config
    }

    func run() async throws {
        let configuration = try validatedConfiguration()
        let status = await ProxyProcess(configuration: configuration).run()
        throw ExitCode(status)
    }
}
