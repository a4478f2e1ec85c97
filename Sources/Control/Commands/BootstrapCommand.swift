import ArgumentParser
import Core

/// `tollgate-control bootstrap`: the first admin client, so there is someone to call the API.
struct BootstrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap", abstract: "Create (or re-key) a client holding the admin scope and print its secret once.")

    @OptionGroup var storage: StorageOptions
    @OptionGroup var tokens: TokenOptions
    @Option(help: "The admin client's id.") var clientId: String
    @Flag(help: "Print {\"client_id\": ..., \"client_secret\": ...} and nothing else on stdout.") var json = false
    @OptionGroup var logging: LogOptions

    func run() async throws {
        guard Identifier.isValid(clientId) else { throw ValidationError("--client-id is 1 to 64 of A-Z a-z 0-9 . _ -") }
        let clientID = clientId
        let (secret, issuer) = try await storage.withServices(tokens: tokens, logging: logging) { services in
            (try await Bootstrap.adminClient(clientID, services: services), services.configuration.issuer)
        }
        if json {
            print(JSONOutput.object([("client_id", .string(clientId)), ("client_secret", .string(secret))]).serialized())
        } else {
            print("client_id: \(clientId)\nclient_secret: \(secret)\n(shown once; get a token with: curl -u \(clientId):<secret> -d grant_type=client_credentials \(issuer)/oauth/token)")
        }
    }
}
