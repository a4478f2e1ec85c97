import ArgumentParser

/// `tollgate-control keys rotate`: a new signing key; running servers pick it up.
struct KeysRotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate", abstract: "Make a new signing key active; the old one stays in JWKS until its tokens expire.")

    @OptionGroup var storage: StorageOptions
    @OptionGroup var tokens: TokenOptions
    @OptionGroup var logging: LogOptions

    func run() async throws {
        let kid = try await storage.withServices(tokens: tokens, logging: logging) { services in
            try await services.keyRing.rotate { executor, kid in
                try await AuditStore.record(
                    actor: "cli", action: "key.rotate", resource: "key:\(kid)", before: nil, after: .object([("kid", .string(kid))]),
                    requestID: "cli", on: executor)
            }
        }
        print("new signing key \(kid) is active; the previous key stays in JWKS until its tokens expire")
    }
}
