import ArgumentParser

/// `tollgate-control keys rotate-data-key`: a new data key, every sealed field re-sealed under it.
struct KeysRotateDataKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-data-key",
        abstract: "Make a new data key current and re-seal every stored field under it (running servers pick it up).")

    @OptionGroup var storage: StorageOptions
    @OptionGroup var logging: LogOptions

    func run() async throws {
        let masterKeyPath = storage.masterKeyFile
        let (keyID, resealed) = try await storage.withDatabase(logging: logging) { database, logger in
            let masterKey = try MasterKey.load(path: masterKeyPath, logger: logger)
            return try await DataKeys.rotate(database, masterKey: masterKey) { executor, keyID, resealed in
                try await AuditStore.record(
                    actor: "cli", action: "data-key.rotate", resource: "data-key:\(keyID)", before: nil,
                    after: .object([("id", .string(keyID)), ("resealed", .int(Int64(resealed)))]), requestID: "cli", on: executor)
            }
        }
        print("data key \(keyID) is current; \(resealed) stored fields re-sealed under it")
    }
}
