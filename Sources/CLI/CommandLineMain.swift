import ArgumentParser
import Foundation

/// Runs a command with Tollgate's exit-code contract, which scripts rely on:
/// 0 success (and `--help`), 1 the command ran and failed (e.g. an invalid policy set),
/// 2 usage error (unknown flag, missing or extra argument) — not ArgumentParser's default 64.
public enum CommandLineMain {
    public static let usageError: Int32 = 2

    public static func run<Root: ParsableCommand>(_ root: Root.Type, arguments: [String]? = nil) -> Never {
        var command: any ParsableCommand
        do {
            command = try root.parseAsRoot(arguments)
        } catch {
            let code = root.exitCode(for: error)
            let message = root.fullMessage(for: error)
            if code == .success {
                print(message)
                exit(0)
            }
            printError(message)
            exit(usageError)
        }
        do {
            try command.run()
            exit(0)
        } catch let exitCode as ExitCode {
            exit(exitCode.rawValue)
        } catch {
            let code = root.exitCode(for: error)
            let message = root.fullMessage(for: error)
            if code == .success {
                print(message)
                exit(0)
            }
            printError(message.isEmpty ? "\(error)" : message)
            exit(code == .validationFailure ? usageError : 1)
        }
    }

    /// One line on standard error.
    public static func printError(_ message: String) {
        FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
    }
}
