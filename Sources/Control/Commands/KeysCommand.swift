import ArgumentParser

/// `tollgate-control keys`: signing keys and data keys.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage token signing keys and the data keys that seal stored fields.",
        subcommands: [KeysRotateCommand.self, KeysRotateDataKeyCommand.self, KeysRewrapCommand.self])
}
