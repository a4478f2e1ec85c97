import ArgumentParser
import Foundation

/// Runs a command with Tollgate's exit-code contract, which scripts rely on:
/// 0 success (and `--help`), 1 the command ran and failed (e.g. an invalid policy set),
/// 2 usage error (unknown flag, missing or extra argument) — not ArgumentParser's default 64.
///
/// Async all the way down: `main.swift` awaits this, and an `AsyncParsableCommand` is awaited in
/// the main task, so no command bridges to async code with a semaphore.
public enum CommandLineMain {
    public static let usageError: Int32 = 2

    public static func run<Root: ParsableCommand>(_ root: Root.Type, arguments: [String]? = nil) async -> Never {
        var command: any ParsableCommand
        do {
            command = try root.parseAsRoot(arguments)
        } catch {
            exit(root, error: error, usage: true)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            Foundation.exit(0)
        } catch let exitCode as ExitCode {
            Foundation.exit(exitCode.rawValue)
        } catch {
            exit(root, error: error, usage: false)
        }
    }

    /// Help and version requests arrive as errors too; they print to stdout and exit 0.
    private static func exit<Root: ParsableCommand>(_ root: Root.Type, error: any Error, usage: Bool) -> Never {
        let code = root.exitCode(for: error)
        let message = root.fullMessage(for: error)
        if code == .success {
            print(message)
            Foundation.exit(0)
        }
        printError(message.isEmpty ? "\(error)" : message)
        Foundation.exit(usage || code == .validationFailure ? usageError : 1)
    }

    /// One line on standard error.
    public static func printError(_ message: String) {
        FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
    }
}
