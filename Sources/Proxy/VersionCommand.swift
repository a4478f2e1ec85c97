import ArgumentParser
import Core

/// `tollgate-proxy version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("tollgate-proxy \(TollgateVersion.current)")
    }
}
