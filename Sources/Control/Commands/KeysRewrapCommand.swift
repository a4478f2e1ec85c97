import ArgumentParser
import Foundation

/// `tollgate-control keys rewrap`: every data key wrapped under a new master key.
struct KeysRewrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrap",
        abstract: "Re-wrap every data key under a new master key (created when the file is missing); then restart each replica with it.")

    @OptionGroup var storage: StorageOptions
    @Option(help: "The new master key file; created (mode 0600) when missing.") var newMasterKeyFile: String
    @OptionGroup var logging: LogOptions

    func validate() throws {
        let old = URL(fileURLWithPath: storage.masterKeyFile).standardizedFileURL.path
        if URL(fileURLWithPath: newMasterKeyFile).standardizedFileURL.path == old {
            throw ValidationError("--new-master-key-file must be another file than --master-key-file")
        }
        if !FileManager.default.fileExists(atPath: storage.masterKeyFile) {
            throw ValidationError("--master-key-file \(storage.masterKeyFile) does not exist: it must be the key the data is wrapped with now")
        }
    }

    func run() async throws {
        let (oldPath, newPath) = (storage.masterKeyFile, newMasterKeyFile)
        let result = try await storage.withDatabase(logging: logging) { database, logger in
            let oldKey = try MasterKey.load(path: oldPath, logger: logger)
            let created = !FileManager.default.fileExists(atPath: newPath)
            // Written and synced before anything is wrapped with it.
            let newKey = created ? MasterKey(bytes: try MasterKey.create(path: newPath)) : try MasterKey.load(path: newPath, logger: logger)
            return try await DataKeys.rewrap(database, from: oldKey, to: newKey) { executor, count in
                try await AuditStore.record(
                    actor: "cli", action: "master-key.rewrap", resource: "master-key", before: nil,
                    after: .object([("data_keys", .int(Int64(count)))]), requestID: "cli", on: executor)
            }
        }
        switch result {
        case let .rewrapped(count):
            print("\(count) data key\(count == 1 ? "" : "s") re-wrapped under \(newPath); restart every replica with --master-key-file \(newPath), then destroy the old key")
        case .alreadyDone:
            print("the data keys are already wrapped under \(newPath); nothing to do")
        }
    }
}
