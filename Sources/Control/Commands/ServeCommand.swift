import ArgumentParser
import Hummingbird

/// `tollgate-control serve`: the admin API and the OAuth2/OIDC provider, until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the admin API and the OAuth2/OIDC provider.")

    @Option(help: "Address to serve on.") var listen = "127.0.0.1:7000"
    @OptionGroup var storage: StorageOptions
    @OptionGroup var tokens: TokenOptions
    @Option(help: "Redis for rate-limit resets (redis://...).") var redis: String?
    @Option(help: "Directory of SOP templates.") var sops: String?
    @OptionGroup var logging: LogOptions

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be host:port, got \"\(listen)\"")
        }
        let host = String(listen[..<colon])
        let location = try storage.location()
        try await storage.withServices(tokens: tokens, logging: logging) { services in
            let app = ControlApp.application(services, host: host, port: port) { port in
                services.logger.info("tollgate-control serving", metadata: [
                    "address": "\(host):\(port)", "database": "\(location)", "issuer": "\(services.configuration.issuer)",
                ])
            }
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        }
    }
}
