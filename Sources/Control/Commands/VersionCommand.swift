import ArgumentParser
import Core

/// `tollgate-control version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("tollgate-control \(TollgateVersion.current)")
    }
}
