import ArgumentParser
import CLI
import Core

/// `tollgate-proxy`: the sidecar. See docs and ../shared/spec/proxy.md for the contract.
struct TollgateProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-proxy",
        abstract: "Rate-limit and auth sidecar: routes, JWT, flags and token buckets in front of your service.",
        version: TollgateVersion.current,
        subcommands: [RunCommand.self, ValidateCommand.self, TestCommand.self, ExplainCommand.self, SchemaCommand.self, VersionCommand.self])
}

/// `tollgate-proxy validate [DIR]`: the check to run in CI before a policy change merges.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate a policy directory; print every error as FILE:LINE:COL: PATH: message.",
        discussion: "Exit status: 0 valid, 1 invalid, 2 usage error.")

    @Argument(help: "The policy directory.")
    var directory: String = "./policies"

    func run() throws {
        do {
            let snapshot = try PolicyLoader.load(directory: directory)
            print("\(directory): valid: \(snapshot.summary); hash \(snapshot.hash)")
        } catch {
            for diagnostic in error.diagnostics {
                CommandLineMain.printError(diagnostic.description)
            }
            let count = error.diagnostics.count
            CommandLineMain.printError("\(directory): invalid: \(count) error\(count == 1 ? "" : "s")")
            throw ExitCode(1)
        }
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("tollgate-proxy \(TollgateVersion.current)")
    }
}
