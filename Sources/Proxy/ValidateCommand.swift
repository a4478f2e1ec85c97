import ArgumentParser
import CLI
import Core

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
